"""The Pythonic layer over _capi: contexts, models, images, text, model files.

Conventions:
  - Every non-OK status is raised as an AflocError subclass carrying ``status`` (int),
    ``status_name`` ("AFLOC_ERR_LIMIT") and ``message`` (afloc_last_error(), naming the C function
    and the offending value).
  - Arrays are checked (type, dtype, shape, strides, alignment) before any pointer crosses into C;
    a wrong dtype is a TypeError, a wrong shape or layout a ValueError. Outputs are new numpy
    arrays owned by Python.
  - Texts are str (encoded as UTF-8) or bytes. Paths are str or os.PathLike.
  - Handles (Context, Model, PromptSet, Tokenizer) are closed by close(), by a ``with`` block or
    when garbage-collected. Closing a Context closes its models first, closing a Model its prompt
    sets; close() waits for calls in flight on other threads. Using a closed object is a
    ValueError.
  - The C calls release the GIL (ctypes does for every CDLL call), so Python threads run
    inference on one model in parallel; results are identical to single-threaded ones.
"""
import collections
import ctypes
import json
import os
import threading
import weakref

import numpy as np

from . import _capi
from ._capi import lib as _lib

__all__ = [
    "AflocError", "InvalidArgumentError", "OutOfMemoryError", "AflocIOError", "FormatError",
    "LimitError", "UnsupportedError", "SchemaError", "CorruptError", "BackendUnavailableError",
    "AbiMismatchError", "DeviceLostError", "CancelledError", "UnsupportedEnvError",
    "InternalError", "ImageFormatError", "BufferTooSmallError",
    "version", "version_number", "status_string",
    "Context", "Model", "PromptSet", "Dims", "Tokenizer",
    "PngImage", "load_png", "decode_png", "encode_png", "save_png",
    "preprocess", "letterbox_u8", "heatmap_to_original",
    "clean_prompt", "config_default", "model_file_inspect",
]

# ---- errors ----


