"""convert.py: the official AFLoc Lightning checkpoint + vocab.txt -> one libafloc model file.

    python -m afloc.convert CKPT VOCAB OUT [--config-override JSON] [--library PATH]

What it does (MODEL.md §10):
  1. Reads the checkpoint WITHOUT torch and without omegaconf: a torch zip checkpoint is a zip
     holding data.pkl and one raw file per storage, so a restricted unpickler rebuilds the tensors
     as numpy arrays. Only a short allowlist of globals (OrderedDict, torch's tensor rebuild
     functions, storage types, a few builtins) resolves to real objects; every other global
     (omegaconf.*, pytorch_lightning.*, anything else) becomes an inert stub that records its
     pickled state, so a checkpoint can neither run code nor need those packages. An omegaconf
     2.0 DictConfig keeps its data in `_content` (values wrapped in nodes with `_val`); that is
     unwrapped into plain dicts. A plain-dict `hyper_parameters` works too. Legacy (non-zip) torch
     files fall back to torch.load with the same stubs installed in sys.modules.
  2. Keeps `state_dict`, strips the leading "afloc." of each key, drops `num_batches_tracked` and
     `embeddings.position_ids`.
  3. Infers the libafloc config (the keys of src/config.h) from the tensor shapes (ResNet blocks,
     planes, width, stem; BERT layers, hidden, intermediate, vocabulary, positions; embedding dim;
     local_f_embedder and libafloc's local_position present or not) and from hyper_parameters (last_n_layers, temperatures,
     word_num, captions_per_image, crop size), refusing settings libafloc does not implement
     (aggregate_method other than "sum", agg_tokens/take_sent_as_units false, text norm true,
     transforms.norm other than "half"). BERT's head count is not in the checkpoint: hidden/64
     (Bio_ClinicalBERT: 12) unless --config-override says otherwise.
  4. Hands the tensors to libafloc, which owns both the parameter table and the model file format
     (STYLE.md §6: nothing lists the tensors twice): the tensors go into a plain scratch
     safetensors file, `afloc_model_import_safetensors` checks every name and shape against the
     table the config implies (AFLOC_ERR_SCHEMA names the tensor and both shapes), and
     `afloc_model_save` writes the model file with its checksums atomically. Finally the output is
     loaded once more with `afloc_model_load` as a check.

libafloc.so is found through --library, the AFLOC_LIBRARY environment variable, a build*/ folder
of this source tree, or the loader's search path.
"""
import argparse
import codecs
import collections
import ctypes
import io
import json
import os
import pickle
import struct
import sys
import tempfile
import zipfile

import numpy as np


class ConvertError(Exception):
    """A checkpoint libafloc cannot represent, or a libafloc failure (message says which)."""


# ---- reading the checkpoint without torch ----

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _Stub(dict):
    """Stands in for any class the allowlist does not know. Records constructor arguments and the
    pickled state; a dict subclass so that dict-like classes (AttributeDict) keep their items."""

    def __init__(self, *args, **kwargs):  # noqa: D401 - accepts whatever the pickle passes
        super().__init__()
        self.__dict__["_stub_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            state = merged
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_stub_state"] = state


def _stub_class(module, name):
    return type(name, (_Stub,), {"__module__": "afloc.convert.stub." + module, "_stub_origin": module + "." + name})


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _as_array(raw, dtype):
    if dtype == "bfloat16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))


def _rebuild_tensor(storage, offset, size, stride, *unused):
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(storage[offset])
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else offset
    if needed > len(storage):
        raise ConvertError("a tensor of shape %s reaches past its storage (%d elements)" % (size, len(storage)))
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[st * storage.itemsize for st in stride])
    return np.array(view)


def _rebuild_parameter(data, *unused):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): tuple,
    ("_codecs", "encode"): codecs.encode,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex, ("builtins", "bytearray"): bytearray,
    ("builtins", "list"): list, ("builtins", "dict"): dict, ("builtins", "tuple"): tuple,
    ("builtins", "int"): int, ("builtins", "float"): float, ("builtins", "bool"): bool,
    ("builtins", "str"): str, ("builtins", "bytes"): bytes,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, load_storage):
        super().__init__(data)
        self._load_storage = load_storage
        self._storages = {}

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        return _stub_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ConvertError("unexpected persistent id %r in the checkpoint" % (pid,))
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise ConvertError("unsupported storage type %r" % (storage_type,))
        if key not in self._storages:
            self._storages[key] = _as_array(self._load_storage(key), storage_type.dtype)
        return self._storages[key]


