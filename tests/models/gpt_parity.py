"""Independent Python PyTorch implementations of Strata's GPT and BERT, for the parity tests
in tests/models/test_gpt.cpp and test_bert.cpp. Written from the papers / nanoGPT /
Hugging Face's BERT, not from Strata's C++.

Usage: gpt_parity.py DIR
  reads  DIR/config.json         {"family": "gpt"|"bert", model options..., "steps", "lr",
                                  "betas", "weight_decay", "threads"}
         DIR/model.safetensors   the initial weights, named as Strata names them
         DIR/batch.safetensors   gpt: idx, targets [B, T]; bert: ids, segment,
                                 attention_mask, targets [B, T] (-100 = not a masked token)
  writes DIR/python.safetensors  logits [B, T, V] of the initial model, losses [steps + 1]
                                 (loss before each AdamW step, then after the last), and
                                 every parameter after the steps, under its own name.

The safetensors format is read and written by hand (json + struct + numpy): the
safetensors package is not installed here.
Runs under /usr/bin/python3 (Debian's python3-torch).
"""
import json, math, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------
# safetensors by hand

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BOOL": np.bool_, "F16": np.float16, "I16": np.int16, "I8": np.int8}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=DTYPES[info["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
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

# ---------------------------------------------------------------------------------------
# GPT, nanoGPT style


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT)."""
    def __init__(self, ndim, bias, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        self.c_attn = nn.Linear(C, 3 * C, bias=cfg["bias"])
        self.c_proj = nn.Linear(C, C, bias=cfg["bias"])
        T = cfg["block_size"]
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T), persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["n_embd"]
        self.c_fc = nn.Linear(C, 4 * C, bias=cfg["bias"])
        self.c_proj = nn.Linear(4 * C, C, bias=cfg["bias"])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg["n_embd"], cfg["bias"], 1e-5)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg["n_embd"], cfg["bias"], 1e-5)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg["vocab_size"], cfg["n_embd"]),
            wpe=nn.Embedding(cfg["block_size"], cfg["n_embd"]),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])]),
            ln_f=LayerNorm(cfg["n_embd"], cfg["bias"], 1e-5)))

    def forward(self, idx):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return x @ self.transformer.wte.weight.t()  # tied lm_head

# ---------------------------------------------------------------------------------------
# BERT, Hugging Face style (post-LN)


class Dense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class DenseNorm(nn.Module):
    def __init__(self, i, o, eps):
        super().__init__()
        self.dense = nn.Linear(i, o)
        self.LayerNorm = nn.LayerNorm(o, eps=eps)


class SelfAttention(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)


class Attention(nn.Module):
    def __init__(self, C, eps):
        super().__init__()
        self.self = SelfAttention(C)
        self.output = DenseNorm(C, C, eps)


class BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, eps = cfg["n_embd"], cfg["layer_norm_eps"]
        self.n_head = cfg["n_head"]
        self.attention = Attention(C, eps)
        self.intermediate = Dense(C, 4 * C)
        self.output = DenseNorm(4 * C, C, eps)

    def forward(self, x, ext_mask):
        B, T, C = x.shape
        H = self.n_head
        s = self.attention.self

        def split(t):
            return t.view(B, T, H, C // H).permute(0, 2, 1, 3)

        q, k, v = split(s.query(x)), split(s.key(x)), split(s.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(C // H) + ext_mask
        ctx = torch.matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).reshape(B, T, C)
        o = self.attention.output
        a = o.LayerNorm(o.dense(ctx) + x)
        f = self.output.dense(F.gelu(self.intermediate.dense(a)))
        return self.output.LayerNorm(f + a)


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["n_embd"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], C)
        self.position_embeddings = nn.Embedding(cfg["block_size"], C)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], C)
        self.LayerNorm = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg["n_layer"])])


class BertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        self.pooler = Dense(cfg["n_embd"], cfg["n_embd"])


class Predictions(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transform = DenseNorm(cfg["n_embd"], cfg["n_embd"], cfg["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))


class Heads(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.predictions = Predictions(cfg)


class BertForMaskedLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.bert = BertModel(cfg)
        self.cls = Heads(cfg)

    def forward(self, ids, segment, attention_mask):
        e = self.bert.embeddings
        T = ids.shape[1]
        pos = torch.arange(T).unsqueeze(0)
        x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings(segment))
        ext = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.bert.encoder.layer:
            x = layer(x, ext)
        p = self.cls.predictions
        h = p.transform.LayerNorm(F.gelu(p.transform.dense(x)))
        return h @ e.word_embeddings.weight.t() + p.bias

# ---------------------------------------------------------------------------------------


def main(d):
    cfg = json.load(open(f"{d}/config.json"))
    torch.set_num_threads(cfg.get("threads", 1))
    weights = read_safetensors(f"{d}/model.safetensors")
    batch = read_safetensors(f"{d}/batch.safetensors")
    if cfg["family"] == "gpt":
        model = GPT(cfg)
        run = lambda: model(batch["idx"])
    else:
        model = BertForMaskedLM(cfg)
        run = lambda: model(batch["ids"], batch["segment"], batch["attention_mask"])
    model.load_state_dict(weights, strict=True)
    targets = batch["targets"]

    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=1e-8)
    losses, first_logits = [], None
    for step in range(cfg["steps"] + 1):
        logits = run()
        if first_logits is None:
            first_logits = logits.detach().clone()
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)
        losses.append(loss.item())
        if step == cfg["steps"]:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    out = {name: p.detach() for name, p in model.named_parameters()}
    out["logits"] = first_logits
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    write_safetensors(f"{d}/python.safetensors", out)
    print("python losses", " ".join(f"{l:.6f}" for l in losses))


if __name__ == "__main__":
    main(sys.argv[1])
