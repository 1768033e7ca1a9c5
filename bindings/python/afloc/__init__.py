"""afloc: Python bindings of libafloc, annotation-free pathology localization (AFLoc).

    import afloc
    with afloc.Context(backend="cpu") as ctx:
        model = afloc.Model.load(ctx, "model.safetensors")
        image = afloc.load_png("chest.png")                 # numpy (H, W) uint8/uint16
        heatmap = model.localize(image, "small left pleural effusion")   # float32 (H, W)
        scores, probabilities = model.classify(image, ["pleural effusion", "no pleural effusion"])

What is here: Context, Model (create/load/import_safetensors/grow/save, config, dims, embed_image,
embed_text, localize, localize_batch, classify, prompt_set), PromptSet, the PNG functions
(load_png, decode_png, encode_png, save_png), preprocess, letterbox_u8, heatmap_to_original,
Tokenizer, clean_prompt, config_default, model_file_inspect, version, and AflocError with one
subclass per status. The raw ctypes declarations of every C function are in afloc._capi; the
checkpoint converter is ``python -m afloc.convert``.

Training: afloc.Trainer (step, fit over a manifest with a progress callback, checkpoints and
resume; see afloc.trainer).

libafloc.so is found through $AFLOC_LIBRARY, next to this package, in a build*/ folder of the
source tree the package runs from, or on the system path (see afloc._library). It is loaded on
first use of any name below, so ``import afloc`` itself never fails for want of the library and
``python -m afloc.convert --library PATH`` works without it on the search path.
"""
import importlib

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
    "LibraryNotFoundError",
    "Trainer", "LossTerms", "TrainProgress", "TrainerState",
]
_TRAINER_NAMES = ("Trainer", "LossTerms", "TrainProgress", "TrainerState")

__version__ = "0.1.0"  # of these bindings; version() is the loaded library's


def __getattr__(name):
    if name == "LibraryNotFoundError":
        from ._library import LibraryNotFoundError
        return LibraryNotFoundError
    if name in __all__:
        api = importlib.import_module(".trainer" if name in _TRAINER_NAMES else ".api", __name__)
        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError("module 'afloc' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
