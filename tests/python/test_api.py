"""The Pythonic API: every public function, error paths (status + message, bad arrays refused
before any pointer crosses), numpy round trips."""
import ctypes
import json

import numpy as np
import pytest

import afloc
from afloc import _capi
from afloc import api

from conftest import PROMPTS, TEXT, VOCAB_PATH


# ---- errors ----

def test_error_carries_status_and_message(context, tmp_path):
    with pytest.raises(afloc.AflocIOError) as info:
        afloc.Model.load(context, tmp_path / "missing.safetensors")
    e = info.value
    assert e.status == 3 and e.status_name == "AFLOC_ERR_IO"
    assert "afloc_model_load" in e.message and "missing.safetensors" in e.message
    assert str(e).startswith("AFLOC_ERR_IO: ")
    assert isinstance(e, afloc.AflocError)


def test_error_subclasses(context, config, model, gray8, tmp_path):
    with pytest.raises(afloc.FormatError):
        afloc.Model.create(context, config=dict(config, no_such_key=1), vocab=VOCAB_PATH)
    with pytest.raises(afloc.InvalidArgumentError) as info:  # also a ValueError
        afloc.Model.create(context, config=dict(config, vocab_size=7), vocab=VOCAB_PATH)
    assert isinstance(info.value, ValueError) and "vocab" in info.value.message
    with pytest.raises(afloc.ImageFormatError):
        afloc.decode_png(b"certainly not a PNG")
    with pytest.raises(afloc.LimitError):
        model.embed_text("a" * (afloc._capi.MAX_TEXT_BYTES + 1))
    with pytest.raises(afloc.InvalidArgumentError, match="temperature"):
        model.classify(gray8, PROMPTS, temperature=0.0)
    with pytest.raises(afloc.InvalidArgumentError):
        model.classify(gray8, PROMPTS, temperature=float("nan"))
    not_a_model = tmp_path / "x.safetensors"
    not_a_model.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(afloc.AflocError) as info:
        afloc.Model.load(context, not_a_model)
    assert info.value.status_name in ("AFLOC_ERR_FORMAT", "AFLOC_ERR_SCHEMA", "AFLOC_ERR_CORRUPT")
    with pytest.raises(afloc.InvalidArgumentError):
        afloc.preprocess(gray8, image_size=100, crop_size=200)
    with pytest.raises(afloc.InvalidArgumentError):
        afloc.preprocess(np.full((4, 4), np.nan, dtype=np.float32))


def test_context_backends():
    with pytest.raises(ValueError, match="backend"):
        afloc.Context(backend="tpu")
    try:
        ctx = afloc.Context(backend="cuda")
    except (afloc.BackendUnavailableError, afloc.AbiMismatchError) as e:
        assert "cuda" in e.message.lower() or "plugin" in e.message.lower()
    else:
        assert ctx.backend == "cuda"
        ctx.close()
    messages = []
    with afloc.Context(backend="auto", log=lambda level, m: messages.append((level, m))) as ctx:
        assert ctx.backend in ("cpu", "cuda")
        assert ctx.backend in ctx.info
        assert repr(ctx).startswith("<afloc.Context")
    assert ctx.closed
    with pytest.raises(ValueError, match="closed"):
        ctx.backend
    ctx.close()  # idempotent


def test_context_precision():
    with pytest.raises(ValueError, match="precision"):
        afloc.Context(backend="cpu", precision="fp16")
    with afloc.Context(backend="cpu", precision="bf16") as ctx:  # a CPU context computes fp32
        assert ctx.backend == "cpu"
    assert _capi.PRECISION_FP32 == 0 and _capi.PRECISION_BF16 == 1


def _recording(monkeypatch):
    """Replaces the library seen by api.py with a proxy recording the C functions called."""
    calls = []

    class Recorder:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(afloc._capi.lib, name)
    monkeypatch.setattr(api, "_lib", Recorder())
    return calls


