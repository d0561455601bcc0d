"""Peer for bench/cnn_fashion.cpp: the design notes' Keras CNN (Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10)
in PyTorch eager, trained on Fashion-MNIST from the Debian package. Prints per-epoch seconds, images/s and
test accuracy. It is the plain program a researcher would write: a fresh random order each epoch, the last
batch partial, cross-entropy, Adam (lr 1e-3), the given thread count (bench/README.md, "The peers").
Usage: cnn_fashion_py.py [epochs] [threads] [batch]"""
import gzip, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

epochs, threads, batch = (int(a) for a in (sys.argv[1:4] if len(sys.argv) > 3 else [3, 2, 64]))
torch.set_num_threads(threads); torch.manual_seed(0)
root = '/usr/share/datasets/fashion-mnist/'
def images(name): return np.frombuffer(gzip.open(root + name).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
def labels(name): return np.frombuffer(gzip.open(root + name).read(), np.uint8, offset=8)
xtr = torch.tensor(images('train-images-idx3-ubyte.gz'), dtype=torch.float32) / 255
ytr = torch.tensor(labels('train-labels-idx1-ubyte.gz'), dtype=torch.long)
xte = torch.tensor(images('t10k-images-idx3-ubyte.gz'), dtype=torch.float32) / 255
yte = torch.tensor(labels('t10k-labels-idx1-ubyte.gz'), dtype=torch.long)
m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(m.parameters(), 1e-3)
for ep in range(epochs):
    t0 = time.perf_counter(); perm = torch.randperm(len(xtr)); m.train()
    for i in range(0, len(xtr), batch):
        idx = perm[i:i + batch]
        loss = F.cross_entropy(m(xtr[idx]), ytr[idx]); opt.zero_grad(); loss.backward(); opt.step()
    dt = time.perf_counter() - t0; m.eval()
    with torch.no_grad(): acc = (m(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {ep + 1} train_s {dt:.1f} images_per_s {len(xtr) / dt:.0f} test_acc {acc:.4f}", flush=True)
