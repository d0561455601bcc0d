"""Independent Python PyTorch scoring of in-context requests, for tests/tasks/test_eval_parity.cpp:
the harness's method (lm_eval/models/huggingface.py, HFLM._loglikelihood_tokens and
generate_until) written out plainly: one request at a time, the full window through the
model (no KV cache, no shared prefix), log_softmax, the continuation's tokens summed.

Usage: eval_parity.py DIR
  reads  DIR/config.json        the GPT's options (tests/models/gpt_parity.py's keys)
         DIR/model.safetensors  the weights, named as Strata names them
         DIR/requests.json      {"loglikelihood": [[context ids, continuation ids], ...],
                                 "generate": [[context ids, max_gen_toks], ...]}
  writes DIR/python.json        {"loglikelihood": [[sum log p, all greedy], ...],
                                 "generate": [[greedy ids], ...]}
Runs under /usr/bin/python3 (Debian's python3-torch).
"""
import json, os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from gpt_parity import GPT, read_safetensors  # noqa: E402


def main(d):
    torch.set_num_threads(1)
    cfg = json.load(open(f"{d}/config.json"))
    model = GPT(cfg)
    model.load_state_dict(read_safetensors(f"{d}/model.safetensors"), strict=True)
    model.eval()
    block = cfg["block_size"]
    req = json.load(open(f"{d}/requests.json"))
    out = {"loglikelihood": [], "generate": []}
    with torch.no_grad():
        for ctx, cont in req["loglikelihood"]:
            # (context + continuation)[-(max_length + 1):][:-1], as the harness
            window = (ctx + cont)[-(block + 1):]
            inp = torch.tensor(window[:-1], dtype=torch.long).unsqueeze(0)
            logp = F.log_softmax(model(inp)[0].double(), dim=-1)
            n = len(cont)
            positions = range(len(window) - 1 - n, len(window) - 1)
            targets = window[-n:]
            total = sum(logp[p, t].item() for p, t in zip(positions, targets))
            greedy = all(logp[p].argmax().item() == t for p, t in zip(positions, targets))
            out["loglikelihood"].append([total, greedy])
        for ctx, max_gen in req["generate"]:
            ids = list(ctx)[-(block - max_gen):]
            produced = []
            for _ in range(max_gen):
                inp = torch.tensor(ids[-block:], dtype=torch.long).unsqueeze(0)
                nxt = int(model(inp)[0, -1].argmax().item())
                produced.append(nxt)
                ids.append(nxt)
            out["generate"].append(produced)
    json.dump(out, open(f"{d}/python.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1])
