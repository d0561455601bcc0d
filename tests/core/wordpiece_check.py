"""`tokenizers` against Strata's WordPiece ids (tests/core/test_wordpiece.cpp).

Usage: wordpiece_check.py TOKENIZER_JSON EXPECTED_JSON
  TOKENIZER_JSON: a BERT tokenizer.json (all-MiniLM-L6-v2's). EXPECTED_JSON: [{"text",
  "ids"}, ...], Strata's WordPieceTokenizer::encode of each text. Encodes each text with
  tokenizers.Tokenizer (no special tokens) and prints every document whose ids differ;
  exit 1 if any does.
"""
import json
import sys

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
tok.no_padding()  # the packaged file pads to 128 and truncates: compare the ids alone
tok.no_truncation()
expected = json.load(open(sys.argv[2], encoding="utf-8"))
bad = 0
for i, doc in enumerate(expected):
    enc = tok.encode(doc["text"], add_special_tokens=False)
    if enc.ids != doc["ids"]:
        bad += 1
        print(f"document {i} {doc['text'][:80]!r}:\n  strata     {doc['ids']}\n  tokenizers {enc.ids}\n"
              f"  tokens {enc.tokens}")
print(f"{len(expected) - bad} of {len(expected)} documents agree")
sys.exit(1 if bad else 0)
