#!/usr/bin/python3
"""Peer for bench/classic: scikit-learn's SVC (RBF, C=10, gamma='scale'), the stage 2 reference
learner (bench/README.md, "The peers"), trained and evaluated on the very HOG features
Strata computed (float32 files written by bench_classic).
Usage: classic_py.py DIR N_TRAIN N_TEST DIM"""
import sys, time
import numpy as np
from sklearn.svm import SVC

d, n, m, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
xtr = np.fromfile(d + '/x_train.f32', np.float32).reshape(n, dim).astype(np.float64)
ytr = np.fromfile(d + '/y_train.i64', np.int64)
xte = np.fromfile(d + '/x_test.f32', np.float32).reshape(m, dim).astype(np.float64)
yte = np.fromfile(d + '/y_test.i64', np.int64)
t0 = time.perf_counter()
svc = SVC(C=10, kernel='rbf').fit(xtr, ytr)
fit = time.perf_counter() - t0
t0 = time.perf_counter()
acc = (svc.predict(xte) == yte).mean()
pred = time.perf_counter() - t0
print(f"result {fit:.6f} {pred:.6f} {acc:.6f} {svc.n_support_.sum()}")