class AflocError(Exception):
    """A libafloc call failed: ``status`` (int), ``status_name`` and ``message``."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = status_string(self.status)
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message))


class InvalidArgumentError(AflocError, ValueError):
    """AFLOC_ERR_INVALID_ARGUMENT (also a ValueError)."""


class OutOfMemoryError(AflocError, MemoryError):
    """AFLOC_ERR_OUT_OF_MEMORY (also a MemoryError)."""


class AflocIOError(AflocError):
    """AFLOC_ERR_IO: open/read/write/fsync/rename failed."""


class FormatError(AflocError):
    """AFLOC_ERR_FORMAT: malformed file or text structure."""


class LimitError(AflocError):
    """AFLOC_ERR_LIMIT: input exceeds a documented limit."""


class UnsupportedError(AflocError):
    """AFLOC_ERR_UNSUPPORTED: well-formed but not supported."""


class SchemaError(AflocError):
    """AFLOC_ERR_SCHEMA: valid file, wrong model."""


class CorruptError(AflocError):
    """AFLOC_ERR_CORRUPT: checksum mismatch, truncated data."""


class BackendUnavailableError(AflocError):
    """AFLOC_ERR_BACKEND_UNAVAILABLE: no plugin, driver or device."""


class AbiMismatchError(AflocError):
    """AFLOC_ERR_ABI_MISMATCH: plugin built for another backend ABI."""


class DeviceLostError(AflocError):
    """AFLOC_ERR_DEVICE_LOST: sticky device error."""


class CancelledError(AflocError):
    """AFLOC_ERR_CANCELLED (reserved)."""


class UnsupportedEnvError(AflocError):
    """AFLOC_ERR_UNSUPPORTED_ENV: a dependency is below its version floor."""


class InternalError(AflocError):
    """AFLOC_ERR_INTERNAL: a bug in libafloc."""


class ImageFormatError(AflocError):
    """AFLOC_ERR_IMAGE_FORMAT: malformed or unsupported image file."""


class BufferTooSmallError(AflocError):
    """AFLOC_ERR_BUFFER_TOO_SMALL."""


_ERRORS = {
    _capi.ERR_INVALID_ARGUMENT: InvalidArgumentError, _capi.ERR_OUT_OF_MEMORY: OutOfMemoryError,
    _capi.ERR_IO: AflocIOError, _capi.ERR_FORMAT: FormatError, _capi.ERR_LIMIT: LimitError,
    _capi.ERR_UNSUPPORTED: UnsupportedError, _capi.ERR_SCHEMA: SchemaError,
    _capi.ERR_CORRUPT: CorruptError, _capi.ERR_BACKEND_UNAVAILABLE: BackendUnavailableError,
    _capi.ERR_ABI_MISMATCH: AbiMismatchError, _capi.ERR_DEVICE_LOST: DeviceLostError,
    _capi.ERR_CANCELLED: CancelledError, _capi.ERR_UNSUPPORTED_ENV: UnsupportedEnvError,
    _capi.ERR_INTERNAL: InternalError, _capi.ERR_IMAGE_FORMAT: ImageFormatError,
    _capi.ERR_BUFFER_TOO_SMALL: BufferTooSmallError,
}


def _check(status):
    """Raises the AflocError for a non-OK status; the message is read on this thread at once."""
    if status != _capi.OK:
        message = _lib.afloc_last_error().decode("ascii", errors="replace")
        raise _ERRORS.get(status, AflocError)(status, message)


# ---- version and status ----


def version():
    """The run-time library version, "MAJOR.MINOR.PATCH"."""
    return _lib.afloc_version().decode()


def version_number():
    """The run-time library version as MAJOR*10000 + MINOR*100 + PATCH."""
    return int(_lib.afloc_version_number())


def status_string(status):
    """The constant name of a status ("AFLOC_ERR_LIMIT"; "AFLOC_STATUS_UNKNOWN" if unknown)."""
    return _lib.afloc_status_string(int(status)).decode()


# ---- small helpers ----


def _text(value, what, nul_terminated=True):
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    else:
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if nul_terminated and b"\0" in data:
        raise ValueError("%s contains a NUL character" % what)
    return data


def _path(value, what="path"):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (str, os.PathLike)):
        return os.fsencode(value)
    raise TypeError("%s must be str or os.PathLike, not %s" % (what, type(value).__name__))


def _text_list(values, what):
    if isinstance(values, (str, bytes)):
        raise TypeError("%s must be a sequence of texts, not one text" % what)
    items = [_text(v, "%s[%d]" % (what, i)) for i, v in enumerate(values)]
    if not items:
        raise ValueError("%s is empty" % what)
    return items, (ctypes.c_char_p * len(items))(*items)


def _read_string(call):
    """The buffer convention: call(None, 0, &needed), then call(buffer, needed, &needed)."""
    needed = ctypes.c_size_t(0)
    _check(call(None, 0, ctypes.byref(needed)))
    while True:
        buffer = ctypes.create_string_buffer(max(needed.value, 1))
        status = call(buffer, len(buffer), ctypes.byref(needed))
        if status != _capi.ERR_BUFFER_TOO_SMALL:
            _check(status)
            return buffer.value.decode("utf-8")


def _floats(count):
    out = np.empty(count, dtype=np.float32)
    return out, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


_PIXEL_TYPES = {np.dtype(np.uint8): _capi.PIXEL_U8, np.dtype(np.uint16): _capi.PIXEL_U16,
                np.dtype(np.float32): _capi.PIXEL_F32}
_INT32_MAX = 2 ** 31 - 1


def _image_view(image, significant_bits=None, what="image"):
    """Checks `image` and returns an ImageView of its pixels (the caller keeps `image` alive).

    Accepted: a numpy array, 2-D (H, W) gray or 3-D (H, W, 3) RGB / (H, W, 1) gray, dtype uint8,
    uint16 or float32 in native byte order, aligned, with packed pixels inside each row; rows may be
    any positive number of bytes apart (a row slice of a larger image is fine)."""
    if not isinstance(image, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, not %s" % (what, type(image).__name__))
    dtype = image.dtype
    if dtype not in _PIXEL_TYPES or not dtype.isnative:
        raise TypeError("%s dtype must be native uint8, uint16 or float32, not %s" % (what, dtype.str))
    if image.ndim == 2:
        channels = 1
    elif image.ndim == 3 and image.shape[2] in (1, 3):
        channels = image.shape[2]
    else:
        raise ValueError("%s must have shape (H, W), (H, W, 1) or (H, W, 3), not %s"
                         % (what, image.shape))
    height, width = image.shape[0], image.shape[1]
    if not (1 <= height <= _INT32_MAX and 1 <= width <= _INT32_MAX):
        raise ValueError("%s must not be empty, shape %s" % (what, image.shape))
    item = dtype.itemsize
    packed_row = width * channels * item
    if image.ndim == 3 and channels > 1 and image.strides[2] != item:
        raise ValueError("%s channels must be interleaved and contiguous (strides %s)"
                         % (what, image.strides))
    if width > 1 and image.strides[1] != channels * item:
        raise ValueError("%s pixels must be contiguous within a row (strides %s); use "
                         "numpy.ascontiguousarray" % (what, image.strides))
    row_stride = image.strides[0] if height > 1 else packed_row
    if row_stride < packed_row or row_stride % item:
        raise ValueError("%s rows must be at least %d bytes apart, in order, and a multiple of %d "
                         "(strides %s); use numpy.ascontiguousarray"
                         % (what, packed_row, item, image.strides))
    if not image.flags.aligned:
        raise ValueError("%s data is not aligned for %s" % (what, dtype))
    if significant_bits is None:
        significant_bits = getattr(image, "significant_bits", 0) if item == 2 else 0
    return _capi.ImageView(pixel_type=_PIXEL_TYPES[dtype], channels=channels, width=width,
                           height=height, row_stride=row_stride, pixels=image.ctypes.data,
                           significant_bits=int(significant_bits))


class _Handle:
    """An owned C handle: use() marks a call in flight, close() waits for those and frees once."""

    _free = None  # the C release function, set by subclasses

    def __init__(self, handle):
        self._ptr = handle
        self._busy = 0
        self._cond = threading.Condition()

    def _use(self):
        return _InUse(self)

    @property
    def closed(self):
        return self._ptr is None

    def _close_children(self):
        pass

    def close(self):
        """Releases the C object (idempotent). Waits for calls in flight on other threads."""
        with self._cond:
            if self._ptr is None:
                return
        self._close_children()
        with self._cond:
            while self._busy:
                self._cond.wait()
            handle, self._ptr = self._ptr, None
        if handle is not None:
            type(self)._free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_ptr", None) is not None:
                self.close()
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass


class _InUse:
    def __init__(self, owner):
        self.owner = owner

    def __enter__(self):
        owner = self.owner
        with owner._cond:
            if owner._ptr is None:
                raise ValueError("%s is closed" % type(owner).__name__)
            owner._busy += 1
        return owner._ptr

    def __exit__(self, *exc):
        owner = self.owner
        with owner._cond:
            owner._busy -= 1
            if not owner._busy:
                owner._cond.notify_all()


# ---- context ----

_BACKENDS = {"auto": _capi.BACKEND_AUTO, "cpu": _capi.BACKEND_CPU, "cuda": _capi.BACKEND_CUDA}
_BACKEND_NAMES = {v: k for k, v in _BACKENDS.items()}
_PRECISIONS = {"fp32": _capi.PRECISION_FP32, "bf16": _capi.PRECISION_BF16}


class Context(_Handle):
    """A libafloc context: the backend and its threads.

    ``backend``: "auto" (CUDA when available, else the CPU; ``info`` says why), "cpu" or "cuda"
    (BackendUnavailableError without a plugin, driver or device). ``num_threads``: CPU threads per
    call, 0 = all cores. ``log``: optional callable(level, message) for diagnostics (0 debug,
    1 info, 2 warning), possibly called from other threads; exceptions in it are swallowed.
    ``precision``: "fp32" (default, matches the CPU) or "bf16" (CUDA: bf16 tensor-core GEMMs and
    TF32 convolutions; a CPU context computes fp32 either way). Closing a context closes the models
    made from it."""

    _free = staticmethod(_lib.afloc_context_free)

    def __init__(self, backend="auto", num_threads=0, device_index=0, plugin_path=None, log=None,
                 precision="fp32"):
        if backend not in _BACKENDS:
            raise ValueError("backend must be one of %s, not %r" % (sorted(_BACKENDS), backend))
        if precision not in _PRECISIONS:
            raise ValueError("precision must be one of %s, not %r" % (sorted(_PRECISIONS), precision))
        options = _capi.ContextOptions()
        _check(_lib.afloc_context_options_default(ctypes.byref(options)))
        options.backend = _BACKENDS[backend]
        options.num_threads = int(num_threads)
        options.device_index = int(device_index)
        options.precision = _PRECISIONS[precision]
        if plugin_path is not None:
            options.plugin_path = _path(plugin_path, "plugin_path")
        self._log = None
        if log is not None:
            if not callable(log):
                raise TypeError("log must be callable")

            def forward(user, level, message, _log=log):
                try:
                    _log(int(level), message.decode("utf-8", errors="replace"))
                except Exception:
                    pass
            self._log = _capi.LOG_FN(forward)  # kept alive as long as the context
            options.log = self._log
        handle = ctypes.c_void_p()
        _check(_lib.afloc_context_create(ctypes.byref(options), ctypes.byref(handle)))
        super().__init__(handle.value)
        self._models = weakref.WeakSet()

    def _close_children(self):
        for model in list(self._models):
            model.close()

    @property
    def backend(self):
        """The backend in use: "cpu" or "cuda"."""
        value = ctypes.c_int32()
        with self._use() as handle:
            _check(_lib.afloc_context_backend(handle, ctypes.byref(value)))
        return _BACKEND_NAMES.get(value.value, str(value.value))

    @property
    def info(self):
        """A human-readable description: backend, device, and why CUDA was not chosen."""
        with self._use() as handle:
            return _read_string(lambda b, c, n: _lib.afloc_context_info(handle, b, c, n))

    def __repr__(self):
        return "<afloc.Context %s>" % ("closed" if self.closed else self.backend)


# ---- model ----

Dims = collections.namedtuple("Dims", "embedding_dim grid_side frame_size token_length")
Dims.__doc__ = ("Model sizes: D (embedding length), S (local grid side), the model frame side "
                "(crop_size) and the token slots per text.")

_MAPS = ("grid", "smoothed", "frame", "original")
_MAP_ALIGNMENTS = {"model": _capi.MAP_ALIGN_MODEL, "reference": _capi.MAP_ALIGN_REFERENCE,
                   "centred": _capi.MAP_ALIGN_CENTRED,
                   "centred_cubic": _capi.MAP_ALIGN_CENTRED_CUBIC}


def _vocab_bytes(vocab):
    """A vocabulary given as a path, as bytes, or as a str holding newlines (the contents)."""
    if isinstance(vocab, (bytes, bytearray)):
        return bytes(vocab)
    if isinstance(vocab, str) and "\n" in vocab:
        return vocab.encode("utf-8")
    if isinstance(vocab, (str, os.PathLike)):
        with open(vocab, "rb") as f:
            return f.read()
    raise TypeError("vocab must be a path, bytes or the vocabulary text, not %s"
                    % type(vocab).__name__)


def _config_json(config):
    if config is None:
        return None
    if isinstance(config, dict):
        return json.dumps(config).encode("utf-8")
    if isinstance(config, (str, bytes)):
        return _text(config, "config")
    raise TypeError("config must be a dict, a JSON string or None, not %s" % type(config).__name__)


def config_default():
    """The paper's model config (every key) as a dict."""
    return json.loads(_read_string(_lib.afloc_model_config_default))


