#!/usr/bin/python3
"""Plots `strata sweep`'s CSV as the GPT-3 paper's figures: for each task, its main metric
against the number of parameters (non-embedding, log axis), one line per shot count; and,
when the runs logged it, the in-context learning score (Olsson et al., 2022) per size.
Needs python3-matplotlib.
Usage: plot_sweep.py SWEEP_CSV OUT_PNG"""
import csv, math, sys
from collections import defaultdict

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

# The metric a task's panel shows, the first of these it reports (exact_match may carry a
# filter: "exact_match/strict").
PREFERRED = ['acc', 'exact_match', 'acc_norm', 'perplexity']


def main_metric(metrics):
    for want in PREFERRED:
        for m in sorted(metrics):
            if m == want or m.startswith(want + '/'):
                return m
    return sorted(metrics)[0]


src, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(src)))
tasks = []  # in the CSV's order
metrics = defaultdict(set)
for r in rows:
    if r['task'] not in tasks:
        tasks.append(r['task'])
    metrics[r['task']].add(r['metric'])
if not tasks:
    sys.exit('plot_sweep.py: %s holds no rows' % src)

ncols = min(3, len(tasks))
nrows = math.ceil(len(tasks) / ncols)
fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
for i, task in enumerate(tasks):
    ax = axes[i // ncols][i % ncols]
    metric = main_metric(metrics[task])
    lines = defaultdict(list)  # shot count ('' for the ICL score) -> points
    for r in rows:
        if r['task'] == task and r['metric'] == metric:
            se = float(r['stderr']) if r['stderr'] else 0.0
            lines[r['num_fewshot']].append((int(r['params']), float(r['value']), se, r['size']))
    for shots in sorted(lines, key=lambda s: int(s) if s else -1):
        points = sorted(lines[shots])
        xs, ys, es, names = zip(*points)
        label = '%s-shot' % shots if shots else metric
        ax.errorbar(xs, ys, yerr=es, marker='o', capsize=3, label=label)
    ax.set_xscale('log')
    ax.set_xlabel('parameters (non-embedding, log scale)')
    if task == 'validation' and metric == 'icl_score':
        ax.set_title('in-context learning score')
        ax.set_ylabel('late minus early loss (nats; lower: more ICL)')
    else:
        ax.set_title(task)
        ax.set_ylabel(metric)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize='small')
for j in range(len(tasks), nrows * ncols):
    axes[j // ncols][j % ncols].axis('off')
fig.tight_layout()
fig.savefig(out, dpi=120)
print('wrote', out)
