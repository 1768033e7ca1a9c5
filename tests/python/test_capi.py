"""The ctypes layer against the header: every AFLOC_API function declared (in header order),
struct layouts equal to the compiler's, version and status names."""
import ctypes
import os
import re
import subprocess

import pytest

import afloc
from afloc import _capi

from conftest import HEADER_PATH, report


def header_text():
    with open(HEADER_PATH) as f:
        return f.read()


def test_every_api_function_declared_in_header_order():
    names = re.findall(r"AFLOC_API\s+[^;(]*?\b(afloc_\w+)\s*\(", header_text())
    assert len(names) >= 48, names
    declared = [name for name, _, _ in _capi.FUNCTIONS]
    assert declared == names, "missing: %s, extra: %s" % (sorted(set(names) - set(declared)),
                                                         sorted(set(declared) - set(names)))
    for name, argtypes, restype in _capi.FUNCTIONS:
        function = getattr(_capi.lib, name)
        assert function.argtypes == argtypes and function.restype is restype, name
    report("%d AFLOC_API functions declared" % len(names))


def test_version_matches_header():
    text = header_text()
    macros = {k: int(v) for k, v in re.findall(r"#define AFLOC_VERSION_(\w+) (\d+)", text)}
    assert (macros["MAJOR"], macros["MINOR"]) == (_capi.VERSION_MAJOR, _capi.VERSION_MINOR)
    expected = "%d.%d.%d" % (macros["MAJOR"], macros["MINOR"], macros["PATCH"])
    assert afloc.version() == expected
    assert afloc.version_number() == macros["MAJOR"] * 10000 + macros["MINOR"] * 100 + macros["PATCH"]


def test_status_constants_and_names_match_header():
    statuses = re.findall(r"\bAFLOC_(OK|ERR_\w+)\s*=\s*(\d+)", header_text())
    assert len(statuses) >= 17
    for name, value in statuses:
        assert getattr(_capi, name) == int(value), name
        assert afloc.status_string(int(value)) == "AFLOC_" + name
    assert afloc.status_string(9999) == "AFLOC_STATUS_UNKNOWN"
    for macro in ("MAX_TEXT_BYTES", "MAX_PROMPTS", "MAX_BATCH", "MAX_SEQUENCE_LENGTH"):
        assert hasattr(_capi, macro)


STRUCTS = {
    "afloc_context_options": _capi.ContextOptions, "afloc_image_view": _capi.ImageView,
    "afloc_png_options": _capi.PngOptions, "afloc_preprocess_options": _capi.PreprocessOptions,
    "afloc_letterbox_geometry": _capi.LetterboxGeometry,
    "afloc_tokenizer_options": _capi.TokenizerOptions, "afloc_model_dims": _capi.ModelDims,
    "afloc_localize_options": _capi.LocalizeOptions, "afloc_heatmaps": _capi.Heatmaps,
    "afloc_train_loss_terms": _capi.TrainLossTerms, "afloc_train_progress": _capi.TrainProgress,
    "afloc_trainer_options": _capi.TrainerOptions, "afloc_trainer_state": _capi.TrainerState,
}

# C names whose ctypes mirror is spelled differently (`global` is a Python keyword).
FIELD_NAMES = {("afloc_train_loss_terms", "global"): "global_"}


def test_struct_layouts_match_the_compiler():
    program = os.environ.get("AFLOC_C_REFERENCE")
    if not program:
        pytest.skip("AFLOC_C_REFERENCE not set (run through ctest)")
    lines = subprocess.run([program, "sizes"], check=True, capture_output=True, text=True).stdout
    checked = 0
    for line in lines.splitlines():
        struct, field, value = line.split()
        cls = STRUCTS[struct]
        if field == "sizeof":
            assert ctypes.sizeof(cls) == int(value), struct
            assert cls().struct_size == int(value), struct  # struct_size defaults to sizeof
        else:
            name = FIELD_NAMES.get((struct, field), field)
            assert getattr(cls, name).offset == int(value), (struct, field)
        checked += 1
    assert checked > 90
    report("%d struct offsets/sizes equal to C's" % checked)


def test_options_defaults_through_c():
    o = _capi.PreprocessOptions()
    assert _capi.lib.afloc_preprocess_options_default(ctypes.byref(o)) == 0
    assert (o.image_size, o.crop_size, o.mean, o.std) == (224, 224, 0.5, 0.5)
    t = _capi.TokenizerOptions()
    assert _capi.lib.afloc_tokenizer_options_default(ctypes.byref(t)) == 0
    assert (t.lowercase, t.max_length, t.max_chars_per_word) == (1, 97, 100)
    z = _capi.LocalizeOptions(struct_size=0)
    assert _capi.lib.afloc_localize_options_default(ctypes.byref(z)) == _capi.ERR_INVALID_ARGUMENT


def test_library_finding(tmp_path, monkeypatch):
    from afloc import _library
    monkeypatch.setenv("AFLOC_LIBRARY", str(tmp_path / "nope.so"))
    with pytest.raises(_library.LibraryNotFoundError, match="AFLOC_LIBRARY names .*nope.so"):
        _library.load_library()
    (tmp_path / "bad.so").write_bytes(b"not an ELF file")
    monkeypatch.setenv("AFLOC_LIBRARY", str(tmp_path / "bad.so"))
    with pytest.raises(_library.LibraryNotFoundError, match="cannot be loaded"):
        _library.load_library()
    monkeypatch.delenv("AFLOC_LIBRARY")
    assert [d for d, _ in _library.candidates()][-1] == "loader search path"
    assert afloc.LibraryNotFoundError is _library.LibraryNotFoundError