BAD_DTYPES = [np.int32, np.float64, np.int8, np.dtype(">u2"), np.bool_]
BAD_SHAPES = [(70,), (50, 70, 4), (50, 70, 2), (2, 50, 70, 3), (0, 70), (50, 0)]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
def test_bad_dtype_refused_before_the_call(model, monkeypatch, dtype):
    image = np.zeros((50, 70), dtype=dtype)
    calls = _recording(monkeypatch)
    for call in (lambda: model.localize(image, TEXT), lambda: model.embed_image(image),
                 lambda: model.classify(image, PROMPTS), lambda: afloc.preprocess(image),
                 lambda: afloc.encode_png(image)):
        with pytest.raises(TypeError, match="dtype"):
            call()
    assert calls == []


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=str)
def test_bad_shape_refused_before_the_call(model, monkeypatch, shape):
    image = np.zeros(shape, dtype=np.uint8)
    calls = _recording(monkeypatch)
    with pytest.raises(ValueError):
        model.localize(image, TEXT)
    with pytest.raises(ValueError):
        afloc.save_png(image, "never-written.png")
    assert calls == []


def test_bad_layout_refused_before_the_call(model, monkeypatch, gray8, rgb8):
    bad = {
        "column step": gray8[:, ::2],
        "fortran order": np.asfortranarray(gray8),
        "transposed": gray8.T,
        "reversed rows": gray8[::-1],
        "planar channels": np.ascontiguousarray(rgb8.transpose(2, 0, 1)).transpose(1, 2, 0),
        "unaligned": np.frombuffer(b"\0" + bytes(2 * 50 * 70), dtype=np.uint16, offset=1).reshape(50, 70),
    }
    calls = _recording(monkeypatch)
    for name, image in bad.items():
        with pytest.raises(ValueError):
            model.embed_image(image)
    for value in ([[1, 2], [3, 4]], "image.png", None):
        with pytest.raises(TypeError):
            model.embed_image(value)
    with pytest.raises(ValueError, match="NUL"):
        model.embed_text("a\0b")
    with pytest.raises(TypeError):
        model.embed_text(42)
    with pytest.raises(TypeError, match="sequence"):
        model.classify(gray8, "one prompt")
    with pytest.raises(ValueError, match="empty"):
        model.classify(gray8, [])
    with pytest.raises(ValueError, match="maps"):
        model.localize(gray8, TEXT, maps=("original", "nope"))
    assert calls == []


def test_row_strided_views_are_accepted_and_exact(model, gray8, rgb8):
    big = np.zeros((80, 100), dtype=np.uint8)
    big[10:60, 20:90] = gray8
    crop = big[10:60, 20:90]
    assert not crop.flags.c_contiguous
    assert np.array_equal(model.localize(crop, TEXT), model.localize(gray8, TEXT))
    assert np.array_equal(model.embed_image(gray8[::2]), model.embed_image(np.ascontiguousarray(gray8[::2])))
    big3 = np.zeros((70, 50, 3), dtype=np.uint8)
    big3[3:64, 2:47] = rgb8
    assert np.array_equal(model.embed_image(big3[3:64, 2:47]), model.embed_image(rgb8))
    gray_1 = gray8[:, :, None]
    assert np.array_equal(model.embed_image(gray_1), model.embed_image(gray8))


# ---- models ----

def test_model_create_save_load_round_trip(context, config, model, model_path, gray8, tmp_path):
    with open(VOCAB_PATH, "rb") as f:
        vocab = f.read()
    fresh = afloc.Model.create(context, config=json.dumps(config), vocab=vocab, seed=3)
    assert fresh.config == model.config
    assert fresh.dims == model.dims == afloc.Dims(32, model.dims.grid_side, 64, 97)
    for key, value in config.items():
        assert fresh.config[key] == value
    assert np.array_equal(fresh.embed_image(gray8), model.embed_image(gray8))
    other = afloc.Model.create(context, config=config, vocab=vocab.decode(), seed=4)
    assert not np.array_equal(other.embed_image(gray8), model.embed_image(gray8))
    path = tmp_path / "again.safetensors"
    fresh.save(path)
    with open(path, "rb") as a, open(model_path, "rb") as b:
        assert a.read() == b.read()
    fresh.close()
    with pytest.raises(ValueError, match="closed"):
        fresh.embed_text(TEXT)
    assert "closed" in repr(fresh)
    with pytest.raises(TypeError):
        afloc.Model.create(context, config=config)
    other.close()


