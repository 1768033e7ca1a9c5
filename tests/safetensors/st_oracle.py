"""st_oracle.py: an independent safetensors writer and reader written from the public format
description (8-byte little-endian header length, JSON header, data region) with only json and
struct, used as a differential oracle for the C implementation (python3-safetensors is not packaged
in Debian 12).

  st_oracle.py write PATH [ascii]  writes a reference file with several dtypes, a scalar, an empty
                               tensor and metadata; its header is written with json.dumps
                               (spaces after separators, unsorted keys, __metadata__ last;
                               with "ascii", non-ASCII names as \\u escapes)
  st_oracle.py check PATH      reads a file written by the C writer and checks it against the
                               same expected content (values regenerated here)
"""
import json
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
FORMATS = {"F64": "d", "F32": "f", "I64": "q", "I32": "i", "I16": "h", "I8": "b", "U8": "B",
           "U16": "H", "U32": "I", "U64": "Q", "BOOL": "?"}


def expected():
    """Name -> (dtype, shape, raw bytes) of the shared test content."""
    t = {}
    t["w.f32"] = ("F32", [2, 3], struct.pack("<6f", 0.5, -1.25, 3.0, 1e-3, -7.5, 1024.0))
    t["w.f64"] = ("F64", [], struct.pack("<d", 3.141592653589793))
    t["w.i64"] = ("I64", [3], struct.pack("<3q", -(2**63), 0, 2**63 - 1))
    t["w.i32"] = ("I32", [2, 1], struct.pack("<2i", -5, 123456))
    t["w.u8"] = ("U8", [5], bytes([0, 1, 127, 128, 255]))
    t["w.bool"] = ("BOOL", [2], bytes([1, 0]))
    t["w.f16"] = ("F16", [2], struct.pack("<2e", 1.5, -2.0))
    t["w.empty"] = ("F32", [4, 0], b"")
    t["na\u00efve \u2713"] = ("I8", [1], struct.pack("<b", -3))
    return t


META = {"producer": "st_oracle.py", "note": "tab\tand \u00e9"}


def write(path, ascii_only=False):
    header, data = {}, b""
    # Deliberately not sorted, so the C reader cannot rely on any order.
    for name, (dtype, shape, raw) in sorted(expected().items(), reverse=True):
        assert len(raw) == SIZES[dtype] * (eval("*".join(map(str, shape))) if shape else 1)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = META
    text = json.dumps(header, ensure_ascii=ascii_only).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), "header length beyond the file"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e_ = e["data_offsets"]
        assert set(e) == {"dtype", "shape", "data_offsets"}
        count = 1
        for d in e["shape"]:
            count *= d
        assert e_ - b == count * SIZES[e["dtype"]], name
        assert b == end, "ranges are not contiguous"
        end = e_
        tensors[name] = (e["dtype"], e["shape"], data[b:e_])
    assert end == len(data), "data region not covered exactly"
    return tensors, meta, n


def check(path):
    tensors, meta, n = read(path)
    want = expected()
    problems = []
    if n % 8:
        problems.append("header length %d is not a multiple of 8" % n)
    if set(tensors) != set(want):
        problems.append("names differ: %s" % sorted(set(tensors) ^ set(want)))
    for name in want:
        if name in tensors and tensors[name] != (want[name][0], want[name][1], want[name][2]):
            problems.append("tensor %r differs" % name)
    for k, v in META.items():
        if meta.get(k) != v:
            problems.append("metadata %r differs" % k)
    if "afloc.data_sha256" in meta:
        import hashlib
        with open(path, "rb") as f:
            blob = f.read()
        if hashlib.sha256(blob[8 + n:]).hexdigest() != meta["afloc.data_sha256"]:
            problems.append("afloc.data_sha256 does not match the data")
    else:
        problems.append("no afloc.data_sha256")
    print("oracle read %d tensors, %d metadata keys: %s" % (len(tensors), len(meta), "; ".join(problems) or "all equal"))
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "ascii")
        sys.exit(0)
    sys.exit(check(sys.argv[2]))
