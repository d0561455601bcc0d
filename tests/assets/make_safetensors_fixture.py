#!/usr/bin/env python3
"""Writes fixture.safetensors beside this script, independently of Strata's own writer.

Only numpy, struct and json: the `safetensors` package is not installed here. The layout
follows the reference writer (huggingface/safetensors, `serialize` in tensor.rs):
- an 8-byte little-endian header length N, then N bytes of compact JSON;
- "__metadata__" first, then each tensor as {"dtype", "shape", "data_offsets"};
- the JSON padded with spaces so that N is a multiple of 8;
- tensors ordered by descending dtype alignment (the reference's Dtype enum), then name;
- raw little-endian, C-order data.
tests/core/test_safetensors.cpp checks every value below and that Strata writes the same
bytes. Run with /usr/bin/python3 (it has numpy).
"""
import json
import os
import struct

import numpy as np

# The reference's Dtype enum order (increasing alignment), restricted to Strata's dtypes.
DTYPE_ORDER = ["BOOL", "U8", "I8", "I16", "F16", "BF16", "I32", "F32", "F64", "I64"]


def bf16(values):
    """bfloat16 bit patterns made by truncating float32 (dropping the low 16 bits)."""
    bits = np.asarray(values, dtype="<f4").view("<u4")
    return (bits >> 16).astype("<u2")


# name -> (safetensors dtype, array holding the little-endian bytes in C order)
TENSORS = {
    "fc.weight": ("F32", np.array([[0.0, 1.5, -2.25], [0.1, -1e-3, 3.0e38]], dtype="<f4")),
    "fc.bias": ("F32", np.array([-1.0, 0.5, 2.0], dtype="<f4")),
    "scalar": ("F32", np.array(42.0, dtype="<f4")),  # 0-dim: shape []
    "half": ("F16", np.array([0.5, -1.25, 65504.0, 2.0**-14], dtype="<f2")),
    "emb.bf16": ("BF16", bf16([[1.0, -2.5], [3.14159265, 0.1]])),
    "ids": ("I64", np.array([0, -1, 2**40 + 7, -(2**62), 2**63 - 1], dtype="<i8")),
    "steps": ("I32", np.array([7, -7], dtype="<i4")),
    "mask": ("BOOL", np.array([True, False, True], dtype="?")),
}
METADATA = {"format": "pt", "source": "make_safetensors_fixture.py"}


def main():
    order = sorted(TENSORS, key=lambda n: (-DTYPE_ORDER.index(TENSORS[n][0]), n))
    header = {"__metadata__": METADATA}
    data = b""
    for name in order:
        dtype, array = TENSORS[name]
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    print(f"wrote {path}: {8 + len(text) + len(data)} bytes, order {order}")


if __name__ == "__main__":
    main()