def _load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ConvertError("%s: not a torch checkpoint (no single data.pkl in the zip)" % path)
        prefix = pkl[0][: -len("data.pkl")]

        def load_storage(key):
            return z.read(prefix + "data/" + key)
        return _Unpickler(io.BytesIO(z.read(pkl[0])), load_storage).load()


def _load_legacy(path):
    """Pre-1.6 torch files: torch.load with stub modules for omegaconf and pytorch_lightning."""
    try:
        import torch
    except ImportError as e:
        raise ConvertError("%s is a legacy (non-zip) torch file; reading it needs torch" % path) from e
    import types
    saved = {}

    for mod in ("omegaconf", "omegaconf.base", "omegaconf.dictconfig", "omegaconf.listconfig",
                "omegaconf.nodes", "pytorch_lightning"):
        saved[mod] = sys.modules.get(mod)
        m = types.ModuleType(mod)
        m.__getattr__ = lambda name, mod=mod: _stub_class(mod, name)
        sys.modules[mod] = m
    try:
        ckpt = torch.load(path, map_location="cpu")
    finally:
        for mod, old in saved.items():
            if old is None:
                sys.modules.pop(mod, None)
            else:
                sys.modules[mod] = old

    def to_numpy(o):
        if isinstance(o, torch.Tensor):
            return o.detach().cpu().numpy()
        if isinstance(o, dict) and not isinstance(o, _Stub):
            return {k: to_numpy(v) for k, v in o.items()}
        return o
    return {k: to_numpy(v) for k, v in ckpt.items()} if isinstance(ckpt, dict) else ckpt


def plain(o):
    """omegaconf containers (stubs) and other stubs -> plain dicts/lists/values."""
    if isinstance(o, _Stub):
        d = o.__dict__
        if "_content" in d:
            c = d["_content"]
            if isinstance(c, dict):
                return {k: plain(v) for k, v in c.items()}
            if isinstance(c, (list, tuple)):
                return [plain(v) for v in c]
            return c  # None, "???" (missing) or an interpolation string
        if "_val" in d:
            return plain(d["_val"])
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    return o


def read_checkpoint(path):
    """Returns (state dict name -> numpy array, hyper_parameters as plain dict or {})."""
    ckpt = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    if not isinstance(ckpt, dict):
        raise ConvertError("%s: the checkpoint is not a dict" % path)
    state = ckpt.get("state_dict", ckpt)
    hparams = plain(ckpt.get("hyper_parameters", {})) or {}
    tensors = {}
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            continue
        name = key[len("afloc."):] if key.startswith("afloc.") else key
        if name.endswith("num_batches_tracked") or name.endswith("embeddings.position_ids"):
            continue
        if name in tensors:
            raise ConvertError("tensor %s appears twice (with and without the afloc. prefix)" % name)
        tensors[name] = value
    if not tensors:
        raise ConvertError("%s: no tensors in state_dict" % path)
    return tensors, hparams if isinstance(hparams, dict) else {}


# ---- the config ----

def _get(tree, dotted, default=None):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node or node[part] is None:
            return default
        node = node[part]
    return node


def _shape(tensors, name):
    if name not in tensors:
        raise ConvertError("the checkpoint has no tensor %s (not an AFLoc checkpoint?)" % name)
    return tensors[name].shape


