#!/usr/bin/python3
"""Peer for bench/eval: lm-evaluation-harness's method in plain Python PyTorch on a Strata
GPT checkpoint (nanoGPT layout, tied head, GELU, pre-LN, biases), with its SentencePiece
tokenizer (python3-sentencepiece).

What the harness does (lm_eval/models/huggingface.py, HFLM):
- loglikelihood and multiple choice: every (context, continuation) request is its own row,
  _encode_pair (trailing spaces of the context move to the continuation), the window
  (context + continuation)[-(max_length + 1):][:-1], rows sorted longest first and batched
  by `batch` with right padding, the full logits [B, T, V] through log_softmax, the
  continuation's log-probabilities summed; no prefix reuse, no shared contexts;
- generate_until: the context's last max_length - max_gen_toks tokens, greedy decoding
  with a KV cache (one document at a time here), stopped at `until`.
Prompts: doc_to_text + " " + target + "\n\n" per shot (the first K of the train split),
then the document's doc_to_text, as the task files bench/eval writes.

Usage: eval_py.py CKPT_DIR N_HEAD TASK_DIR mc|gen K BATCH THREADS [LIMIT]
Prints `result SECONDS REQUESTS ACC`: SECONDS of scoring only (tokenizing included, model
loading not), REQUESTS scored, ACC (acc for mc, exact_match for gen)."""
import json, math, struct, sys, time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

ckpt, n_head, task_dir, which = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
K, batch, threads = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
limit = int(sys.argv[8]) if len(sys.argv) > 8 else 0
torch.set_num_threads(threads)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "F32", name
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], np.float32)
                                     .reshape(info["shape"]).copy())
    return out


W = read_safetensors(f"{ckpt}/model.safetensors")
n_layer = 1 + max(int(k.split(".")[2]) for k in W if k.startswith("transformer.h."))
V, C = W["transformer.wte.weight"].shape
block = W["transformer.wpe.weight"].shape[0]
hs = C // n_head


def ln(x, name):
    return F.layer_norm(x, (C,), W[name + ".weight"], W.get(name + ".bias"), 1e-5)


def lin(x, name):
    return F.linear(x, W[name + ".weight"], W.get(name + ".bias"))


def forward(idx, cache=None):
    """Logits [B, T, V] of tokens [B, T] after the cache's contents (a list of (k, v) per
    layer, grown in place); no cache: positions from 0."""
    B, T = idx.shape
    start = 0 if cache is None or cache[0] is None else cache[0][0].size(2)
    x = W["transformer.wte.weight"][idx] + W["transformer.wpe.weight"][start:start + T]
    for l in range(n_layer):
        p = f"transformer.h.{l}"
        q, k, v = lin(ln(x, p + ".ln_1"), p + ".attn.c_attn").split(C, dim=2)
        q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if cache[l] is not None:
                k = torch.cat([cache[l][0], k], 2)
                v = torch.cat([cache[l][1], v], 2)
            cache[l] = (k, v)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        S = k.size(2)
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, p + ".attn.c_proj")
        x = x + lin(F.gelu(lin(ln(x, p + ".ln_2"), p + ".mlp.c_fc")), p + ".mlp.c_proj")
    return ln(x, "transformer.ln_f") @ W["transformer.wte.weight"].t()


sp = spm.SentencePieceProcessor(model_file=f"{ckpt}/tokenizer.model")


def encode(s):
    return sp.encode(s)


def encode_pair(context, continuation):
    n = len(context) - len(context.rstrip())
    if n:
        continuation, context = context[-n:] + continuation, context[:-n]
    whole, ctx = encode(context + continuation), encode(context)
    return ctx, whole[len(ctx):]


def docs(split):
    with open(f"{task_dir}/{which}_{split}.jsonl") as f:
        return [json.loads(line) for line in f]


train, test = docs("train"), docs("test")
if limit:
    test = test[:limit]
target = (lambda d: d["choices"][d["label"]]) if which == "mc" else (lambda d: d["answer"])
prefix = "".join(d["text"] + " " + target(d) + "\n\n" for d in train[:K])

t0 = time.perf_counter()
with torch.no_grad():
    if which == "mc":
        rows = []  # (window, n_cont, doc, choice)
        for i, d in enumerate(test):
            for c, choice in enumerate(d["choices"]):
                ctx, cont = encode_pair(prefix + d["text"], " " + choice)
                window = (ctx + cont)[-(block + 1):]
                rows.append((window, len(cont), i, c))
        rows.sort(key=lambda r: -len(r[0]))
        ll = {}
        for b in range(0, len(rows), batch):
            chunk = rows[b:b + batch]
            T = max(len(r[0]) - 1 for r in chunk)
            inp = torch.zeros(len(chunk), T, dtype=torch.long)
            for j, r in enumerate(chunk):
                inp[j, :len(r[0]) - 1] = torch.tensor(r[0][:-1])
            logp = F.log_softmax(forward(inp), dim=-1)
            for j, (window, n, i, c) in enumerate(chunk):
                L = len(window) - 1
                tgt = torch.tensor(window[-n:])
                ll[(i, c)] = logp[j, L - n:L].gather(1, tgt.unsqueeze(1)).sum().item()
        correct = [max(range(len(d["choices"])), key=lambda c: (ll[(i, c)], -c)) == d["label"]
                   for i, d in enumerate(test)]
        requests = len(rows)
    else:
        max_gen = 8
        correct = []
        for d in test:
            ctx = encode(prefix + d["text"])[-(block - max_gen):]
            cache = [None] * n_layer
            logits = forward(torch.tensor([ctx]), cache)[0, -1]
            produced, text = [], ""
            for _ in range(max_gen):
                nxt = int(logits.argmax())
                if nxt == sp.eos_id():
                    break
                produced.append(nxt)
                full = sp.decode(ctx + produced)
                head = sp.decode(ctx)
                text = full[len(head):] if full.startswith(head) else sp.decode(produced)
                if "\n" in text:
                    break
                logits = forward(torch.tensor([[nxt]]), cache)[0, -1]
            text = text.split("\n")[0]
            correct.append(text.lstrip() == d["answer"])  # remove_whitespace: lstrip
        requests = len(test)
seconds = time.perf_counter() - t0
print(f"result {seconds:.6f} {requests} {sum(correct) / len(correct):.6f}")
