"""ops_ref_common.py: shared helpers for the op reference scripts (tests/ops/ref_*.py).

Each script is run at test time as `ref_x.py OUT_DIR` by $AFLOC_ORACLE_PYTHON and writes named
tensors in the format tests/ops/ops_io.h reads ("AFT1", dtype, ndim, int64 dims, data). Torch is
pinned to one thread so the reference itself is reproducible; the seed is fixed per script.
Exit code 77 (ctest's skip) when torch is missing."""
import os
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

torch.set_num_threads(1)

F32, I32 = 0, 1


def out_dir():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} OUT_DIR", file=sys.stderr)
        sys.exit(2)
    return sys.argv[1]


def write(directory, name, value):
    """Writes a float32 or int32 tensor (torch tensor, numpy array or list of ints)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        arr, dtype = arr.astype("<i4"), I32
    else:
        arr, dtype = arr.astype("<f4"), F32
    arr = np.ascontiguousarray(arr)
    with open(os.path.join(directory, name + ".bin"), "wb") as f:
        f.write(b"AFT1" + struct.pack("<II", dtype, arr.ndim))
        f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
        f.write(arr.tobytes())


def generator(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def uniform(g, shape, low=-1.0, high=1.0):
    return torch.rand(shape, generator=g, dtype=torch.float32) * (high - low) + low
