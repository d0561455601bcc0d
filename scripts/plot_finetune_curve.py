#!/usr/bin/python3
"""Plots `strata finetune-curve`'s summary CSV: the metric against labelled examples per
class (log axis), one panel per group, one line per variant (pre-trained and fine-tuned,
from scratch, ...), error bars one standard deviation over seeds. A label count of 0 (all
labels) sits one decade right of the largest count, marked "all". Needs python3-matplotlib.
Usage: plot_finetune_curve.py SUMMARY_CSV OUT_PNG [METRIC]"""
import csv, sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
metric = sys.argv[3] if len(sys.argv) > 3 else 'accuracy'

groups = {}  # group -> variant -> [(labels_per_class, mean, std)], in file order
with open(src) as f:
    for row in csv.DictReader(f):
        variants = groups.setdefault(row['group'], {})
        variants.setdefault(row['variant'], []).append(
            (int(row['labels_per_class']), float(row['mean']), float(row['std'] or 0)))

counts = sorted({n for variants in groups.values() for points in variants.values()
                 for n, _, _ in points if n > 0})
all_x = counts[-1] * 10 if counts else 1  # where "all labels" is drawn


def x_of(n):
    return n if n > 0 else all_x


fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.5), sharey=True,
                         squeeze=False)
for ax, (group, variants) in zip(axes[0], groups.items()):
    for variant, points in variants.items():
        points.sort(key=lambda p: x_of(p[0]))
        ax.errorbar([x_of(n) for n, _, _ in points], [m for _, m, _ in points],
                    yerr=[s for _, _, s in points], marker='o', capsize=3, label=variant)
    ax.set_xscale('log')
    ticks = counts + ([all_x] if any(n == 0 for v in variants.values() for n, _, _ in v) else [])
    ax.set_xticks(ticks)
    ax.set_xticklabels(['all' if n == all_x else str(n) for n in ticks])
    ax.minorticks_off()
    ax.set_xlabel('labelled examples per class (log scale)')
    if group:
        ax.set_title(group)
    ax.grid(True, alpha=0.3)
axes[0][0].set_ylabel(metric + ' (mean ± std over seeds)')
axes[0][0].legend()
fig.tight_layout()
fig.savefig(out, dpi=120)
print('wrote', out)