class Model(_Handle):
    """An AFLoc model (immutable; any number of threads may use it at once).

    Make one with Model.create, Model.load or Model.import_safetensors. It keeps its Context alive;
    closing the context closes the model."""

    _free = staticmethod(_lib.afloc_model_free)

    def __init__(self, handle, context):
        dims = _capi.ModelDims()
        _check(_lib.afloc_model_get_dims(handle, ctypes.byref(dims)))
        super().__init__(handle)  # from here on close() owns the handle
        self.dims = Dims(dims.embedding_dim, dims.grid_side, dims.frame_size, dims.token_length)
        self.context = context
        self._sets = weakref.WeakSet()
        context._models.add(self)

    def _close_children(self):
        for prompt_set in list(self._sets):
            prompt_set.close()

    @classmethod
    def create(cls, context, config=None, vocab=None, seed=0):
        """A model with fresh PyTorch-style initial weights. `config`: dict, JSON text or None (the
        paper's); `vocab`: the WordPiece vocabulary (path, bytes, or text with newlines) holding
        exactly config["vocab_size"] tokens; `seed`: 0..2**64-1."""
        if vocab is None:
            raise TypeError("Model.create needs a vocabulary (vocab=path or contents)")
        data, config_json = _vocab_bytes(vocab), _config_json(config)
        handle = ctypes.c_void_p()
        with context._use() as ctx:
            _check(_lib.afloc_model_create(ctx, config_json, data, len(data), int(seed),
                                           ctypes.byref(handle)))
        return cls._adopt(handle.value, context)

    @classmethod
    def load(cls, context, path):
        """Loads a libafloc model file (validated whole before use)."""
        handle = ctypes.c_void_p()
        with context._use() as ctx:
            _check(_lib.afloc_model_load(ctx, _path(path), ctypes.byref(handle)))
        return cls._adopt(handle.value, context)

    @classmethod
    def import_safetensors(cls, context, tensors_path, vocab, config=None):
        """A model from plain safetensors weights named as in the official checkpoint."""
        data, config_json = _vocab_bytes(vocab), _config_json(config)
        handle = ctypes.c_void_p()
        with context._use() as ctx:
            _check(_lib.afloc_model_import_safetensors(ctx, _path(tensors_path), config_json, data,
                                                       len(data), ctypes.byref(handle)))
        return cls._adopt(handle.value, context)

    @classmethod
    def grow(cls, context, tensors_path, vocab, config, seed=1):
        """A trained model grown into a deeper image trunk (not in the paper): `config` may give
        ResNet stages more blocks (resnet_blocks) than the file has; the added blocks start as
        identities (their last BatchNorm scale 0, the rest seeded as Model.create would), so the
        grown model computes what the file's model computed until training moves them."""
        data, config_json = _vocab_bytes(vocab), _config_json(config)
        handle = ctypes.c_void_p()
        with context._use() as ctx:
            _check(_lib.afloc_model_grow(ctx, _path(tensors_path), config_json, data, len(data), seed,
                                         ctypes.byref(handle)))
        return cls._adopt(handle.value, context)

    @classmethod
    def _adopt(cls, handle, context):
        model = cls.__new__(cls)
        try:
            model.__init__(handle, context)
        except BaseException:
            if getattr(model, "_ptr", None) is None:  # the handle was not taken over
                _lib.afloc_model_free(handle)
            raise
        return model

    def save(self, path):
        """Writes the model file atomically; it loads back bit-identical."""
        with self._use() as handle:
            _check(_lib.afloc_model_save(handle, _path(path)))

    @property
    def config(self):
        """The model's config (every key) as a dict."""
        with self._use() as handle:
            return json.loads(_read_string(lambda b, c, n: _lib.afloc_model_get_config(handle, b, c, n)))

    def embed_image(self, image, local=False, significant_bits=None):
        """The global image embedding, float32 (D,); with local=True the pair (global, local),
        local being the layer3 embedding, float32 (D, S, S)."""
        view = _image_view(image, significant_bits)
        d, s = self.dims.embedding_dim, self.dims.grid_side
        g, g_ptr = _floats(d)
        if local:
            loc, loc_ptr, loc_len = *_floats(d * s * s), d * s * s
        else:
            loc, loc_ptr, loc_len = None, None, 0
        with self._use() as handle:
            _check(_lib.afloc_model_embed_image(handle, ctypes.byref(view), g_ptr, d, loc_ptr, loc_len))
        return (g, loc.reshape(d, s, s)) if local else g

    def embed_text(self, text):
        """The report embedding of `text` (cleaned as a prompt), float32 (D,)."""
        data = _text(text, "text")
        out, ptr = _floats(self.dims.embedding_dim)
        with self._use() as handle:
            _check(_lib.afloc_model_embed_text(handle, data, ptr, self.dims.embedding_dim))
        return out

    def _options(self, normalize, keep_one_word_prompts, map_alignment):
        options = _capi.LocalizeOptions()
        _check(_lib.afloc_localize_options_default(ctypes.byref(options)))
        options.normalize = 1 if normalize else 0
        options.keep_one_word_prompts = 1 if keep_one_word_prompts else 0
        if map_alignment not in _MAP_ALIGNMENTS:
            raise ValueError("map_alignment must be one of %s, not %r"
                             % (tuple(_MAP_ALIGNMENTS), map_alignment))
        options.map_alignment = _MAP_ALIGNMENTS[map_alignment]
        return options

    def _heatmaps(self, image, maps):
        """A Heatmaps struct with buffers for the wanted maps, and the arrays behind them."""
        names = (maps,) if isinstance(maps, str) else tuple(maps)
        if not names or any(n not in _MAPS for n in names):
            raise ValueError("maps must name some of %s, not %r" % (_MAPS, maps))
        s, f = self.dims.grid_side, self.dims.frame_size
        shapes = {"grid": (s, s), "smoothed": (s, s), "frame": (f, f),
                  "original": (image.shape[0], image.shape[1])}
        struct, arrays = _capi.Heatmaps(), {}
        for name in names:
            out, ptr = _floats(shapes[name][0] * shapes[name][1])
            setattr(struct, name, ptr)
            setattr(struct, name + "_len", out.size)
            arrays[name] = out.reshape(shapes[name])
        return struct, arrays

    def localize(self, image, text, normalize=True, keep_one_word_prompts=False,
                 maps="original", significant_bits=None, map_alignment="model"):
        """The heatmap of `text` over `image`. With maps="original" (default): float32 (H, W) on
        the image's own pixel grid, in [-1, 1] when normalize. `maps` may name another map ("grid"
        or "smoothed": (S, S) raw and smoothed similarity; "frame": the model frame) or be a
        tuple of names, giving a dict name -> array. `map_alignment`: "model" (the config's
        map_alignment), "reference" (the paper's resize), "centred" (each cell at the centre
        of its receptive field) or "centred_cubic" (the same places, bicubic between them)."""
        view = _image_view(image, significant_bits)
        data = _text(text, "text")
        struct, arrays = self._heatmaps(image, maps)
        options = self._options(normalize, keep_one_word_prompts, map_alignment)
        with self._use() as handle:
            _check(_lib.afloc_model_localize(handle, ctypes.byref(view), data, ctypes.byref(options),
                                             ctypes.byref(struct)))
        return arrays[maps] if isinstance(maps, str) else arrays

    def localize_batch(self, images, texts, normalize=True, keep_one_word_prompts=False,
                       maps="original", map_alignment="model"):
        """localize for pairs images[i], texts[i] in one call; a list of what localize returns."""
        images = list(images)
        items, text_array = _text_list(texts, "texts")
        if len(images) != len(items):
            raise ValueError("%d images but %d texts" % (len(images), len(items)))
        views = [_image_view(im, what="images[%d]" % i) for i, im in enumerate(images)]
        pairs = [self._heatmaps(im, maps) for im in images]
        options = self._options(normalize, keep_one_word_prompts, map_alignment)
        view_ptrs = (ctypes.POINTER(_capi.ImageView) * len(views))(*[ctypes.pointer(v) for v in views])
        map_ptrs = (ctypes.POINTER(_capi.Heatmaps) * len(pairs))(*[ctypes.pointer(p[0]) for p in pairs])
        with self._use() as handle:
            _check(_lib.afloc_model_localize_batch(handle, view_ptrs, text_array, len(items),
                                                   ctypes.byref(options), map_ptrs))
        return [arrays[maps] if isinstance(maps, str) else arrays for _, arrays in pairs]

    def grid_to_frame(self, grid, normalize=True, map_alignment="model"):
        """localize's read-out applied to your own (S, S) grid (e.g. the mean of several
        prompts' raw grids): Gaussian smoothing, drawing onto the model frame, and with normalize
        the min-max to [-1, 1]. Returns float32 (frame_size, frame_size)."""
        s, f = self.dims.grid_side, self.dims.frame_size
        grid = np.ascontiguousarray(grid, dtype=np.float32)
        if grid.shape != (s, s):
            raise ValueError("grid must have shape (%d, %d), not %r" % (s, s, grid.shape))
        options = self._options(normalize, False, map_alignment)
        frame, frame_ptr = _floats(f * f)
        with self._use() as handle:
            _check(_lib.afloc_model_grid_to_frame(
                handle, grid.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), grid.size,
                ctypes.byref(options), frame_ptr, frame.size))
        return frame.reshape(f, f)

    def classify(self, image, prompts, temperature=1.0, significant_bits=None):
        """Zero-shot classification: (scores, probabilities), float32 (K,) each; scores are the
        cosines of the image with each prompt, probabilities their softmax / temperature.
        `prompts`: a sequence of texts, or a PromptSet made by this model."""
        view = _image_view(image, significant_bits)
        if isinstance(prompts, PromptSet):
            if prompts.model is not self:
                raise ValueError("the PromptSet was made by another model")
            scores, s_ptr = _floats(len(prompts))
            probabilities, p_ptr = _floats(len(prompts))
            with self._use() as handle, prompts._use() as set_handle:
                _check(_lib.afloc_model_classify_prompt_set(handle, ctypes.byref(view), set_handle,
                                                            float(temperature), s_ptr, p_ptr))
            return scores, probabilities
        items, array = _text_list(prompts, "prompts")
        scores, s_ptr = _floats(len(items))
        probabilities, p_ptr = _floats(len(items))
        with self._use() as handle:
            _check(_lib.afloc_model_classify(handle, ctypes.byref(view), array, len(items),
                                             float(temperature), s_ptr, p_ptr))
        return scores, probabilities

    def prompt_set(self, prompts):
        """Encodes `prompts` once for classifying many images (see PromptSet)."""
        return PromptSet(self, prompts)

    def prompt_ensembles(self, ensembles):
        """Encodes prompt ensembles once: `ensembles` is a sequence of sequences of texts (say,
        several wordings per class); classify() then gives one score per ensemble, the cosine of
        the image with the mean of its prompts' unit text embeddings (see PromptSet)."""
        if isinstance(ensembles, (str, bytes)):
            raise TypeError("ensembles must be a sequence of sequences of texts")
        groups = [_text_list(g, "ensembles[%d]" % i)[0] for i, g in enumerate(ensembles)]
        if not groups:
            raise ValueError("ensembles is empty")
        return PromptSet(self, [t for g in groups for t in g],
                         ensemble_of=[i for i, g in enumerate(groups) for _ in g], ensemble_count=len(groups))

    def __repr__(self):
        return "<afloc.Model %s>" % ("closed" if self.closed else
                                     "D=%d S=%d frame=%d" % self.dims[:3])


