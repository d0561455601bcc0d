"""The real tools as judges of Strata's Hugging Face files (tests/finetune/test_hf.cpp):
transformers, from the project's .venv, loads what Strata exports, and makes and saves
checkpoints that Strata reads. Offline: HF_HUB_OFFLINE=1 is set here.

Usage:
  hf_transformers.py logits DIR...
      Each DIR holds a Strata export (config.json, model.safetensors) and inputs.safetensors
      {ids [B, T], for BERT also token_type_ids [B, T]}. Loads it with AutoModelForCausalLM
      (model_type gpt2) or AutoModelForMaskedLM (bert), fp32, eval mode, and writes
      DIR/transformers.safetensors {logits [B, T, V], for BERT also hidden [B, T, C], the
      last encoder layer's output}.
  hf_transformers.py make DIR
      transformers makes seeded random models and saves them with save_pretrained:
        DIR/gpt2          GPT2LMHeadModel, fp32 (lm_head tied, so not in the file)
        DIR/bert          BertForMaskedLM, fp32 (no pooler)
        DIR/gpt2-sharded  GPT2LMHeadModel in several shards (model.safetensors.index.json)
        DIR/gpt2-bf16     GPT2LMHeadModel saved in bfloat16
        DIR/bert-f16      BertForMaskedLM saved in float16
      and beside each, DIR/<name>-expected.safetensors {ids, [token_type_ids], logits}: the
      logits of the saved files read back by from_pretrained in fp32.
  hf_transformers.py hidden MODEL_DIR INPUTS OUT
      AutoModel.from_pretrained(MODEL_DIR) (e.g. a BertModel such as all-MiniLM-L6-v2) on
      INPUTS {ids, token_type_ids}; writes OUT {hidden: last_hidden_state [B, T, C]}.
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (AutoModelForCausalLM, AutoModelForMaskedLM, BertConfig,  # noqa: E402
                          BertForMaskedLM, GPT2Config, GPT2LMHeadModel)


def load(path, kind):
    auto = AutoModelForCausalLM if kind == "gpt2" else AutoModelForMaskedLM
    return auto.from_pretrained(path, dtype=torch.float32).eval()


def model_type(path):
    import json
    with open(os.path.join(path, "config.json")) as f:
        return json.load(f)["model_type"]


def logits(dirs):
    for d in dirs:
        kind = model_type(d)
        model = load(d, kind)
        inputs = load_file(os.path.join(d, "inputs.safetensors"))
        out = {}
        with torch.no_grad():
            if kind == "gpt2":
                out["logits"] = model(input_ids=inputs["ids"]).logits
            else:
                r = model(input_ids=inputs["ids"], token_type_ids=inputs["token_type_ids"],
                          output_hidden_states=True)
                out["logits"], out["hidden"] = r.logits, r.hidden_states[-1]
        save_file({k: v.contiguous() for k, v in out.items()},
                  os.path.join(d, "transformers.safetensors"))
        print(f"{d}: {type(model).__name__} {tuple(out['logits'].shape)}")


def perturb(model):
    """Weights where no LayerNorm is the identity and no bias is zero, so that a tensor read
    into the wrong place, or left untransposed, shows in the logits."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm_weight = p.dim() == 1 and name.endswith("weight")
            p.normal_(1.0 if is_norm_weight else 0.0, 0.1)


def make(root):
    torch.manual_seed(7)
    gpt_config = GPT2Config(vocab_size=101, n_positions=32, n_embd=64, n_layer=2, n_head=4,
                            activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                            attn_pdrop=0.0)
    bert_config = BertConfig(vocab_size=101, hidden_size=64, num_hidden_layers=2,
                             num_attention_heads=4, intermediate_size=256,
                             max_position_embeddings=32, hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0)
    ids = torch.randint(101, (2, 12))
    segment = torch.cat([torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.long)], 1)
    models = {"gpt2": GPT2LMHeadModel(gpt_config), "bert": BertForMaskedLM(bert_config)}
    for m in models.values():
        perturb(m)
    saves = [("gpt2", "gpt2", {}), ("bert", "bert", {}),
             ("gpt2-sharded", "gpt2", {"max_shard_size": "40KB"}),
             ("gpt2-bf16", "gpt2", {"dtype": torch.bfloat16}),
             ("bert-f16", "bert", {"dtype": torch.float16})]
    for name, kind, how in saves:
        path = os.path.join(root, name)
        model = models[kind]
        if "dtype" in how:
            model = type(model)(model.config)
            model.load_state_dict(models[kind].state_dict())
            model = model.to(how["dtype"])
            model.save_pretrained(path)
        else:
            model.save_pretrained(path, **({"max_shard_size": how["max_shard_size"]} if how else {}))
        back = load(path, kind)  # what the files hold, in fp32
        expected = {"ids": ids}
        with torch.no_grad():
            if kind == "gpt2":
                expected["logits"] = back(input_ids=ids).logits
            else:
                expected["token_type_ids"] = segment
                expected["logits"] = back(input_ids=ids, token_type_ids=segment).logits
        save_file({k: v.contiguous() for k, v in expected.items()},
                  os.path.join(root, name + "-expected.safetensors"))
        print(f"{path}: {sorted(os.listdir(path))}")


def hidden(model_dir, inputs_path, out_path):
    from transformers import AutoModel
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    inputs = load_file(inputs_path)
    with torch.no_grad():
        h = model(input_ids=inputs["ids"], token_type_ids=inputs["token_type_ids"]).last_hidden_state
    save_file({"hidden": h.contiguous()}, out_path)
    print(f"{model_dir}: {type(model).__name__} {tuple(h.shape)}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "hidden":
        hidden(*sys.argv[2:5])
    elif len(sys.argv) >= 3 and sys.argv[1] == "logits":
        logits(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(__doc__)
