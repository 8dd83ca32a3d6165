"""Opens safetensors files that samplernn wrote with the PyPI `safetensors` package (in the
project's venv) and checks that its tensors equal what samplernn wrote: the same names,
dtypes, shapes and bytes, and the same metadata. Int8 exports are also dequantised as
docs/formats.md says (q * scale, broadcast) and compared with the checkpoint they came from.

    .venv/bin/python tests/peers/check-safetensors.py EXPECTED.json

EXPECTED.json, written by the test from samplernn's own reader:
    {"files": [{"path": ..., "metadata": {...}, "tensors": {name: {"dtype": "BF16",
      "shape": [...], "hex": "..."}}, "dequantise_against": null or a checkpoint's path}]}
"""
import json
import sys

import torch
from safetensors import safe_open

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.float16: "F16",
          torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8"}


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def check_file(entry, errors):
    path, want = entry["path"], entry["tensors"]
    with safe_open(path, "pt") as f:
        if f.metadata() != entry["metadata"]:
            errors.append(f"{path}: metadata {f.metadata()} differs from {entry['metadata']}")
        names = set(f.keys())
        if names != set(want):
            errors.append(f"{path}: tensors {sorted(names ^ set(want))} are only on one side")
        tensors = {n: f.get_tensor(n) for n in names & set(want)}
    for name, t in tensors.items():
        w = want[name]
        if DTYPES.get(t.dtype) != w["dtype"] or list(t.shape) != w["shape"]:
            errors.append(f"{path}: {name} is {t.dtype} {list(t.shape)}, samplernn wrote {w['dtype']} {w['shape']}")
        elif raw_bytes(t) != bytes.fromhex(w["hex"]):
            errors.append(f"{path}: {name} holds other values than samplernn wrote")
    # numpy reads every tensor but BF16 (numpy has no bfloat16) the same way.
    with safe_open(path, "np") as f:
        for name in names & set(want):
            if want[name]["dtype"] != "BF16" and f.get_tensor(name).tobytes() != bytes.fromhex(want[name]["hex"]):
                errors.append(f"{path}: {name} read through numpy differs")
    # Int8 matrices: q * scale broadcasts back to the weight, within half a step of the checkpoint's.
    scales = [n for n in tensors if n.endswith(".scale")]
    reference = None
    if entry.get("dequantise_against"):
        with safe_open(entry["dequantise_against"], "pt") as f:
            reference = {n[: -len(".scale")]: f.get_tensor(n[: -len(".scale")]).float() for n in scales}
    for name in scales:
        base = name[: -len(".scale")]
        q, scale = tensors.get(base), tensors[name]
        if q is None or q.dtype != torch.int8:
            errors.append(f"{path}: {name} scales {base}, which is not an I8 tensor")
            continue
        w = q.float() * scale
        if w.shape != q.shape:
            errors.append(f"{path}: {base} * {name} broadcasts to {list(w.shape)}, not {list(q.shape)}")
        elif reference is not None:
            err = (w - reference[base]).abs() - (scale / 2) * (1 + 1e-6)
            if err.max().item() > 1e-12:
                errors.append(f"{path}: {base} dequantised is off the checkpoint's by more than half a step "
                              f"(by {err.max().item():.3g})")
    return len(tensors), len(scales)


def main(argv):
    if len(argv) != 2:
        print("usage: check-safetensors.py EXPECTED.json", file=sys.stderr)
        return 2
    errors = []
    for entry in json.loads(open(argv[1]).read())["files"]:
        n, n_int8 = check_file(entry, errors)
        print(f"{entry['path']}: {n} tensors" + (f", {n_int8} int8 matrices with scales" if n_int8 else ""))
    for e in errors[:20]:
        print(e)
    if errors:
        print(f"{len(errors)} differences")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