class PromptSet(_Handle):
    """Prompts encoded once by one model; pass it to that model's classify(). Made by
    Model.prompt_set (one entry per prompt; `prompts` lists them) or Model.prompt_ensembles (one
    entry per ensemble; `prompts` lists each ensemble's texts)."""

    _free = staticmethod(_lib.afloc_prompt_set_free)

    def __init__(self, model, prompts, ensemble_of=None, ensemble_count=None):
        items, array = _text_list(prompts, "prompts")
        handle = ctypes.c_void_p()
        with model._use() as m:
            if ensemble_of is None:
                _check(_lib.afloc_prompt_set_create(m, array, len(items), ctypes.byref(handle)))
            else:
                groups = (ctypes.c_int32 * len(items))(*ensemble_of)
                _check(_lib.afloc_prompt_set_create_ensembles(m, array, len(items), groups,
                                                              ensemble_count, ctypes.byref(handle)))
        super().__init__(handle.value)
        self.model = model
        texts = [b.decode("utf-8", errors="replace") for b in items]
        if ensemble_of is None:
            self.prompts = texts
        else:
            self.prompts = [[t for t, e in zip(texts, ensemble_of) if e == i] for i in range(ensemble_count)]
        model._sets.add(self)

    def __len__(self):
        return len(self.prompts)


