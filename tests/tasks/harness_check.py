"""lm-evaluation-harness itself against `strata eval` (tests/tasks/test_harness.cpp,
bench/eval_harness.cpp).

Usage: harness_check.py --hf DIR --task-dir DIR --lm-out DIR --strata-out DIR
                        [--limit N] [--batch-size B] [--threads T] TASK...
  Runs `lm_eval --model hf` on --hf (a Strata export) for TASKs from --task-dir (also its
  working directory), fp32, the given batch size and thread count, the harness's default
  logits_cache, --log_samples, into --lm-out, and prints its wall-clock seconds. Then
  compares, per task, its samples_<task>_<date>.jsonl with Strata's in --strata-out
  (strata eval --log-samples): the same documents and request arguments, log-likelihoods
  within 1e-4, the same is-greedy flags, filtered responses and per-document metrics; and
  the two results files: metric values equal (perplexity to 1e-4 relative), stderrs to
  1e-6. Prints Strata's results with the harness's own lm_eval.utils.make_table. Exit 1 on
  any difference.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--hf", required=True)
p.add_argument("--task-dir", required=True)
p.add_argument("--lm-out", required=True)
p.add_argument("--strata-out", required=True)
p.add_argument("--limit", default=None)
p.add_argument("--batch-size", default="8")
p.add_argument("--threads", default="1")
p.add_argument("tasks", nargs="+")
a = p.parse_args()
tasks, lm_out, strata_out = a.tasks, a.lm_out, a.strata_out
env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
           HF_HUB_DISABLE_PROGRESS_BARS="1", OMP_NUM_THREADS=a.threads, TOKENIZERS_PARALLELISM="false")
lm_eval = os.path.join(os.path.dirname(sys.executable), "lm_eval")
cmd = [lm_eval, "--model", "hf", "--model_args", f"pretrained={a.hf},dtype=float32",
       "--device", "cpu", "--batch_size", a.batch_size, "--include_path", a.task_dir,
       "--tasks", ",".join(tasks), "--output_path", lm_out, "--log_samples"]
if a.limit:
    cmd += ["--limit", a.limit]
start = time.perf_counter()
run = subprocess.run(cmd, cwd=a.task_dir, env=env, capture_output=True, text=True)
print(f"lm_eval wall seconds {time.perf_counter() - start:.3f}")
if run.returncode != 0:
    print(run.stdout[-3000:], run.stderr[-6000:])
    sys.exit(f"lm_eval failed ({run.returncode})")


def one(pattern):
    found = sorted(glob.glob(pattern, recursive=True))
    if not found:
        sys.exit(f"no file matches {pattern}")
    return found[-1]


def samples(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    return {(r["doc_id"], r["filter"]): r for r in rows}


bad = []
for task in tasks:
    theirs = samples(one(f"{lm_out}/**/samples_{task}_*.jsonl"))
    ours = samples(one(f"{strata_out}/samples_{task}_*.jsonl"))
    if set(theirs) != set(ours):
        bad.append(f"{task}: documents differ: {sorted(set(theirs) ^ set(ours))[:5]}")
        continue
    max_ll = 0.0
    for key, t in theirs.items():
        o = ours[key]
        # generate_until's arg_1: the harness writes the generation_kwargs the file gives,
        # Strata all of them with their defaults.
        same_args = t["arguments"].keys() == o["arguments"].keys() and all(
            t["arguments"][k]["arg_0"] == o["arguments"][k]["arg_0"] and (
                t["arguments"][k]["arg_1"] == o["arguments"][k]["arg_1"]
                if not isinstance(t["arguments"][k]["arg_1"], dict)
                else all(o["arguments"][k]["arg_1"].get(x) == v for x, v in t["arguments"][k]["arg_1"].items()))
            for k in t["arguments"])
        if not same_args:
            bad.append(f"{task} {key}: arguments {t['arguments']} != {o['arguments']}")
        if t["target"] != o["target"]:
            bad.append(f"{task} {key}: target {t['target']!r} != {o['target']!r}")
        for metric in t["metrics"]:
            if t[metric] != o.get(metric) and not (metric == "perplexity" and abs(t[metric] - o[metric]) < 1e-4):
                bad.append(f"{task} {key}: {metric} {t[metric]} != {o.get(metric)}")
        if isinstance(t["filtered_resps"][0], list):  # (log-likelihood, is-greedy) pairs
            for a, b in zip(t["filtered_resps"], o["filtered_resps"]):
                max_ll = max(max_ll, abs(float(a[0]) - float(b[0])))
                if a[1] != b[1]:
                    bad.append(f"{task} {key}: is-greedy {a[1]} != {b[1]}")
        elif t["filtered_resps"] != o["filtered_resps"]:
            bad.append(f"{task} {key}: response {t['filtered_resps']} != {o['filtered_resps']}")
    if max_ll > 1e-4:
        bad.append(f"{task}: log-likelihoods differ by up to {max_ll:.2e}")
    print(f"{task}: {len(theirs)} documents, log-likelihoods within {max_ll:.1e}")

theirs = json.load(open(one(f"{lm_out}/**/results_*.json")))
ours = json.load(open(one(f"{strata_out}/results.json")))
print(f"lm_eval evaluation seconds {float(theirs.get('total_evaluation_time_seconds', 'nan')):.3f}")
for task in tasks:
    for key, value in theirs["results"][task].items():
        if key == "alias" or not isinstance(value, (int, float)):
            continue
        mine = ours["results"][task].get(key)
        if not isinstance(mine, (int, float)):
            bad.append(f"{task} {key}: {value} in lm_eval, {mine!r} in Strata")
        elif key.startswith("perplexity,"):
            if abs(mine - value) > 1e-4 * abs(value):
                bad.append(f"{task} {key}: {value} != {mine}")
        elif "_stderr" in key:
            if not key.startswith("perplexity_stderr") and abs(mine - value) > 1e-6:
                bad.append(f"{task} {key}: {value} != {mine}")
        elif mine != value:
            bad.append(f"{task} {key}: {value} != {mine}")

from lm_eval.utils import make_table  # noqa: E402  (the harness's own table, on Strata's file)

print(make_table(ours))
for line in bad:
    print("DIFFERS:", line)
sys.exit(1 if bad else 0)
