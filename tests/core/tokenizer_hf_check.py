"""transformers' AutoTokenizer against Strata's SentencePiece ids (tests/core/test_tokenizer_hf.cpp).

Usage: tokenizer_hf_check.py DIR EXPECTED_JSON
  DIR holds what Strata wrote for transformers: tokenizer.json, tokenizer_config.json.
  EXPECTED_JSON is [{"text": ..., "ids": [...]}, ...]: Strata's Tokenizer::encode of each
  document. Loads AutoTokenizer.from_pretrained(DIR) offline and encodes each text with no
  special tokens added; prints every document whose ids differ and exits 1 if any does.
  Also checks that decode(ids) gives back what Strata's decode gives, when it is given.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from transformers import AutoTokenizer  # noqa: E402

directory, expected_path = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(directory)
print(f"{type(tok).__name__}: vocab {len(tok)}, bos {tok.bos_token!r}, eos {tok.eos_token!r}")
with open(expected_path, encoding="utf-8") as f:
    expected = json.load(f)
bad = 0
for i, doc in enumerate(expected):
    ids = tok(doc["text"], add_special_tokens=False)["input_ids"]
    if ids != doc["ids"]:
        bad += 1
        print(f"document {i} {doc['text']!r}:\n  strata       {doc['ids']}\n  transformers {ids}\n"
              f"  pieces {tok.convert_ids_to_tokens(ids)}")
    if "decoded" in doc and tok.decode(doc["ids"]) != doc["decoded"]:
        bad += 1
        print(f"document {i}: decode {tok.decode(doc['ids'])!r} != strata {doc['decoded']!r}")
print(f"{len(expected) - bad} of {len(expected)} documents agree")
sys.exit(1 if bad else 0)
