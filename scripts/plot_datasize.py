#!/usr/bin/python3
"""Plots `strata datasize`'s CSV: test accuracy against the number of labelled training
examples (log axis), one line per stage, the design notes' "data size vs accuracy" figure,
measured. Needs python3-matplotlib.
Usage: plot_datasize.py DATASIZE_CSV OUT_PNG"""
import csv, sys
from collections import defaultdict

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
lines = defaultdict(list)
with open(src) as f:
    for row in csv.DictReader(f):
        lines[row['stage']].append((int(row['train_examples']), float(row['test_acc']),
                                    float(row.get('test_acc_stderr') or 0)))

fig, ax = plt.subplots(figsize=(7, 4.5))
for stage, points in lines.items():
    points.sort()
    xs, ys, es = zip(*points)
    ax.errorbar(xs, ys, yerr=es, marker='o', capsize=3, label=stage)
ax.set_xscale('log')
ax.set_xlabel('labelled training examples (log scale)')
ax.set_ylabel('test accuracy')
ax.set_title('Fashion-MNIST: accuracy against training-set size')
ax.grid(True, which='both', alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out, dpi=120)
print('wrote', out)