# ---- images ----


class PngImage(np.ndarray):
    """A decoded PNG: a numpy array (H, W) or (H, W, 3) of uint8 or uint16, plus
    ``significant_bits`` (from an sBIT chunk; 0 = all bits), which the functions taking images
    use for uint16 input unless told otherwise."""

    def __array_finalize__(self, obj):
        self.significant_bits = getattr(obj, "significant_bits", 0)


def _png_options(max_width, max_height, max_file_bytes, max_decode_bytes):
    options = _capi.PngOptions()
    _check(_lib.afloc_png_options_default(ctypes.byref(options)))
    for name, value in (("max_width", max_width), ("max_height", max_height),
                        ("max_file_bytes", max_file_bytes), ("max_decode_bytes", max_decode_bytes)):
        if value is not None:
            setattr(options, name, int(value))
    return options


def _take_image(handle):
    """Copies an afloc_image into a PngImage and frees it."""
    try:
        view = _capi.ImageView()
        _check(_lib.afloc_image_get_view(handle, ctypes.byref(view)))
        dtype = np.uint8 if view.pixel_type == _capi.PIXEL_U8 else np.uint16
        shape = (view.height, view.width) + ((3,) if view.channels == 3 else ())
        nbytes = view.row_stride * view.height
        raw = np.frombuffer((ctypes.c_char * nbytes).from_address(view.pixels), dtype=np.uint8)
        rows = raw.reshape(view.height, view.row_stride)[:, :view.width * view.channels * np.dtype(dtype).itemsize]
        # A copy (np.array, not ascontiguousarray, which may return a view): the image is freed below.
        out = np.array(rows, copy=True, order="C").view(dtype).reshape(shape).view(PngImage)
        out.significant_bits = int(view.significant_bits)
        return out
    finally:
        _lib.afloc_image_free(handle)