def test_config_default_and_inspect(model_path, config):
    default = afloc.config_default()
    assert default["embedding_dim"] == 768 and default["resnet_blocks"] == [3, 4, 6, 3]
    info = afloc.model_file_inspect(model_path)
    assert info["format"] == "1" and info["vocab_size"] == config["vocab_size"]
    assert info["tensor_count"] == len(info["tensors"])
    assert any(t["name"] == "tokenizer.vocab" for t in info["tensors"])
    assert info["config"]["bert_layers"] == config["bert_layers"]


def test_import_safetensors(context, config, model, model_path, gray8, tmp_path):
    # A model file is itself a safetensors file whose parameters the importer takes as they are.
    with afloc.Model.import_safetensors(context, model_path, VOCAB_PATH, config=config) as imported:
        assert np.array_equal(imported.embed_image(gray8), model.embed_image(gray8))
    from afloc.convert import write_plain_safetensors
    wrong = tmp_path / "wrong.safetensors"
    write_plain_safetensors(str(wrong), {"not.a.parameter": np.zeros(3, dtype=np.float32)})
    with pytest.raises(afloc.SchemaError) as info:
        afloc.Model.import_safetensors(context, wrong, VOCAB_PATH, config=config)
    assert "afloc_model_import_safetensors" in info.value.message


def test_grow(context, config, model, model_path, gray8):
    # one more layer-3 block: it starts as an identity, so the embeddings are the model's, bit for bit
    blocks = list(config.get("resnet_blocks", [3, 4, 6, 3]))
    deeper = dict(config, resnet_blocks=blocks[:2] + [blocks[2] + 1] + blocks[3:])
    with afloc.Model.grow(context, model_path, VOCAB_PATH, deeper, seed=4) as grown:
        assert grown.config["resnet_blocks"][2] == blocks[2] + 1
        assert np.array_equal(grown.embed_image(gray8), model.embed_image(gray8))
    wider = dict(deeper, resnet_planes=[2 * p for p in config["resnet_planes"]])  # other shapes: no growth
    with pytest.raises(afloc.SchemaError, match="afloc_model_grow"):
        afloc.Model.grow(context, model_path, VOCAB_PATH, wider)


def test_embeddings_and_maps(model, gray8):
    d, s, f = model.dims.embedding_dim, model.dims.grid_side, model.dims.frame_size
    g = model.embed_image(gray8)
    g2, local = model.embed_image(gray8, local=True)
    assert g.dtype == np.float32 and g.shape == (d,) and np.array_equal(g, g2)
    assert local.shape == (d, s, s) and np.isfinite(local).all()
    t = model.embed_text(TEXT)
    assert t.shape == (d,) and np.array_equal(t, model.embed_text(TEXT.encode()))
    heat = model.localize(gray8, TEXT)
    assert heat.shape == gray8.shape and heat.dtype == np.float32
    assert -1.0 <= heat.min() and heat.max() <= 1.0
    maps = model.localize(gray8, TEXT, maps=("grid", "smoothed", "frame", "original"))
    assert maps["grid"].shape == maps["smoothed"].shape == (s, s) and maps["frame"].shape == (f, f)
    assert np.array_equal(maps["original"], heat)
    # The raw grid is img_emb_l . text_emb_r
    assert np.allclose(maps["grid"], np.einsum("dij,d->ij", local, t), rtol=1e-4, atol=1e-5)
    raw = model.localize(gray8, TEXT, normalize=False, maps="frame")
    assert not np.array_equal(raw, maps["frame"])
    # one-word prompts: cleaned to nothing unless kept
    assert np.array_equal(model.embed_text("cardiomegaly"), model.embed_text(""))
    kept = model.localize(gray8, "cardiomegaly", keep_one_word_prompts=True, maps="grid")
    assert not np.array_equal(kept, model.localize(gray8, "cardiomegaly", maps="grid"))
    # the read-outs: the model's default (this config: the reference one) and the centred one,
    # which reads the same smoothed grid at other points (only the frame changes)
    assert model.config["map_alignment"] == 0
    ref = model.localize(gray8, TEXT, maps=("smoothed", "frame"), map_alignment="reference")
    cen = model.localize(gray8, TEXT, maps=("smoothed", "frame"), map_alignment="centred")
    assert np.array_equal(ref["frame"], maps["frame"]) and np.array_equal(ref["smoothed"], cen["smoothed"])
    assert not np.array_equal(cen["frame"], ref["frame"])
    cub = model.localize(gray8, TEXT, maps=("smoothed", "frame"), map_alignment="centred_cubic")
    assert np.array_equal(cub["smoothed"], cen["smoothed"])
    assert not np.array_equal(cub["frame"], cen["frame"])
    # unnormalised, both read cell (0, 0) at frame pixel (0, 0), where the cubic weights are 0 1 0 0
    raw_cen, raw_cub = (model.localize(gray8, TEXT, normalize=False, maps="frame", map_alignment=a)
                        for a in ("centred", "centred_cubic"))
    assert raw_cub[0, 0] == raw_cen[0, 0] == cen["smoothed"][0, 0]
    with pytest.raises(ValueError, match="map_alignment"):
        model.localize(gray8, TEXT, map_alignment="left")


