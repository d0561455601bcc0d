"""An independent Python PyTorch GPT-2 and BERT that read and write Hugging Face's checkpoint
layout, for tests/finetune/test_hf.cpp. Written from Hugging Face's published parameter
names and math (modeling_gpt2.py, modeling_bert.py), not from Strata's C++ and without the
transformers package (not installed here):
  GPT-2: pre-LayerNorm blocks; Conv1D layers computing x @ W + b with W stored [in, out];
         activation_function gelu_new (the tanh form) or gelu; lm_head tied to wte.
  BERT:  post-LayerNorm; word + position + token_type embeddings; erf GELU (hidden_act);
         the MLM head's decoder tied to the word embeddings, with cls.predictions.bias.
Computed in float64 from the files' float32 weights.

Usage:
  hf_fixture.py logits DIR...  each DIR holds config.json, model.safetensors (HF names) and
                               inputs.safetensors (ids [B, T], bert: token_type_ids);
                               writes DIR/python.safetensors {"logits": [B, T, V]}
  hf_fixture.py make DIR       writes three HF checkpoints made from seeded random weights,
                               each with DIR/<name>-expected.safetensors {ids,
                               [token_type_ids], logits}:
                                 DIR/gpt2       GPT2LMHeadModel: transformer.*, lm_head.weight
                                                present, the attn.bias / attn.masked_bias
                                                buffers of older files, gelu_new
                                 DIR/gpt2-bare  GPT2Model: no transformer. prefix, no
                                                lm_head, activation gelu, epsilon 1e-6
                                 DIR/bert       BertForPreTraining: LayerNorm gamma/beta (older
                                                files), cls.predictions.decoder.{weight,bias},
                                                position_ids, cls.seq_relationship.*
The safetensors format is read and written by hand (tests/models/gpt_parity.py's reader;
a writer here that adds Hugging Face's {"format": "pt"} metadata).
Runs under /usr/bin/python3 (Debian's python3-torch).
"""
import json, math, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from gpt_parity import NAMES, read_safetensors  # noqa: E402


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().numpy())
        raw = arr.tobytes()
        header[name] = {"dtype": NAMES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def activation(name):
    if name == "gelu":  # exact: x Phi(x)
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_new":  # GPT-2's tanh approximation
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    raise ValueError(name)


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def attention(q, k, v, n_head, mask):
    """q, k, v [B, T, C] -> [B, T, C]; mask [T, T] of booleans (True = may attend) or None."""
    B, T, C = q.shape
    hs = C // n_head
    split = lambda t: t.view(B, T, n_head, hs).transpose(1, 2)  # [B, H, T, hs]
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(hs)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(B, T, C)


# ---------------------------------------------------------------------------------------
# GPT-2


def gpt2_logits(cfg, sd, ids):
    p = "transformer." if "transformer.wte.weight" in sd else ""
    w = lambda name: sd[p + name].double()
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = activation(cfg.get("activation_function", "gelu_new"))
    conv1d = lambda x, name: x @ w(name + ".weight") + w(name + ".bias")  # W [in, out]
    T = ids.shape[1]
    x = w("wte.weight")[ids] + w("wpe.weight")[:T]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        a = layer_norm(x, w(h + "ln_1.weight"), w(h + "ln_1.bias"), eps)
        q, k, v = conv1d(a, h + "attn.c_attn").split(cfg["n_embd"], dim=-1)
        x = x + conv1d(attention(q, k, v, cfg["n_head"], causal), h + "attn.c_proj")
        m = layer_norm(x, w(h + "ln_2.weight"), w(h + "ln_2.bias"), eps)
        x = x + conv1d(act(conv1d(m, h + "mlp.c_fc")), h + "mlp.c_proj")
    x = layer_norm(x, w("ln_f.weight"), w("ln_f.bias"), eps)
    head = sd["lm_head.weight"].double() if "lm_head.weight" in sd else w("wte.weight")
    return x @ head.t()


def gpt2_random(cfg, prefix, with_lm_head, with_buffers, gen):
    C, V, T = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    r = lambda *shape, std=0.1: torch.randn(*shape, generator=gen) * std
    sd = {"wte.weight": r(V, C), "wpe.weight": r(T, C), "ln_f.weight": 1 + r(C), "ln_f.bias": r(C)}
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            sd[h + ln + ".weight"], sd[h + ln + ".bias"] = 1 + r(C), r(C)
        for name, n_in, n_out in (("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C),
                                  ("mlp.c_fc", C, 4 * C), ("mlp.c_proj", 4 * C, C)):
            sd[h + name + ".weight"] = r(n_in, n_out)  # Conv1D: [in, out]
            sd[h + name + ".bias"] = r(n_out)
        if with_buffers:
            sd[h + "attn.bias"] = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
            sd[h + "attn.masked_bias"] = torch.tensor(-1e4)
    sd = {prefix + k: v for k, v in sd.items()}
    if with_lm_head:
        sd["lm_head.weight"] = sd[prefix + "wte.weight"].clone()
    return sd


# ---------------------------------------------------------------------------------------
# BERT


def bert_logits(cfg, sd, ids, token_type_ids):
    def w(name):
        if name not in sd and name.endswith("LayerNorm.weight"):
            name = name[:-len("weight")] + "gamma"
        if name not in sd and name.endswith("LayerNorm.bias"):
            name = name[:-len("bias")] + "beta"
        return sd[name].double()

    eps = cfg.get("layer_norm_eps", 1e-12)
    act = activation(cfg.get("hidden_act", "gelu"))
    linear = lambda x, name: x @ w(name + ".weight").t() + w(name + ".bias")  # nn.Linear [out, in]
    norm = lambda x, name: layer_norm(x, w(name + ".weight"), w(name + ".bias"), eps)
    e = "bert.embeddings."
    T = ids.shape[1]
    x = w(e + "word_embeddings.weight")[ids] + w(e + "position_embeddings.weight")[:T] + \
        w(e + "token_type_embeddings.weight")[token_type_ids]
    x = norm(x, e + "LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        l = f"bert.encoder.layer.{i}."
        s = l + "attention.self."
        ctx = attention(linear(x, s + "query"), linear(x, s + "key"), linear(x, s + "value"),
                        cfg["num_attention_heads"], None)
        a = norm(linear(ctx, l + "attention.output.dense") + x, l + "attention.output.LayerNorm")
        f = linear(act(linear(a, l + "intermediate.dense")), l + "output.dense")
        x = norm(f + a, l + "output.LayerNorm")
    t = "cls.predictions.transform."
    h = norm(act(linear(x, t + "dense")), t + "LayerNorm")
    decoder = sd.get("cls.predictions.decoder.weight", sd[e + "word_embeddings.weight"]).double()
    bias = sd.get("cls.predictions.bias", sd.get("cls.predictions.decoder.bias")).double()
    return h @ decoder.t() + bias


def bert_random(cfg, gen):
    C, V = cfg["hidden_size"], cfg["vocab_size"]
    r = lambda *shape, std=0.1: torch.randn(*shape, generator=gen) * std
    sd = {}

    def norm(name):  # the older files' names
        sd[name + ".gamma"], sd[name + ".beta"] = 1 + r(C), r(C)

    def linear(name, n_in, n_out):
        sd[name + ".weight"], sd[name + ".bias"] = r(n_out, n_in), r(n_out)

    e = "bert.embeddings."
    sd[e + "word_embeddings.weight"] = r(V, C)
    sd[e + "position_embeddings.weight"] = r(cfg["max_position_embeddings"], C)
    sd[e + "token_type_embeddings.weight"] = r(cfg["type_vocab_size"], C)
    sd[e + "position_ids"] = torch.arange(cfg["max_position_embeddings"]).unsqueeze(0)
    norm(e + "LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        l = f"bert.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            linear(l + "attention.self." + name, C, C)
        linear(l + "attention.output.dense", C, C)
        norm(l + "attention.output.LayerNorm")
        linear(l + "intermediate.dense", C, cfg["intermediate_size"])
        linear(l + "output.dense", cfg["intermediate_size"], C)
        norm(l + "output.LayerNorm")
    linear("bert.pooler.dense", C, C)
    linear("cls.predictions.transform.dense", C, C)
    norm("cls.predictions.transform.LayerNorm")
    sd["cls.predictions.bias"] = r(V)
    sd["cls.predictions.decoder.weight"] = sd[e + "word_embeddings.weight"].clone()
    sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"].clone()
    linear("cls.seq_relationship", C, 2)
    return sd

# ---------------------------------------------------------------------------------------


def logits_of(cfg, sd, inputs):
    if cfg["model_type"] == "gpt2":
        return gpt2_logits(cfg, sd, inputs["ids"])
    return bert_logits(cfg, sd, inputs["ids"], inputs["token_type_ids"])


def logits(dirs):
    for d in dirs:
        cfg = json.load(open(f"{d}/config.json"))
        out = logits_of(cfg, read_safetensors(f"{d}/model.safetensors"),
                        read_safetensors(f"{d}/inputs.safetensors"))
        write_safetensors(f"{d}/python.safetensors", {"logits": out})


def make(root):
    gen = torch.Generator().manual_seed(1234)
    gpt2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 101,
            "n_positions": 24, "n_ctx": 24, "n_embd": 32, "n_layer": 2, "n_head": 4,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}
    bare = dict(gpt2, architectures=["GPT2Model"], activation_function="gelu",
                layer_norm_epsilon=1e-6)
    bert = {"architectures": ["BertForPreTraining"], "model_type": "bert", "vocab_size": 99,
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "hidden_act": "gelu", "max_position_embeddings": 20,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12}
    checkpoints = {
        "gpt2": (gpt2, gpt2_random(gpt2, "transformer.", True, True, gen)),
        "gpt2-bare": (bare, gpt2_random(bare, "", False, False, gen)),
        "bert": (bert, bert_random(bert, gen)),
    }
    for name, (cfg, sd) in checkpoints.items():
        d = f"{root}/{name}"
        os.makedirs(d, exist_ok=True)
        json.dump(cfg, open(f"{d}/config.json", "w"), indent=2)
        write_safetensors(f"{d}/model.safetensors", sd, {"format": "pt"})
        T = 12
        inputs = {"ids": torch.randint(cfg["vocab_size"], (2, T), generator=gen)}
        if cfg["model_type"] == "bert":
            inputs["token_type_ids"] = torch.cat([torch.zeros(2, T // 2), torch.ones(2, T // 2)], 1).long()
        expected = dict(inputs, logits=logits_of(cfg, sd, inputs))
        write_safetensors(f"{root}/{name}-expected.safetensors", expected)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "logits":
        logits(sys.argv[2:])
    elif sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
