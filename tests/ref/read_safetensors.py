#!/usr/bin/env python3
"""Independent safetensors reader (standard library only) used to cross-check bytelm's writer.

Written from the format description, not from bytelm's C code: 8-byte little-endian header
length, JSON header, tensors back to back covering the data section exactly. Checks the header,
every shape and offset, and prints one line per tensor:

    NAME DTYPE [SHAPE] first values...

then `__metadata__ key=value ...`. Exits 1 with a message on any violation.

usage: read_safetensors.py FILE [N_VALUES]
"""
import json
import struct
import sys

# dtype -> (bytes per element, struct format or None when values are not printed)
DTYPES = {
    "BOOL": (1, "?"), "U8": (1, "B"), "I8": (1, "b"), "F8_E5M2": (1, None), "F8_E4M3": (1, None),
    "I16": (2, "h"), "U16": (2, "H"), "F16": (2, "e"), "BF16": (2, None), "I32": (4, "i"),
    "U32": (4, "I"), "F32": (4, "f"), "F64": (8, "d"), "I64": (8, "q"), "U64": (8, "Q"),
}


def die(path, msg):
    print(f"{path}: {msg}", file=sys.stderr)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in header")
    return dict(pairs)


def values(dtype, raw, n):
    size, fmt = DTYPES[dtype]
    count = min(n, len(raw) // size)
    if dtype == "BF16":
        halves = struct.unpack(f"<{count}H", raw[: 2 * count])
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    if fmt is None:
        return list(raw[:count])
    return list(struct.unpack(f"<{count}{fmt}", raw[: size * count]))


def fmt_value(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    path = sys.argv[1]
    nvals = int(sys.argv[2]) if len(sys.argv) == 3 else 4
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        die(path, f"too short ({len(data)} bytes)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8 or hlen > 100_000_000:
        die(path, f"header length {hlen} out of range")
    if hlen % 8 != 0:
        die(path, f"header length {hlen} not a multiple of 8 (data not aligned)")
    try:
        header = json.loads(data[8 : 8 + hlen].decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as err:
        die(path, f"header is not valid JSON: {err}")
    if not isinstance(header, dict):
        die(path, "header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        die(path, "__metadata__ must map strings to strings")
    body = data[8 + hlen :]

    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            die(path, f"tensor {name}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            die(path, f"tensor {name}: unknown dtype {dtype}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            die(path, f"tensor {name}: bad shape {shape}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)):
            die(path, f"tensor {name}: bad data_offsets {offs}")
        numel = 1
        for d in shape:
            numel *= d
        begin, end = offs
        if not 0 <= begin <= end <= len(body):
            die(path, f"tensor {name}: data_offsets {offs} outside data ({len(body)} bytes)")
        if end - begin != numel * DTYPES[dtype][0]:
            die(path, f"tensor {name}: {end - begin} bytes for {dtype} {shape}")
        entries.append((begin, end, name, dtype, shape))

    cursor = 0
    for begin, end, name, _, _ in sorted(entries):
        if begin != cursor:
            die(path, f"tensor {name}: starts at {begin}, expected {cursor} (overlap or hole)")
        cursor = end
    if cursor != len(body):
        die(path, f"{len(body) - cursor} trailing data bytes not in any tensor")

    for begin, end, name, dtype, shape in entries:
        shown = name if name.isprintable() else json.dumps(name)
        vals = " ".join(fmt_value(v) for v in values(dtype, body[begin:end], nvals))
        print(f"{shown} {dtype} [{', '.join(map(str, shape))}] {vals}".rstrip())
    print("__metadata__ " + " ".join(f"{k}={v}" for k, v in meta.items()))


if __name__ == "__main__":
    main()