def test_localize_batch(model, gray8, rgb8):
    single = [model.localize(gray8, TEXT), model.localize(rgb8, PROMPTS[0])]
    batch = model.localize_batch([gray8, rgb8], [TEXT, PROMPTS[0]])
    assert all(np.array_equal(a, b) for a, b in zip(single, batch))
    dicts = model.localize_batch([gray8], [TEXT], maps=("grid", "frame"))
    assert set(dicts[0]) == {"grid", "frame"}
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        model.localize_batch([gray8, rgb8], [TEXT])


def test_grid_to_frame(model, gray8):
    """grid_to_frame is localize's read-out: localize's own raw grid gives its frame bit for
    bit, in every read-out and with and without the normalisation; a grid of the wrong shape or
    with a NaN is refused, and the output is the caller's (frame_size, frame_size)."""
    s, f = model.dims.grid_side, model.dims.frame_size
    for align in ("model", "reference", "centred", "centred_cubic"):
        for normalize in (True, False):
            maps = model.localize(gray8, TEXT, maps=("grid", "frame"), normalize=normalize,
                                  map_alignment=align)
            frame = model.grid_to_frame(maps["grid"], normalize=normalize, map_alignment=align)
            assert frame.shape == (f, f) and np.array_equal(frame, maps["frame"]), (align, normalize)
    # a one-hot grid peaks where its cell is drawn: cell (0, 0) at the frame's top-left corner
    one = np.zeros((s, s), np.float32)
    one[0, 0] = 1
    frame = model.grid_to_frame(one, map_alignment="centred")
    assert np.unravel_index(np.argmax(frame), frame.shape) == (0, 0) and frame.max() == 1.0
    with pytest.raises(ValueError, match="shape"):
        model.grid_to_frame(np.zeros((s, s + 1), np.float32))
    one[1, 2] = np.nan
    with pytest.raises(afloc.AflocError, match=r"grid\[%d\] is not finite" % (s + 2)):
        model.grid_to_frame(one)


def test_classify_and_prompt_sets(context, config, model, gray8, rgb8):
    scores, probabilities = model.classify(gray8, PROMPTS)
    assert scores.shape == probabilities.shape == (3,)
    assert abs(float(probabilities.sum()) - 1) < 1e-5 and np.all(np.abs(scores) <= 1 + 1e-6)
    with model.prompt_set(PROMPTS) as prompts:
        assert len(prompts) == 3 and prompts.prompts == PROMPTS
        s2, p2 = model.classify(gray8, prompts)
        assert np.array_equal(s2, scores) and np.array_equal(p2, probabilities)
        _, sharp = model.classify(rgb8, prompts, temperature=0.05)
        _, soft = model.classify(rgb8, prompts)
        assert sharp.max() >= soft.max()
        with afloc.Model.create(context, config=config, vocab=VOCAB_PATH, seed=9) as other:
            with pytest.raises(ValueError, match="another model"):
                other.classify(gray8, prompts)
    with pytest.raises(ValueError, match="closed"):
        model.classify(gray8, prompts)