def load_png(path, max_width=None, max_height=None, max_file_bytes=None, max_decode_bytes=None):
    """Reads a PNG file: a PngImage (H, W) gray or (H, W, 3) RGB, uint8 or uint16 (16-bit files
    stay 16-bit; palette becomes RGB; alpha is dropped). Limits default to the library's."""
    options = _png_options(max_width, max_height, max_file_bytes, max_decode_bytes)
    handle = ctypes.c_void_p()
    _check(_lib.afloc_image_load_png(_path(path), ctypes.byref(options), ctypes.byref(handle)))
    return _take_image(handle.value)


def decode_png(data, max_width=None, max_height=None, max_file_bytes=None, max_decode_bytes=None):
    """load_png on PNG bytes held in memory (bytes, bytearray or memoryview)."""
    data = bytes(data)
    options = _png_options(max_width, max_height, max_file_bytes, max_decode_bytes)
    handle = ctypes.c_void_p()
    _check(_lib.afloc_image_decode_png(data, len(data), ctypes.byref(options), ctypes.byref(handle)))
    return _take_image(handle.value)


def encode_png(image, significant_bits=None):
    """PNG bytes of `image` (uint8/uint16 kept as they are; float32 in [0, 1] written as 8-bit)."""
    view = _image_view(image, significant_bits)
    size = ctypes.c_size_t(0)
    _check(_lib.afloc_image_encode_png(ctypes.byref(view), None, 0, ctypes.byref(size)))
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    _check(_lib.afloc_image_encode_png(ctypes.byref(view), buffer, len(buffer), ctypes.byref(size)))
    return buffer.raw[:size.value]


