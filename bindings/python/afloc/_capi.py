"""The ctypes mirror of include/afloc/afloc.h, in header order.

Every AFLOC_API function gets its argtypes and restype here; options and output structs are
ctypes.Structure subclasses whose ``struct_size`` defaults to their ctypes.sizeof; enums are plain
ints. Importing this module loads libafloc (see _library.py) and checks that its major version is
the one these declarations were written for, and that its minor version is not older.

This is the raw layer: arguments are not checked here (api.py does that) and statuses are
returned, not raised. Handles are c_void_p.
"""
import ctypes

from . import _library

# ---- version ----

VERSION_MAJOR = 0
VERSION_MINOR = 1
VERSION_PATCH = 0

# ---- status and errors (append-only) ----

OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_OUT_OF_MEMORY = 2
ERR_IO = 3
ERR_FORMAT = 4
ERR_LIMIT = 5
ERR_UNSUPPORTED = 6
ERR_SCHEMA = 7
ERR_CORRUPT = 8
ERR_BACKEND_UNAVAILABLE = 9
ERR_ABI_MISMATCH = 10
ERR_DEVICE_LOST = 11
ERR_CANCELLED = 12
ERR_UNSUPPORTED_ENV = 13
ERR_INTERNAL = 14
ERR_IMAGE_FORMAT = 15
ERR_BUFFER_TOO_SMALL = 16

# ---- context and backend ----

BACKEND_AUTO = 0
BACKEND_CPU = 1
BACKEND_CUDA = 2

PRECISION_FP32 = 0
PRECISION_BF16 = 1

# void (*afloc_log_fn)(void *user, int32_t level, const char *message)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)


class _Sized(ctypes.Structure):
    """A struct whose first field is struct_size, set to sizeof(the struct) unless given."""

    def __init__(self, *args, **kwargs):
        if not args:
            kwargs.setdefault("struct_size", ctypes.sizeof(type(self)))
        super().__init__(*args, **kwargs)


class ContextOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("backend", ctypes.c_int32),
                ("device_index", ctypes.c_int32),
                ("num_threads", ctypes.c_int32),
                ("log", LOG_FN),
                ("log_user", ctypes.c_void_p),
                ("plugin_path", ctypes.c_char_p),
                ("precision", ctypes.c_int32)]


# ---- image views ----

PIXEL_U8 = 1
PIXEL_U16 = 2
PIXEL_F32 = 3


class ImageView(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("pixel_type", ctypes.c_int32),
                ("channels", ctypes.c_int32),
                ("width", ctypes.c_int32),
                ("height", ctypes.c_int32),
                ("row_stride", ctypes.c_size_t),
                ("pixels", ctypes.c_void_p),
                ("significant_bits", ctypes.c_int32)]


# ---- images ----

class PngOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("max_width", ctypes.c_int32),
                ("max_height", ctypes.c_int32),
                ("max_file_bytes", ctypes.c_size_t),
                ("max_decode_bytes", ctypes.c_size_t)]


# ---- preprocessing ----

class PreprocessOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("image_size", ctypes.c_int32),
                ("crop_size", ctypes.c_int32),
                ("mean", ctypes.c_float),
                ("std", ctypes.c_float)]


class LetterboxGeometry(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("source_width", ctypes.c_int32),
                ("source_height", ctypes.c_int32),
                ("resized_width", ctypes.c_int32),
                ("resized_height", ctypes.c_int32),
                ("pad_left", ctypes.c_int32),
                ("pad_top", ctypes.c_int32),
                ("image_size", ctypes.c_int32),
                ("crop_left", ctypes.c_int32),
                ("crop_top", ctypes.c_int32),
                ("crop_size", ctypes.c_int32)]


# ---- text ----

MAX_TEXT_BYTES = 1 << 20
MAX_VOCAB_BYTES = 64 << 20
MAX_VOCAB_TOKENS = 1000000
MAX_VOCAB_TOKEN_BYTES = 256
MAX_SEQUENCE_LENGTH = 512


class TokenizerOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("lowercase", ctypes.c_int32),
                ("max_length", ctypes.c_int32),
                ("max_chars_per_word", ctypes.c_int32)]


# ---- inference ----

MAX_PROMPTS = 4096
MAX_BATCH = 4096


class ModelDims(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("embedding_dim", ctypes.c_int32),
                ("grid_side", ctypes.c_int32),
                ("frame_size", ctypes.c_int32),
                ("token_length", ctypes.c_int32)]


class LocalizeOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("normalize", ctypes.c_int32),
                ("keep_one_word_prompts", ctypes.c_int32),
                ("map_alignment", ctypes.c_int32)]


# afloc_localize_options.map_alignment
MAP_ALIGN_MODEL = -1
MAP_ALIGN_REFERENCE = 0
MAP_ALIGN_CENTRED = 1
MAP_ALIGN_CENTRED_CUBIC = 2


class Heatmaps(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("grid", ctypes.POINTER(ctypes.c_float)),
                ("grid_len", ctypes.c_size_t),
                ("smoothed", ctypes.POINTER(ctypes.c_float)),
                ("smoothed_len", ctypes.c_size_t),
                ("frame", ctypes.POINTER(ctypes.c_float)),
                ("frame_len", ctypes.c_size_t),
                ("original", ctypes.POINTER(ctypes.c_float)),
                ("original_len", ctypes.c_size_t)]


# ---- training ----

LR_SCHEDULE_CONSTANT = 0
LR_SCHEDULE_STEP = 1
LR_SCHEDULE_WARMUP_COSINE = 2
TRAIN_CAPTIONS_RANDOM = 0
TRAIN_CAPTIONS_FULL = 1


class TrainLossTerms(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("global_", ctypes.c_double),
                ("sentence", ctypes.c_double),
                ("word", ctypes.c_double),
                ("total", ctypes.c_double),
                ("grad_norm", ctypes.c_double),
                ("learning_rate", ctypes.c_double),
                ("step_seconds", ctypes.c_double),
                ("word_loss_seconds", ctypes.c_double),
                ("sentence_contrast", ctypes.c_double)]


class TrainProgress(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("step", ctypes.c_int64),
                ("epoch", ctypes.c_int32),
                ("epochs", ctypes.c_int32),
                ("batch", ctypes.c_int32),
                ("batches_per_epoch", ctypes.c_int32),
                ("loss", TrainLossTerms),
                ("images_per_second", ctypes.c_double),
                ("eta_seconds", ctypes.c_double)]


# int32_t (*afloc_train_progress_fn)(void *user, const afloc_train_progress *progress)
TRAIN_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(TrainProgress))


class TrainerOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("batch_size", ctypes.c_int32),
                ("epochs", ctypes.c_int32),
                ("seed", ctypes.c_uint64),
                ("threads", ctypes.c_int32),
                ("lr_schedule", ctypes.c_int32),
                ("learning_rate", ctypes.c_double),
                ("lr_gamma", ctypes.c_double),
                ("lr_step_epochs", ctypes.c_int32),
                ("warmup_steps", ctypes.c_int64),
                ("total_steps", ctypes.c_int64),
                ("min_learning_rate", ctypes.c_double),
                ("caption_mode", ctypes.c_int32),
                ("dropout", ctypes.c_float),
                ("drop_last", ctypes.c_int32),
                ("progress", TRAIN_PROGRESS_FN),
                ("progress_user", ctypes.c_void_p),
                ("loss_weight_global", ctypes.c_double),
                ("loss_weight_sentence", ctypes.c_double),
                ("loss_weight_word", ctypes.c_double),
                ("mirror_pairs", ctypes.c_int32),
                ("loss_weight_sentence_contrast", ctypes.c_double)]


class TrainerState(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("step", ctypes.c_int64),
                ("epoch", ctypes.c_int32),
                ("batch", ctypes.c_int32),
                ("seed", ctypes.c_uint64),
                ("learning_rate", ctypes.c_double)]


# ---- evaluation ----

EVAL_MAX_SIZE = 16384
EVAL_MAX_RESAMPLES = 1000000
EVAL_THRESHOLDS = 5


class EvalPairMetrics(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("iou", ctypes.c_double * 5),
                ("dice", ctypes.c_double * 5),
                ("cnr", ctypes.c_double),
                ("hit", ctypes.c_int32)]


class EvalSummary(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t)] + \
               [(name, ctypes.c_double) for metric in ("iou", "dice", "cnr", "pointing")
                for name in (metric, metric + "_lo", metric + "_hi")] + \
               [("iou_at", ctypes.c_double * 5),
                ("pairs", ctypes.c_int32),
                ("categories", ctypes.c_int32)]