def test_prompt_ensembles_against_numpy(model, gray8, rgb8):
    """The ensemble score is the cosine of the global image embedding with the mean of the
    prompts' unit report embeddings, recomputed here in float64 from embed_image/embed_text;
    tolerance 1e-5 (float32 sums over D). One-prompt ensembles score exactly as a plain set."""
    ensembles = [["a small left pleural effusion.", "there is a pleural effusion."],
                 ["no pleural effusion."], ["the heart is enlarged.", "cardiomegaly is seen.", "big heart."]]
    def unit(x):
        x = np.asarray(x, dtype=np.float64)
        return x / max(np.linalg.norm(x), 1e-8)
    with model.prompt_ensembles(ensembles) as pe:
        assert len(pe) == 3 and pe.prompts == ensembles
        for image in (gray8, rgb8):
            scores, probabilities = model.classify(image, pe, temperature=0.5)
            g = unit(model.embed_image(image))
            want = [float(g @ unit(np.mean([unit(model.embed_text(t)) for t in e], axis=0))) for e in ensembles]
            assert np.max(np.abs(scores - want)) < 1e-5, (scores, want)
            soft = np.exp(np.array(want) / 0.5)
            assert np.max(np.abs(probabilities - soft / soft.sum())) < 1e-5
    flat = [t for e in ensembles for t in e]
    with model.prompt_ensembles([[t] for t in flat]) as singles, model.prompt_set(flat) as plain:
        for a, b in zip(model.classify(gray8, singles), model.classify(gray8, plain)):
            assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        model.prompt_ensembles([])
    with pytest.raises(ValueError):
        model.prompt_ensembles([["one"], []])
    with pytest.raises(TypeError):
        model.prompt_ensembles("one text")
    lib = _capi.lib
    texts = (ctypes.c_char_p * 2)(b"one finding.", b"another finding.")
    handle = ctypes.c_void_p()
    with model._use() as m:
        for groups, count in (([0, 2], 2), ([0, 0], 2), ([0, -1], 2), ([0, 1], 0), ([0, 1], 3)):
            arr = (ctypes.c_int32 * 2)(*groups)
            st = lib.afloc_prompt_set_create_ensembles(m, texts, 2, arr, count, ctypes.byref(handle))
            assert st == _capi.ERR_INVALID_ARGUMENT and not handle.value, (groups, count)
        assert lib.afloc_prompt_set_create_ensembles(m, texts, 2, None, 1, ctypes.byref(handle)) == _capi.ERR_INVALID_ARGUMENT


def test_closing_a_context_closes_its_models(config):
    ctx = afloc.Context(backend="cpu")
    m = afloc.Model.create(ctx, config=config, vocab=VOCAB_PATH)
    ps = m.prompt_set(PROMPTS)
    ctx.close()
    assert m.closed and ps.closed
    with pytest.raises(ValueError, match="closed"):
        afloc.Model.create(ctx, config=config, vocab=VOCAB_PATH)


# ---- images, preprocessing ----

def test_png_round_trips(tmp_path, gray8, rgb8, gray16):
    for image in (gray8, rgb8, gray16):
        path = tmp_path / ("img%d.png" % image.ndim)
        afloc.save_png(image, path)
        back = afloc.load_png(str(path))
        assert isinstance(back, afloc.PngImage) and back.dtype == image.dtype
        assert back.shape == image.shape and np.array_equal(back, image)
        data = afloc.encode_png(image)
        assert data == path.read_bytes() and np.array_equal(afloc.decode_png(data), image)
    assert afloc.load_png(tmp_path / "img2.png").significant_bits in (0, 12)
    back16 = afloc.decode_png(afloc.encode_png(gray16))
    assert back16.significant_bits == 12
    assert afloc.decode_png(afloc.encode_png(gray16, significant_bits=0)).significant_bits == 0
    f = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    assert np.array_equal(afloc.decode_png(afloc.encode_png(f)), np.round(f * 255).astype(np.uint8))
    with pytest.raises(afloc.LimitError):
        afloc.load_png(tmp_path / "img2.png", max_width=10)
    with pytest.raises(afloc.AflocIOError):
        afloc.load_png(tmp_path / "missing.png")


