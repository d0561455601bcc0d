#!/usr/bin/python3
"""Peer for bench/classic --learner rf: scikit-learn's RandomForestClassifier(n_estimators=100,
n_jobs=THREADS, random_state=0) on Fashion-MNIST's raw pixels, all 60,000 training images
and the 10,000 test images, read from the IDX files themselves. Pixels are float32 in [0, 1],
as Strata's `pixels` features (models/classic/features.h: divided by 255).
Usage: classic_rf_py.py THREADS [DATA_DIR]
Prints `result FIT_S PREDICT_S TEST_ACC`."""
import gzip, sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier

threads = int(sys.argv[1])
root = sys.argv[2] if len(sys.argv) > 2 else '/usr/share/datasets/fashion-mnist'


def idx(name):
    with gzip.open(f'{root}/{name}', 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def pixels(images):
    return (images.reshape(len(images), -1).astype(np.float32) / np.float32(255))


xtr, ytr = pixels(idx('train-images-idx3-ubyte.gz')), idx('train-labels-idx1-ubyte.gz')
xte, yte = pixels(idx('t10k-images-idx3-ubyte.gz')), idx('t10k-labels-idx1-ubyte.gz')
t0 = time.perf_counter()
forest = RandomForestClassifier(n_estimators=100, n_jobs=threads, random_state=0).fit(xtr, ytr)
fit = time.perf_counter() - t0
t0 = time.perf_counter()
acc = (forest.predict(xte) == yte).mean()
pred = time.perf_counter() - t0
print(f"result {fit:.6f} {pred:.6f} {acc:.6f}")