class SynthOptions(_Sized):
    _fields_ = [("struct_size", ctypes.c_size_t), ("train_count", ctypes.c_int32),
                ("test_count", ctypes.c_int32), ("seed", ctypes.c_int64),
                ("size", ctypes.c_int32), ("threads", ctypes.c_int32)]


# ---- the function table, in header order ----

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_st = ctypes.c_int          # afloc_status (an enum)
_i32 = ctypes.c_int32
_sz = ctypes.c_size_t
_u64 = ctypes.c_uint64
_P = ctypes.POINTER
_pf = _P(ctypes.c_float)
_pi32 = _P(ctypes.c_int32)
_psz = _P(ctypes.c_size_t)
_pvp = _P(ctypes.c_void_p)
_pcp = _P(ctypes.c_char_p)

FUNCTIONS = [
    # version
    ("afloc_version", [], _cp),
    ("afloc_version_number", [], _i32),
    # status and errors
    ("afloc_status_string", [_st], _cp),
    ("afloc_last_error", [], _cp),
    # context and backend
    ("afloc_context_options_default", [_P(ContextOptions)], _st),
    ("afloc_context_create", [_P(ContextOptions), _pvp], _st),
    ("afloc_context_free", [_vp], None),
    ("afloc_context_backend", [_vp, _pi32], _st),
    ("afloc_context_info", [_vp, _cp, _sz, _psz], _st),
    # images
    ("afloc_png_options_default", [_P(PngOptions)], _st),
    ("afloc_image_decode_png", [_vp, _sz, _P(PngOptions), _pvp], _st),
    ("afloc_image_load_png", [_cp, _P(PngOptions), _pvp], _st),
    ("afloc_image_get_view", [_vp, _P(ImageView)], _st),
    ("afloc_image_free", [_vp], None),
    ("afloc_image_encode_png", [_P(ImageView), _vp, _sz, _psz], _st),
    ("afloc_image_save_png", [_P(ImageView), _cp], _st),
    # preprocessing
    ("afloc_preprocess_options_default", [_P(PreprocessOptions)], _st),
    ("afloc_image_preprocess", [_P(ImageView), _P(PreprocessOptions), _pf, _sz,
                                _P(LetterboxGeometry)], _st),
    ("afloc_image_letterbox_u8", [_P(ImageView), _i32, _P(ctypes.c_uint8), _sz,
                                  _P(LetterboxGeometry)], _st),
    ("afloc_heatmap_to_original", [_P(LetterboxGeometry), _pf, _sz, _pf, _sz], _st),
    # text
    ("afloc_tokenizer_options_default", [_P(TokenizerOptions)], _st),
    ("afloc_tokenizer_create", [_cp, _sz, _P(TokenizerOptions), _pvp], _st),
    ("afloc_tokenizer_load", [_cp, _P(TokenizerOptions), _pvp], _st),
    ("afloc_tokenizer_free", [_vp], None),
    ("afloc_tokenizer_vocab_size", [_vp, _pi32], _st),
    ("afloc_tokenizer_token_id", [_vp, _cp, _pi32], _st),
    ("afloc_tokenizer_token_text", [_vp, _i32, _cp, _sz, _psz], _st),
    ("afloc_tokenizer_encode", [_vp, _cp, _sz, _pi32, _pi32, _i32, _pi32], _st),
    ("afloc_text_clean_prompt", [_cp, _sz, _cp, _sz, _psz], _st),
    # model
    ("afloc_model_config_default", [_cp, _sz, _psz], _st),
    ("afloc_model_create", [_vp, _cp, _cp, _sz, _u64, _pvp], _st),
    ("afloc_model_load", [_vp, _cp, _pvp], _st),
    ("afloc_model_import_safetensors", [_vp, _cp, _cp, _cp, _sz, _pvp], _st),
    ("afloc_model_grow", [_vp, _cp, _cp, _cp, _sz, _u64, _pvp], _st),
    ("afloc_model_save", [_vp, _cp], _st),
    ("afloc_model_get_config", [_vp, _cp, _sz, _psz], _st),
    ("afloc_model_free", [_vp], None),
    # inference
    ("afloc_model_get_dims", [_vp, _P(ModelDims)], _st),
    ("afloc_model_embed_image", [_vp, _P(ImageView), _pf, _sz, _pf, _sz], _st),
    ("afloc_model_embed_text", [_vp, _cp, _pf, _sz], _st),
    ("afloc_localize_options_default", [_P(LocalizeOptions)], _st),
    ("afloc_model_localize", [_vp, _P(ImageView), _cp, _P(LocalizeOptions), _P(Heatmaps)], _st),
    ("afloc_model_localize_batch", [_vp, _P(_P(ImageView)), _pcp, _i32, _P(LocalizeOptions),
                                    _P(_P(Heatmaps))], _st),
    ("afloc_model_grid_to_frame", [_vp, _pf, _sz, _P(LocalizeOptions), _pf, _sz], _st),
    ("afloc_model_classify", [_vp, _P(ImageView), _pcp, _i32, ctypes.c_float, _pf, _pf], _st),
    ("afloc_prompt_set_create", [_vp, _pcp, _i32, _pvp], _st),
    ("afloc_prompt_set_create_ensembles", [_vp, _pcp, _i32, _pi32, _i32, _pvp], _st),
    ("afloc_model_classify_prompt_set", [_vp, _P(ImageView), _vp, ctypes.c_float, _pf, _pf], _st),
    ("afloc_prompt_set_free", [_vp], None),
    # training
    ("afloc_trainer_options_default", [_P(TrainerOptions)], _st),
    ("afloc_trainer_create", [_vp, _P(TrainerOptions), _pvp], _st),
    ("afloc_trainer_free", [_vp], None),
    ("afloc_trainer_step", [_vp, _pf, _sz, _pcp, _i32, _P(TrainLossTerms)], _st),
    ("afloc_trainer_fit", [_vp, _cp, _cp, _i32], _st),
    ("afloc_trainer_set_epoch", [_vp, _i32], _st),
    ("afloc_trainer_get_state", [_vp, _P(TrainerState)], _st),
    ("afloc_trainer_save_checkpoint", [_vp, _cp], _st),
    ("afloc_trainer_load_checkpoint", [_vp, _cp], _st),
    ("afloc_trainer_update_model", [_vp], _st),
    # evaluation
    ("afloc_eval_normalize_map", [_pf, _i32, _i32], _st),
    ("afloc_eval_box_to_mask", [_P(ctypes.c_uint8), _i32, _i32, _i32, ctypes.c_double,
                                ctypes.c_double, ctypes.c_double, ctypes.c_double], _st),
    ("afloc_eval_pair", [_pf, _P(ctypes.c_uint8), _i32, _P(EvalPairMetrics)], _st),
    ("afloc_eval_summarize", [_P(EvalPairMetrics), _pi32, _i32, _i32, _u64, _P(EvalSummary)],
     _st),
    ("afloc_eval_auc", [_P(ctypes.c_double), _pi32, _i32, _P(ctypes.c_double)], _st),
    ("afloc_eval_f1", [_P(ctypes.c_double), _pi32, _i32, ctypes.c_double, _P(ctypes.c_double),
                       _P(ctypes.c_double), _P(ctypes.c_double), _P(ctypes.c_double)], _st),
    # synthetic datasets
    ("afloc_synth_options_default", [_P(SynthOptions)], _st),
    ("afloc_synth_dataset_write", [_cp, _cp, _P(SynthOptions)], _st),
    ("afloc_synth_generator_version", [], _i32),
    # model files
    ("afloc_model_file_inspect", [_cp, _cp, _sz, _psz], _st),
    ("afloc_tokenizer_load_model_file", [_cp, _P(TokenizerOptions), _pvp], _st),
]


def _bind(cdll):
    missing = [name for name, _, _ in FUNCTIONS if not hasattr(cdll, name)]
    if missing:
        raise ImportError("libafloc at %s lacks %s: it is older than these bindings (%d.%d)"
                          % (cdll._name, ", ".join(missing), VERSION_MAJOR, VERSION_MINOR))
    for name, argtypes, restype in FUNCTIONS:
        function = getattr(cdll, name)
        function.argtypes = argtypes
        function.restype = restype
    number = cdll.afloc_version_number()
    major, minor = number // 10000, number // 100 % 100
    if major != VERSION_MAJOR or minor < VERSION_MINOR:
        raise ImportError("libafloc at %s is version %s; these bindings need %d.%d or a later %d.x"
                          % (cdll._name, cdll.afloc_version().decode(), VERSION_MAJOR,
                             VERSION_MINOR, VERSION_MAJOR))
    return cdll


lib = _bind(_library.load_library())
