#!/usr/bin/python3
"""Plots `strata ladder`'s ladder.csv: test accuracy against the labelled examples each run
used (symmetric log axis, so 0 labels shows), one line per stage: mean over seeds at each
count, the range over seeds as an error bar. Stages that do not train (rules, prompts) are
single points. Needs matplotlib (scripts/bootstrap.sh installs it in .venv).
Usage: plot_ladder.py LADDER_CSV OUT_PNG [TITLE]"""
import csv, sys
from collections import defaultdict

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
title = sys.argv[3] if len(sys.argv) > 3 else 'The ladder: accuracy against labelled examples'
points = defaultdict(lambda: defaultdict(list))
for row in csv.DictReader(open(src)):
    if not row['test_acc']:
        continue
    name = 'stage %s: %s' % (row['stage'], row['approach'])
    if row['num_fewshot']:
        name += ' (%s-shot)' % row['num_fewshot']
    points[name][int(row['labelled_examples'])].append(float(row['test_acc']))

fig, ax = plt.subplots(figsize=(8, 4.8))
for name, by_count in points.items():
    xs = sorted(by_count)
    means = [sum(by_count[x]) / len(by_count[x]) for x in xs]
    low = [m - min(by_count[x]) for m, x in zip(means, xs)]
    high = [max(by_count[x]) - m for m, x in zip(means, xs)]
    ax.errorbar(xs, means, yerr=[low, high], marker='o', capsize=3, label=name)
ax.set_xscale('symlog', linthresh=10)
ax.set_xlabel('labelled examples used (symmetric log scale)')
ax.set_ylabel('test accuracy')
ax.set_title(title)
ax.grid(True, which='both', alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=120)
print('wrote', out)