def test_preprocess_letterbox_heatmap_to_original(model, gray8, gray16):
    x, geometry = afloc.preprocess(gray8)
    assert x.shape == (224, 224) and x.dtype == np.float32
    assert geometry["source_width"] == 70 and geometry["source_height"] == 50
    assert geometry["resized_width"] == 224 and geometry["resized_height"] == 160
    assert x.min() == -1.0  # the zero padding normalises to -1
    box, g2 = afloc.letterbox_u8(gray8, 224)
    assert box.dtype == np.uint8 and box.shape == (224, 224)
    assert {k: g2[k] for k in ("resized_width", "resized_height", "pad_left", "pad_top")} == \
        {k: geometry[k] for k in ("resized_width", "resized_height", "pad_left", "pad_top")}
    # The u8 path: x = v/127.5 - 1 exactly as documented.
    assert np.array_equal(x, ((box.astype(np.float32) / 255 - np.float32(0.5)) / np.float32(0.5)))
    # The model's own frame and the original map: heatmap_to_original of the frame map.
    cfg = model.config
    _, gm = afloc.preprocess(gray8, image_size=cfg["image_size"], crop_size=cfg["crop_size"])
    maps = model.localize(gray8, TEXT, maps=("frame", "original"))
    assert np.array_equal(afloc.heatmap_to_original(gm, maps["frame"]), maps["original"])
    with pytest.raises(ValueError, match="shape"):
        afloc.heatmap_to_original(gm, maps["frame"][:10])
    with pytest.raises(TypeError):
        afloc.heatmap_to_original(gm, maps["frame"].astype(np.float64))
    with pytest.raises(ValueError, match="lacks"):
        afloc.heatmap_to_original({"crop_size": 64}, maps["frame"])
    x16, _ = afloc.preprocess(gray16, crop_size=200, mean=0.25, std=2.0)
    assert x16.shape == (200, 200)
    with pytest.raises(TypeError):
        afloc.letterbox_u8(gray16)
    with pytest.raises(ValueError):
        afloc.letterbox_u8(gray8, 0)


# ---- text ----

def test_clean_prompt():
    assert afloc.clean_prompt("Cardiomegaly.") == ""
    assert afloc.clean_prompt("1. Small LEFT effusion.  2. No pneumothorax") == \
        "small left effusion no pneumothorax"
    assert afloc.clean_prompt(b"a\xffb c") == "a b c"


def test_tokenizer(model_path):
    with open(VOCAB_PATH, "rb") as f:
        vocab = f.read()
    for tok in (afloc.Tokenizer(VOCAB_PATH), afloc.Tokenizer(vocab), afloc.Tokenizer(vocab.decode()),
                afloc.Tokenizer.from_model_file(model_path)):
        with tok:
            assert len(tok) == tok.vocab_size == 101
            ids, mask, length = tok.encode("small left pleural effusion")
            assert ids.dtype == mask.dtype == np.int32 and ids.shape == (97,)
            assert ids[0] == tok.token_id("[CLS]") and ids[length - 1] == tok.token_id("[SEP]")
            assert mask.sum() == length and (ids[length:] == tok.token_id("[PAD]")).all()
            assert tok.token_text(int(ids[0])) == "[CLS]"
            assert tok.token_id("no such token") is None
            with pytest.raises(afloc.InvalidArgumentError):
                tok.token_text(101)
    short = afloc.Tokenizer(VOCAB_PATH, max_length=4, max_chars_per_word=5)
    ids, mask, length = short.encode("small left pleural effusion")
    assert ids.shape == (4,) and length == 4
    with pytest.raises(afloc.FormatError):
        afloc.Tokenizer(b"[PAD]\n[UNK]\n")
    with pytest.raises(afloc.AflocIOError):
        afloc.Tokenizer("/nonexistent/vocab.txt")


def test_public_names_resolve():
    for name in afloc.__all__:
        assert getattr(afloc, name) is not None
    assert "Trainer" in afloc.__all__ and "Trainer" in afloc.__doc__
    with pytest.raises(AttributeError):
        afloc.NoSuchName
    # The package lists the public names itself, so that `import afloc` loads nothing; this pins
    # that list to the modules' own, so a name added to one of them cannot be left out of it.
    from afloc import trainer
    modules = set(api.__all__) | set(trainer.__all__) | {"LibraryNotFoundError"}
    assert set(afloc.__all__) == modules
    assert set(afloc._TRAINER_NAMES) == set(trainer.__all__)
