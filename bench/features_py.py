#!/usr/bin/python3
"""Peer for bench/features: scikit-image's hog over the Fashion-MNIST images with the stage 2
reference parameters (9 orientations, 4x4-pixel cells, 2x2-cell blocks, L2-Hys), one image at a
time as a researcher writes it. Prints the seconds and writes the features of every `stride`-th
image (float64, row-major) for the benchmark to compare with Strata's.
Usage: features_py.py LIMIT STRIDE OUT_FILE   (LIMIT 0: all 70,000 images)"""
import gzip, sys, time
import numpy as np
from skimage.feature import hog

root = '/usr/share/datasets/fashion-mnist/'
def images(n): return np.frombuffer(gzip.open(root + n).read(), np.uint8, offset=16).reshape(-1, 28, 28)
x = np.concatenate([images('train-images-idx3-ubyte.gz'), images('t10k-images-idx3-ubyte.gz')])
limit, stride, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if limit > 0:
    x = x[:limit]

params = dict(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm='L2-Hys')
t0 = time.perf_counter()
H = np.stack([hog(im, **params) for im in x])
dt = time.perf_counter() - t0
print(f"peer skimage hog {len(x)} images: {dt:.2f}s ({len(x) / dt:.0f} images/s), {H.shape[1]} features", flush=True)
H[::stride].astype(np.float64).tofile(out)
print(f"seconds {dt:.6f}")