def save_png(image, path, significant_bits=None):
    """Writes `image` as a PNG file atomically (as encode_png)."""
    view = _image_view(image, significant_bits)
    _check(_lib.afloc_image_save_png(ctypes.byref(view), _path(path)))


# ---- preprocessing ----

_GEOMETRY_FIELDS = tuple(name for name, _ in _capi.LetterboxGeometry._fields_[1:])


def _geometry_dict(geometry):
    return {name: int(getattr(geometry, name)) for name in _GEOMETRY_FIELDS}


def preprocess(image, image_size=None, crop_size=None, mean=None, std=None, significant_bits=None):
    """The official AFLoc preprocessing (gray, letterbox, centre crop, normalisation).
    Returns (input, geometry): input float32 (crop_size, crop_size); geometry a dict of the
    letterbox placement (for heatmap_to_original). Defaults: 224, 224, 0.5, 0.5."""
    view = _image_view(image, significant_bits)
    options = _capi.PreprocessOptions()
    _check(_lib.afloc_preprocess_options_default(ctypes.byref(options)))
    for name, value in (("image_size", image_size), ("crop_size", crop_size)):
        if value is not None:
            setattr(options, name, int(value))
    for name, value in (("mean", mean), ("std", std)):
        if value is not None:
            setattr(options, name, float(value))
    crop = max(int(options.crop_size), 1)
    out, ptr = _floats(crop * crop)
    geometry = _capi.LetterboxGeometry()
    _check(_lib.afloc_image_preprocess(ctypes.byref(view), ctypes.byref(options), ptr, out.size,
                                       ctypes.byref(geometry)))
    return out.reshape(crop, crop), _geometry_dict(geometry)


def letterbox_u8(image, size=224):
    """The 8-bit letterbox alone (uint8 input): (uint8 (size, size), geometry dict)."""
    view = _image_view(image)
    if view.pixel_type != _capi.PIXEL_U8:
        raise TypeError("letterbox_u8 needs a uint8 image, not %s" % image.dtype)
    size = int(size)
    if not 1 <= size <= 4096:
        raise ValueError("size must be 1..4096, not %d" % size)
    out = np.empty((size, size), dtype=np.uint8)
    geometry = _capi.LetterboxGeometry()
    _check(_lib.afloc_image_letterbox_u8(ctypes.byref(view), size,
                                         out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                         out.size, ctypes.byref(geometry)))
    return out, _geometry_dict(geometry)


