"""Peer for bench/finetune_minilm: configs/finetune/spam-minilm.yaml's recipe written plainly in
PyTorch with transformers' AutoModel and AutoTokenizer, as a researcher would write it.

The bench passes the examples Strata trains and tests on (train.jsonl, test.jsonl: "text",
"label" and "ids", Strata's own token ids), and the recipe read from the same config:
- the text through AutoTokenizer (BertTokenizerFast: "[CLS] text [SEP]", truncation to
  max_length); every example's ids are compared with Strata's, and any difference is reported;
- AutoModel (BertModel), the masked mean of the last hidden states, dropout, a new
  nn.Linear(hidden, classes) seeded with the run's seed;
- AdamW with weight decay on tensors of two or more dimensions only (Strata's split), the
  same lr, betas, eps and weight decay; linear warmup then a linear decay to
  min_lr_ratio * lr, stepped per batch (core/schedule.cpp's formula);
- epochs over a fresh permutation per epoch, batches padded to their longest row;
- accuracy on the test examples in eval mode.

Prints one JSON line: accuracy, training examples/s (the training loop alone: tokenizing and
testing are not timed, as in Strata's metrics), steps, and the count of examples whose ids
differ from Strata's.
Usage: finetune_minilm_py.py MODEL_DIR TRAIN_JSONL TEST_JSONL RECIPE_JSON"""
import json, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

model_dir, train_path, test_path = sys.argv[1:4]
r = json.loads(sys.argv[4])
torch.set_num_threads(r["threads"])
read = lambda p: [json.loads(line) for line in open(p)]
train, test = read(train_path), read(test_path)

tok = AutoTokenizer.from_pretrained(model_dir)
def encode(rows):
    ids = tok([x["text"] for x in rows], truncation=True, max_length=r["max_length"])["input_ids"]
    differ = [(a, x) for a, x in zip(ids, rows) if a != x["ids"]]
    for a, x in differ[:3]:  # where they part, for the report
        at = next((i for i, (u, v) in enumerate(zip(a, x["ids"])) if u != v), min(len(a), len(x["ids"])))
        print(f"ids differ at token {at}: transformers {tok.convert_ids_to_tokens(a[at:at + 4])}, "
              f"Strata {tok.convert_ids_to_tokens(x['ids'][at:at + 4])}, in {x['text']!r}", file=sys.stderr)
    return ids, len(differ)
train_ids, d1 = encode(train)
test_ids, d2 = encode(test)

def pad(rows):
    t = max(len(x) for x in rows)
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    mask = torch.zeros(len(rows), t, dtype=torch.long)
    for i, x in enumerate(rows):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return ids, mask

class Classifier(nn.Module):
    def __init__(s, classes):
        super().__init__()
        s.base = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa")
        s.drop = nn.Dropout(r["head_dropout"])
        s.head = nn.Linear(s.base.config.hidden_size, classes)
    def forward(s, ids, mask):
        h = s.base(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        return s.head(s.drop((h * m).sum(1) / m.sum(1)))

torch.manual_seed(r["seed"])
model = Classifier(r["classes"])
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": r["weight_decay"]},
                         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                        lr=r["lr"], betas=tuple(r["betas"]), eps=r["eps"])
B, epochs = r["batch_size"], r["epochs"]
steps_per_epoch = math.ceil(len(train) / B)
total = steps_per_epoch * epochs
warmup, floor = r["warmup_steps"], r["min_lr_ratio"]
def lr_at(step):  # core/schedule.cpp, as a factor of the peak
    if warmup > 0 and step < warmup: return (step + 1) / warmup
    progress = min(max((step - warmup) / max(1, total - warmup), 0.0), 1.0)
    if r["schedule"] == "linear": return floor + (1 - floor) * (1 - progress)
    if r["schedule"] == "cosine": return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0
sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
labels = torch.tensor([x["label"] for x in train])

model.train()
seen, seconds, step = 0, 0.0, 0
for epoch in range(epochs):
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(r["seed"] * 1000003 + epoch))
    for start in range(0, len(train), B):
        t0 = time.perf_counter()
        index = order[start:start + B].tolist()
        ids, mask = pad([train_ids[i] for i in index])
        loss = F.cross_entropy(model(ids, mask), labels[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if r["clip"] > 0: torch.nn.utils.clip_grad_norm_(params, r["clip"])
        opt.step()
        sched.step()
        seconds += time.perf_counter() - t0
        seen += len(index)
        step += 1

model.eval()
correct = 0
with torch.no_grad():
    for start in range(0, len(test), r["eval_batch_size"]):
        rows = test[start:start + r["eval_batch_size"]]
        ids, mask = pad(test_ids[start:start + len(rows)])
        pred = model(ids, mask).argmax(-1)
        correct += sum(int(p) == x["label"] for p, x in zip(pred.tolist(), rows))
print(json.dumps({"acc": correct / len(test), "examples_per_s": seen / seconds, "steps": step,
                  "ids_differ": d1 + d2, "torch": torch.__version__}), flush=True)