def infer_config(tensors, hparams):
    """The libafloc config (src/config.h keys) implied by the tensors and hyper_parameters."""
    cfg = {}
    r = "img_encoder.model."
    stem = _shape(tensors, r + "conv1.weight")
    cfg["resnet_stem"], cfg["input_channels"] = int(stem[0]), int(stem[1])
    blocks, planes, widths = [], [], []
    for stage in range(1, 5):
        n = 0
        while (r + "layer%d.%d.conv1.weight" % (stage, n)) in tensors:
            n += 1
        if n == 0:
            raise ConvertError("the checkpoint has no %slayer%d.0 block" % (r, stage))
        out = int(_shape(tensors, r + "layer%d.0.conv3.weight" % stage)[0])
        if out % 4:
            raise ConvertError("%slayer%d.0.conv3.weight has %d output channels, not 4*planes" % (r, stage, out))
        blocks.append(n)
        planes.append(out // 4)
        widths.append(int(_shape(tensors, r + "layer%d.0.conv1.weight" % stage)[0]))
    base = {w * 64 // p for w, p in zip(widths, planes)}
    if len(base) != 1:
        raise ConvertError("bottleneck widths %s do not follow one width_per_group for planes %s" % (widths, planes))
    cfg["resnet_blocks"], cfg["resnet_planes"], cfg["resnet_base_width"] = blocks, planes, base.pop()

    t = "text_encoder.model."
    word = _shape(tensors, t + "embeddings.word_embeddings.weight")
    cfg["vocab_size"], cfg["bert_hidden"] = int(word[0]), int(word[1])
    cfg["max_positions"] = int(_shape(tensors, t + "embeddings.position_embeddings.weight")[0])
    cfg["type_vocab_size"] = int(_shape(tensors, t + "embeddings.token_type_embeddings.weight")[0])
    layers = 0
    while (t + "encoder.layer.%d.attention.self.query.weight" % layers) in tensors:
        layers += 1
    cfg["bert_layers"] = layers
    cfg["bert_intermediate"] = int(_shape(tensors, t + "encoder.layer.0.intermediate.dense.weight")[0])
    cfg["bert_heads"] = cfg["bert_hidden"] // 64 if cfg["bert_hidden"] % 64 == 0 else 1
    cfg["embedding_dim"] = int(_shape(tensors, "img_encoder.global_embedder.weight")[0])
    cfg["use_local_f_embedder"] = int("img_encoder.local_f_embedder.weight" in tensors)
    # libafloc's position term (not in official checkpoints; a PyTorch model built like
    # tests/model/ref_afloc.py with it converts too)
    cfg["local_position"] = int("img_encoder.local_position.weight" in tensors)

    notes = []
    for key, dotted in (("last_n_layers", "model.text.last_n_layers"), ("temp1", "model.afloc.temp1"),
                        ("temp2", "model.afloc.temp2"), ("temp3", "model.afloc.temp3"),
                        ("token_length", "data.text.word_num"),
                        ("captions_per_image", "data.text.captions_per_image")):
        value = _get(hparams, dotted)
        if value is not None:
            cfg[key] = value
    crop = _get(hparams, "transforms.center_crop.crop_size", _get(hparams, "transforms.random_crop.crop_size"))
    if crop is not None:
        cfg["crop_size"] = crop
        cfg["image_size"] = max(224, int(crop))  # inference.py letterboxes to 224 (MODEL.md §2.2)
    emb = _get(hparams, "model.text.embedding_dim")
    if emb is not None and int(emb) != cfg["embedding_dim"]:
        raise ConvertError("hyper_parameters model.text.embedding_dim %s differs from the tensors' %d"
                           % (emb, cfg["embedding_dim"]))
    for dotted, want in (("model.text.aggregate_method", "sum"), ("model.text.agg_tokens", True),
                         ("model.text.take_sent_as_units", True), ("model.text.norm", False),
                         ("transforms.norm", "half")):
        value = _get(hparams, dotted)
        if value is not None and value != want:
            raise ConvertError("hyper_parameters %s is %r; libafloc implements only %r" % (dotted, value, want))
    ce = bool(_get(hparams, "model.afloc.use_ce_loss", False))
    if hparams and ce != bool(cfg["use_local_f_embedder"]):
        notes.append("model.afloc.use_ce_loss is %s but local_f_embedder is %s; the tensors decide"
                     % (ce, "present" if cfg["use_local_f_embedder"] else "absent"))
    if _get(hparams, "data.image.imsize") not in (None, cfg.get("image_size", 224)):
        notes.append("data.image.imsize %s ignored: libafloc letterboxes to image_size %d as inference.py does"
                     % (_get(hparams, "data.image.imsize"), cfg.get("image_size", 224)))
    return cfg, notes


# ---- libafloc through ctypes ----

class _ContextOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("backend", ctypes.c_int32),
                ("device_index", ctypes.c_int32), ("num_threads", ctypes.c_int32),
                ("log", ctypes.c_void_p), ("log_user", ctypes.c_void_p), ("plugin_path", ctypes.c_char_p)]


def find_library(explicit=None):
    """libafloc through `explicit`, $AFLOC_LIBRARY, next to the package, a build*/ folder of this
    source tree or the system (afloc._library), with the few functions convert() needs bound."""
    if __package__:
        from . import _library
    else:  # run as a script (python3 bindings/python/afloc/convert.py ...), not with -m
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from afloc import _library
    try:
        # A CDLL of its own (not afloc._capi's), so these argtypes cannot clash with the bindings'.
        return _bind(_library.load_library(explicit))
    except _library.LibraryNotFoundError as e:
        raise ConvertError("%s (or pass --library)" % e) from None


def _bind(lib):
    vp, cp, st = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, args, res in (
            ("afloc_last_error", [], cp), ("afloc_status_string", [st], cp),
            ("afloc_context_create", [ctypes.POINTER(_ContextOptions), ctypes.POINTER(vp)], st),
            ("afloc_context_free", [vp], None),
            ("afloc_model_import_safetensors", [vp, cp, cp, cp, ctypes.c_size_t, ctypes.POINTER(vp)], st),
            ("afloc_model_load", [vp, cp, ctypes.POINTER(vp)], st),
            ("afloc_model_save", [vp, cp], st), ("afloc_model_free", [vp], None),
            ("afloc_model_get_config", [vp, cp, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], st)):
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def _check(lib, status, what):
    if status != 0:
        raise ConvertError("%s failed: %s: %s" % (what, lib.afloc_status_string(status).decode(),
                                                 lib.afloc_last_error().decode(errors="replace")))


def write_plain_safetensors(path, tensors):
    """Plain safetensors (F32 only), tensors in name order."""
    header, offset, arrays = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(a.tobytes())


def convert(checkpoint, vocab_path, out_path, config_override=None, library=None, log=print):
    """Converts; returns the config dict written. Raises ConvertError with a clear message."""
    tensors, hparams = read_checkpoint(checkpoint)
    cfg, notes = infer_config(tensors, hparams)
    if config_override:
        over = json.loads(config_override) if isinstance(config_override, str) else dict(config_override)
        if not isinstance(over, dict):
            raise ConvertError("--config-override must be a JSON object")
        cfg.update(over)
    for n in notes:
        log("note: " + n)
    for name, a in tensors.items():
        if a.dtype != np.float32:
            if not np.issubdtype(a.dtype, np.floating):
                raise ConvertError("tensor %s has dtype %s, expected float32" % (name, a.dtype))
            log("note: tensor %s converted from %s to float32" % (name, a.dtype))
    with open(vocab_path, "rb") as f:
        vocab = f.read()
    lib = find_library(library)
    config_json = json.dumps(cfg, separators=(",", ":")).encode()
    options = _ContextOptions(struct_size=ctypes.sizeof(_ContextOptions), backend=1, device_index=0,
                              num_threads=0, log=None, log_user=None, plugin_path=None)
    ctx, model, check = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    fd, scratch = tempfile.mkstemp(suffix=".safetensors", dir=os.path.dirname(os.path.abspath(out_path)))
    os.close(fd)
    try:
        write_plain_safetensors(scratch, tensors)
        del tensors
        _check(lib, lib.afloc_context_create(ctypes.byref(options), ctypes.byref(ctx)), "afloc_context_create")
        _check(lib, lib.afloc_model_import_safetensors(ctx, scratch.encode(), config_json, vocab, len(vocab),
                                                       ctypes.byref(model)), "importing the tensors")
        _check(lib, lib.afloc_model_save(model, out_path.encode()), "writing " + out_path)
        _check(lib, lib.afloc_model_load(ctx, out_path.encode(), ctypes.byref(check)), "re-loading " + out_path)
        needed = ctypes.c_size_t()
        lib.afloc_model_get_config(check, None, 0, ctypes.byref(needed))
        buf = ctypes.create_string_buffer(needed.value)
        _check(lib, lib.afloc_model_get_config(check, buf, needed.value, None), "reading the config")
        return json.loads(buf.value.decode())
    finally:
        lib.afloc_model_free(check)
        lib.afloc_model_free(model)
        lib.afloc_context_free(ctx)
        os.unlink(scratch)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m afloc.convert", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="official AFLoc Lightning .ckpt")
    p.add_argument("vocab", help="the BERT vocab.txt (Bio_ClinicalBERT: 28,996 lines)")
    p.add_argument("out", help="the libafloc model file to write (.safetensors)")
    p.add_argument("--config-override", help="JSON object of config keys to set, e.g. '{\"bert_heads\":12}'")
    p.add_argument("--library", help="path of libafloc.so (default: $AFLOC_LIBRARY, build*/, system)")
    args = p.parse_args(argv)
    try:
        cfg = convert(args.checkpoint, args.vocab, args.out, args.config_override, args.library,
                      log=lambda m: print(m, file=sys.stderr))
    except (ConvertError, OSError, ValueError) as e:
        print("afloc.convert: error: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s: %s" % (args.out, json.dumps(cfg, sort_keys=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