def heatmap_to_original(geometry, heatmap):
    """Maps a (crop_size, crop_size) map in the model frame back onto the original pixel grid:
    float32 (source_height, source_width). `geometry`: the dict preprocess() returned."""
    try:
        g = _capi.LetterboxGeometry(**{name: int(geometry[name]) for name in _GEOMETRY_FIELDS})
    except KeyError as e:
        raise ValueError("geometry lacks %s" % e) from None
    if not isinstance(heatmap, np.ndarray):
        raise TypeError("heatmap must be a numpy.ndarray, not %s" % type(heatmap).__name__)
    if heatmap.dtype != np.float32 or not heatmap.dtype.isnative:
        raise TypeError("heatmap dtype must be float32, not %s" % heatmap.dtype.str)
    c = g.crop_size
    if heatmap.shape != (c, c):
        raise ValueError("heatmap must have shape (%d, %d), not %s" % (c, c, heatmap.shape))
    if not heatmap.flags.c_contiguous or not heatmap.flags.aligned:
        raise ValueError("heatmap must be C-contiguous and aligned")
    h, w = g.source_height, g.source_width
    if h < 1 or w < 1:
        raise ValueError("geometry source size %dx%d is not positive" % (w, h))
    out, ptr = _floats(w * h)
    _check(_lib.afloc_heatmap_to_original(ctypes.byref(g),
                                          heatmap.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                          heatmap.size, ptr, out.size))
    return out.reshape(h, w)


# ---- text ----


def clean_prompt(text):
    """The AFLoc reference's report cleaning of a prompt (a one-word prompt becomes "")."""
    data = _text(text, "text", nul_terminated=False)
    return _read_string(lambda b, c, n: _lib.afloc_text_clean_prompt(data, len(data), b, c, n))


class Tokenizer(_Handle):
    """BERT WordPiece tokenizer (as HuggingFace's BertTokenizerFast with do_lower_case).

    ``Tokenizer(vocab)``: vocab is a path, bytes, or the vocabulary text (a str with newlines);
    ``Tokenizer.from_model_file(path)`` takes the vocabulary of a model file."""

    _free = staticmethod(_lib.afloc_tokenizer_free)

    def __init__(self, vocab=None, max_length=None, max_chars_per_word=None, _model_file=None):
        options = _capi.TokenizerOptions()
        _check(_lib.afloc_tokenizer_options_default(ctypes.byref(options)))
        if max_length is not None:
            options.max_length = int(max_length)
        if max_chars_per_word is not None:
            options.max_chars_per_word = int(max_chars_per_word)
        handle = ctypes.c_void_p()
        if _model_file is not None:
            _check(_lib.afloc_tokenizer_load_model_file(_path(_model_file), ctypes.byref(options),
                                                        ctypes.byref(handle)))
        elif isinstance(vocab, (str, os.PathLike)) and not (isinstance(vocab, str) and "\n" in vocab):
            _check(_lib.afloc_tokenizer_load(_path(vocab), ctypes.byref(options), ctypes.byref(handle)))
        else:
            data = _vocab_bytes(vocab)
            _check(_lib.afloc_tokenizer_create(data, len(data), ctypes.byref(options),
                                               ctypes.byref(handle)))
        super().__init__(handle.value)
        self.max_length = int(options.max_length)

    @classmethod
    def from_model_file(cls, path, max_length=None, max_chars_per_word=None):
        return cls(max_length=max_length, max_chars_per_word=max_chars_per_word, _model_file=path)

    def __len__(self):
        size = ctypes.c_int32()
        with self._use() as handle:
            _check(_lib.afloc_tokenizer_vocab_size(handle, ctypes.byref(size)))
        return size.value

    @property
    def vocab_size(self):
        return len(self)

    def token_id(self, token):
        """The id of vocabulary entry `token` (matched exactly), or None."""
        value = ctypes.c_int32()
        with self._use() as handle:
            _check(_lib.afloc_tokenizer_token_id(handle, _text(token, "token"), ctypes.byref(value)))
        return None if value.value < 0 else value.value

    def token_text(self, token_id):
        """The text of vocabulary entry `token_id`."""
        with self._use() as handle:
            return _read_string(lambda b, c, n: _lib.afloc_tokenizer_token_text(
                handle, int(token_id), b, c, n))

    def encode(self, text):
        """(ids, attention_mask, length): int32 arrays of max_length ([CLS] pieces [SEP], padded
        with [PAD]) and the real-token count. No report cleaning (see clean_prompt)."""
        data = _text(text, "text", nul_terminated=False)
        n = self.max_length
        ids = np.empty(n, dtype=np.int32)
        mask = np.empty(n, dtype=np.int32)
        length = ctypes.c_int32()
        p = ctypes.POINTER(ctypes.c_int32)
        with self._use() as handle:
            _check(_lib.afloc_tokenizer_encode(handle, data, len(data), ids.ctypes.data_as(p),
                                               mask.ctypes.data_as(p), n, ctypes.byref(length)))
        return ids, mask, length.value


# ---- model files ----


def model_file_inspect(path):
    """Describes a model file (validated whole): a dict with format, config, vocab_size,
    tensor_count and tensors (name, dtype, shape)."""
    encoded = _path(path)
    return json.loads(_read_string(lambda b, c, n: _lib.afloc_model_file_inspect(encoded, b, c, n)))
