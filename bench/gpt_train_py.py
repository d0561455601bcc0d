"""Peer: the same GPT (pre-LN, GELU MLP, tied embeddings) trained with PyTorch eager from Python.
Prints tokens/s of the best step after warm-up. Usage: gpt_train_py.py V T L H D B threads steps

bench/gpt_train runs this as its peer: the plain program a researcher would write, doing the
same work as Strata's side (bench/README.md, "The peers"): same model, shapes, batch, AdamW
(lr 3e-4, default betas and weight decay 0.01 on every parameter) and thread count."""
import math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

V, T, L, H, D, B, threads, steps = (int(a) for a in (sys.argv[1:9] if len(sys.argv) > 8 else [4096, 128, 4, 4, 256, 16, 2, 15]))
torch.set_num_threads(threads)

class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1, s.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        s.qkv, s.proj, s.fc, s.fc2 = nn.Linear(D, 3 * D), nn.Linear(D, D), nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
    def forward(s, x):
        b, t, c = x.shape
        q, k, v = s.qkv(s.ln1(x)).view(b, t, 3, H, c // H).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float('-inf')).softmax(-1)
        x = x + s.proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + s.fc2(F.gelu(s.fc(s.ln2(x))))

class GPT(nn.Module):
    def __init__(s):
        super().__init__(); s.wte, s.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        s.blocks = nn.ModuleList(Block() for _ in range(L)); s.lnf = nn.LayerNorm(D)
    def forward(s, idx):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1]))
        for b in s.blocks: x = b(x)
        return s.lnf(x) @ s.wte.weight.t()

torch.manual_seed(0)
m = GPT(); opt = torch.optim.AdamW(m.parameters(), lr=3e-4)
x, y = torch.randint(V, (B, T)), torch.randint(V, (B, T))
best = 1e9
for it in range(steps):
    t0 = time.perf_counter()
    loss = F.cross_entropy(m(x).view(-1, V), y.view(-1))
    opt.zero_grad(); loss.backward(); opt.step()
    if it >= 3: best = min(best, time.perf_counter() - t0)
print(f"py tokens/s {B * T / best:.0f}")
