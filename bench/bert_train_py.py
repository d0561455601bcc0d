"""Peer for bench/bert_train: a BERT masked-LM training step in plain Python PyTorch eager.

The model is BERT as Devlin et al. and Hugging Face's BertForPreTraining define it, without
the next-sentence head: token, position and segment embeddings with LayerNorm (eps 1e-12);
post-LN encoder layers (separate query/key/value projections, attention through
scaled_dot_product_attention as transformers' BertSdpaSelfAttention does, GELU feed-forward of 4D);
the MLM head (dense, GELU, LayerNorm, a decoder tied to the word embeddings, plus a bias)
run on the masked positions only. Dropout 0. Each step masks a fresh batch as BERT does
(15% of the positions after the first, which holds [CLS]; of those 80% [MASK], 10% a random
token, 10% kept), then cross-entropy, backward and AdamW (lr 3e-4, default betas, weight
decay 0.01 on every parameter). Prints tokens/s (B*T over the step time) of the best step
after 3 warm-up steps.
Usage: bert_train_py.py V T L H D B threads steps"""
import sys, time
import torch, torch.nn as nn, torch.nn.functional as F

V, T, L, H, D, B, threads, steps = (int(a) for a in (sys.argv[1:9] if len(sys.argv) > 8 else [4096, 128, 4, 4, 256, 16, 2, 15]))
torch.set_num_threads(threads)
print(f"torch {torch.__version__} (CUDA {torch.version.cuda})", flush=True)
MASK, CLS = 4, 5  # any two ids; special ids only change which tokens get chosen

class Layer(nn.Module):
    def __init__(s):
        super().__init__()
        s.query, s.key, s.value, s.attn_out = (nn.Linear(D, D) for _ in range(4))
        s.ln1, s.ln2 = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        s.inter, s.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
    def forward(s, x):
        b, t, c = x.shape
        heads = lambda p: p(x).view(b, t, H, c // H).transpose(1, 2)
        q, k, v = heads(s.query), heads(s.key), heads(s.value)
        y = F.scaled_dot_product_attention(q, k, v)  # transformers' default BERT attention (sdpa)
        a = s.ln1(x + s.attn_out(y.transpose(1, 2).reshape(b, t, c)))
        return s.ln2(a + s.out(F.gelu(s.inter(a))))

class Bert(nn.Module):
    def __init__(s):
        super().__init__()
        s.word, s.pos, s.seg = nn.Embedding(V, D), nn.Embedding(T, D), nn.Embedding(2, D)
        s.ln = nn.LayerNorm(D, eps=1e-12)
        s.layers = nn.ModuleList(Layer() for _ in range(L))
        s.transform, s.head_ln = nn.Linear(D, D), nn.LayerNorm(D, eps=1e-12)
        s.bias = nn.Parameter(torch.zeros(V))
    def loss(s, idx, target):
        x = s.ln(s.word(idx) + s.pos.weight[:idx.shape[1]] + s.seg.weight[0])
        for layer in s.layers: x = layer(x)
        rows = (target.view(-1) != -100).nonzero().squeeze(1)
        h = s.head_ln(F.gelu(s.transform(x.reshape(-1, D).index_select(0, rows))))
        return F.cross_entropy(F.linear(h, s.word.weight, s.bias), target.view(-1).index_select(0, rows))

def mask(tokens):
    tokens = tokens.clone(); tokens[:, 0] = CLS
    chosen = torch.rand(tokens.shape) < 0.15; chosen[:, 0] = False
    target = torch.where(chosen, tokens, torch.full_like(tokens, -100))
    action = torch.rand(tokens.shape)
    tokens = torch.where(chosen & (action < 0.8), torch.full_like(tokens, MASK), tokens)
    tokens = torch.where(chosen & (action >= 0.8) & (action < 0.9), torch.randint(V, tokens.shape), tokens)
    return tokens, target

torch.manual_seed(0)
m = Bert(); opt = torch.optim.AdamW(m.parameters(), lr=3e-4)
data = torch.randint(V, (B, T))
best = 1e9
for it in range(steps):
    t0 = time.perf_counter()
    x, y = mask(data)
    loss = m.loss(x, y)
    opt.zero_grad(); loss.backward(); opt.step()
    if it >= 3: best = min(best, time.perf_counter() - t0)
print(f"py tokens/s {B * T / best:.0f}")
