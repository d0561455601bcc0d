"""Peer: the same GPT (pre-LN, GELU MLP, tied embeddings) trained with PyTorch from Python,
eager or under torch.compile. Prints the torch version, then tokens/s of the best step after
warm-up.

Usage: gpt_train_py.py V T L H D B threads steps [--compile] [--device cpu|cuda]
                       [--dtype float32|bfloat16]

bench/gpt_train runs this as its peer: the program a researcher would write today (nanoGPT's
model: scaled_dot_product_attention with is_causal, fused AdamW where asked), doing the same
work as Strata's side (bench/README.md, "The peers"): same model, shapes, batch, AdamW
(lr 3e-4, default betas and weight decay 0.01 on every parameter), thread count, device and
precision (bf16 autocast of the forward pass and loss, TF32 and the fused AdamW kernel on
CUDA, as Strata's side sets them)."""
import argparse, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
for name in "V T L H D B threads steps".split():
    p.add_argument(name, type=int)
p.add_argument("--compile", action="store_true")
p.add_argument("--device", default="cpu")
p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
a = p.parse_args()
V, T, L, H, D, B = a.V, a.T, a.L, a.H, a.D, a.B
torch.set_num_threads(a.threads)
dev = torch.device(a.device)
cuda = dev.type == "cuda"
if cuda:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) on {dev}, {a.dtype}, "
      f"{'torch.compile' if a.compile else 'eager'}", flush=True)


class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1, s.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        s.qkv, s.proj, s.fc, s.fc2 = nn.Linear(D, 3 * D), nn.Linear(D, D), nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(s, x):
        b, t, c = x.shape
        q, k, v = s.qkv(s.ln1(x)).view(b, t, 3, H, c // H).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + s.fc2(F.gelu(s.fc(s.ln2(x))))


class GPT(nn.Module):
    def __init__(s):
        super().__init__(); s.wte, s.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        s.blocks = nn.ModuleList(Block() for _ in range(L)); s.lnf = nn.LayerNorm(D)

    def forward(s, idx):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in s.blocks: x = b(x)
        return s.lnf(x) @ s.wte.weight.t()


torch.manual_seed(0)
m = GPT().to(dev)
opt = torch.optim.AdamW(m.parameters(), lr=3e-4, fused=cuda)
model = torch.compile(m) if a.compile else m
x, y = torch.randint(V, (B, T), device=dev), torch.randint(V, (B, T), device=dev)
autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bfloat16")


def sync():
    if cuda: torch.cuda.synchronize()


best = 1e9
for it in range(a.steps):
    t0 = time.perf_counter()
    with autocast:
        loss = F.cross_entropy(model(x).view(-1, V).float(), y.view(-1))
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    loss.item(); sync()
    if it >= 3: best = min(best, time.perf_counter() - t0)
    if a.compile and it == 0: print(f"first step (compilation) {time.perf_counter() - t0:.1f} s", flush=True)
print(f"py tokens/s {B * T / best:.0f}")
