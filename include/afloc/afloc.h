/* afloc.h: the public C ABI of libafloc, annotation-free pathology localization (AFLoc).
 *
 * This is the only header a user includes. It is C11, holds no CUDA/cuDNN/BLAS types, and grows by
 * appending: status values are never renumbered, options structs begin with `struct_size`, handles
 * are opaque. The planned surface for later versions (model, train, localize, classify) is sketched
 * in include/afloc/README.md; only what is implemented is declared here.
 *
 * Conventions that hold for every function below unless its comment says otherwise:
 *  - It returns an afloc_status; AFLOC_OK is 0. On failure afloc_last_error() holds one sentence
 *    naming the function, what was wrong and the value that was wrong.
 *  - On failure, out-params and caller buffers are untouched and nothing is leaked.
 *  - Text is UTF-8; paths are UTF-8 `const char *`; counts are int32_t, byte lengths size_t.
 *  - `_free(NULL)` is a no-op. Nothing prints, nothing calls exit()/abort().
 */
#ifndef AFLOC_AFLOC_H
#define AFLOC_AFLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define AFLOC_API __declspec(dllexport)
#elif defined(__GNUC__)
#  define AFLOC_API __attribute__((visibility("default")))
#else
#  define AFLOC_API
#endif

/* ---- version ---- */

#define AFLOC_VERSION_MAJOR 0
#define AFLOC_VERSION_MINOR 1
#define AFLOC_VERSION_PATCH 0

/* The run-time version as "MAJOR.MINOR.PATCH", a static string. Never fails. Since 0.1. */
AFLOC_API const char *afloc_version(void);

/* The run-time version as MAJOR*10000 + MINOR*100 + PATCH, to compare with the compile-time
 * AFLOC_VERSION_* macros. Never fails. Since 0.1. */
AFLOC_API int32_t afloc_version_number(void);

/* ---- status and errors ---- */

/* Append-only: values are never renumbered or reused. */
typedef enum afloc_status {
    AFLOC_OK                        = 0,
    AFLOC_ERR_INVALID_ARGUMENT      = 1,  /* NULL pointer, bad enum, size out of range      */
    AFLOC_ERR_OUT_OF_MEMORY         = 2,  /* host or device allocation failed               */
    AFLOC_ERR_IO                    = 3,  /* open/read/write/fsync/rename failed            */
    AFLOC_ERR_FORMAT                = 4,  /* malformed file or text structure               */
    AFLOC_ERR_LIMIT                 = 5,  /* input exceeds a documented limit               */
    AFLOC_ERR_UNSUPPORTED           = 6,  /* well-formed but not supported (e.g. dtype C64) */
    AFLOC_ERR_SCHEMA                = 7,  /* valid file, wrong model: tensor missing/shape  */
    AFLOC_ERR_CORRUPT               = 8,  /* checksum mismatch, truncated data              */
    AFLOC_ERR_BACKEND_UNAVAILABLE   = 9,  /* no plugin / no driver / no device              */
    AFLOC_ERR_ABI_MISMATCH          = 10, /* plugin built for another backend ABI           */
    AFLOC_ERR_DEVICE_LOST           = 11, /* sticky device error: recreate the process      */
    AFLOC_ERR_CANCELLED             = 12, /* reserved for afloc_cancel (later version)      */
    AFLOC_ERR_UNSUPPORTED_ENV       = 13, /* a dependency is below its version floor        */
    AFLOC_ERR_INTERNAL              = 14, /* a bug in libafloc; please report the message   */
    AFLOC_ERR_IMAGE_FORMAT          = 15, /* malformed or unsupported image file            */
    AFLOC_ERR_BUFFER_TOO_SMALL      = 16  /* caller buffer too small; *needed says how big  */
} afloc_status;

/* A short constant name for `status` ("AFLOC_ERR_LIMIT"); "AFLOC_STATUS_UNKNOWN" for values this
 * version does not know. Never NULL, never fails. Thread-safe. Since 0.1. */
AFLOC_API const char *afloc_status_string(afloc_status status);

/* The message of the last failed call on this thread: NUL-terminated ASCII, at most 255 bytes,
 * "" if no call has failed. Owned by the library, valid until the next call on this thread.
 * Never NULL. Since 0.1. */
AFLOC_API const char *afloc_last_error(void);

/* ---- context and backend ---- */

typedef enum afloc_backend {
    AFLOC_BACKEND_AUTO = 0, /* CUDA when the plugin, a driver and a device exist, else CPU */
    AFLOC_BACKEND_CPU  = 1,
    AFLOC_BACKEND_CUDA = 2
} afloc_backend;

/* Numeric mode of a CUDA context (afloc_context_options.precision). */
typedef enum afloc_precision {
    AFLOC_PRECISION_FP32 = 0, /* plain fp32 everywhere, TF32 off (set in code, whatever the
                                 environment says): the mode that matches the CPU backend   */
    AFLOC_PRECISION_BF16 = 1  /* CUDA: GEMMs on bf16 tensor cores (inputs rounded to bf16,
                                 fp32 accumulation and storage) and convolutions on TF32
                                 tensor cores (which NVIDIA_TF32_OVERRIDE=0 turns off, cuDNN's
                                 rule), the other kernels fp32; faster, with errors of bf16's
                                 8-bit mantissa. A CPU context computes fp32 whatever this
                                 says                                                       */
} afloc_precision;

/* Diagnostics: the library never prints; it calls this if set. `level` 0 debug, 1 info,
 * 2 warning. `message` is valid only during the call. May be called from any thread. */
typedef void (*afloc_log_fn)(void *user, int32_t level, const char *message);

typedef struct afloc_context_options {
    size_t       struct_size;   /* set by the caller to sizeof(afloc_context_options)        */
    int32_t      backend;       /* afloc_backend; default AFLOC_BACKEND_AUTO                  */
    int32_t      device_index;  /* CUDA device ordinal; default 0                             */
    int32_t      num_threads;   /* CPU worker threads, 0 = all cores; default 0               */
    afloc_log_fn log;           /* optional; default NULL (silent)                            */
    void        *log_user;      /* passed back to `log`                                       */
    const char  *plugin_path;   /* CUDA plugin file; NULL = libafloc_cuda.so.0 beside
                                   libafloc.so, then the loader's search path. Read only
                                   during afloc_context_create.                               */
    int32_t      precision;     /* afloc_precision of inference and training on CUDA; default
                                   AFLOC_PRECISION_FP32. Since 0.1                           */
} afloc_context_options;

typedef struct afloc_context afloc_context;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is smaller than the first field.
 * Since 0.1. */
AFLOC_API afloc_status afloc_context_options_default(afloc_context_options *options);

/* Creates a context. `options` may be NULL (all defaults). With AFLOC_BACKEND_CUDA and no usable
 * plugin/driver/device this returns AFLOC_ERR_BACKEND_UNAVAILABLE (or AFLOC_ERR_ABI_MISMATCH) and
 * the message names the cause; with AFLOC_BACKEND_AUTO it falls back to the CPU and
 * afloc_context_info() says why. `*out` receives a context to release with afloc_context_free.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_context_create(const afloc_context_options *options,
                                            afloc_context **out);

/* Releases a context. NULL is a no-op. Objects created from it must be freed first. Since 0.1. */
AFLOC_API void afloc_context_free(afloc_context *context);

/* The backend actually in use: AFLOC_BACKEND_CPU or AFLOC_BACKEND_CUDA. Since 0.1. */
AFLOC_API afloc_status afloc_context_backend(const afloc_context *context, int32_t *backend);

/* A human-readable, NUL-terminated description of the context: the backend in use, the device
 * (name, memory) if any, and for AUTO why CUDA was not chosen. With buffer == NULL or capacity too
 * small, *needed (if not NULL) receives the size including the NUL and the call returns AFLOC_OK or
 * AFLOC_ERR_BUFFER_TOO_SMALL respectively. Since 0.1. */
AFLOC_API afloc_status afloc_context_info(const afloc_context *context, char *buffer,
                                          size_t capacity, size_t *needed);

/* ---- image views (caller-owned pixels) ---- */

typedef enum afloc_pixel_type {
    AFLOC_PIXEL_U8  = 1, /* uint8_t samples, 0..255                                   */
    AFLOC_PIXEL_U16 = 2, /* uint16_t samples in native byte order (radiographs: 12-16 bit) */
    AFLOC_PIXEL_F32 = 3  /* float samples, finite, intensity in [0, 1]                 */
} afloc_pixel_type;

/* A caller-owned image the library reads but never keeps: a PACS host that decodes DICOM itself
 * passes its pixel buffer straight in. Rows are `row_stride` bytes apart (>= width * channels *
 * bytes per sample; no negative strides); channels are interleaved (RGBRGB...). */
typedef struct afloc_image_view {
    size_t      struct_size;      /* sizeof(afloc_image_view)                             */
    int32_t     pixel_type;       /* afloc_pixel_type                                     */
    int32_t     channels;         /* 1 (gray) or 3 (RGB)                                  */
    int32_t     width;            /* pixels, >= 1                                         */
    int32_t     height;           /* pixels, >= 1                                         */
    size_t      row_stride;       /* bytes from one row start to the next                 */
    const void *pixels;           /* first sample of the top row; caller-owned            */
    int32_t     significant_bits; /* U16 only: bits of real data (12 for a 12-bit CR);
                                     0 = all 16. Ignored for U8/F32.                      */
} afloc_image_view;

/* ==== images: section owned by src/image_*.c ==== */

/* A decoded image owned by the library: U8 or U16 samples, 1 (gray) or 3 (RGB) channels. */
typedef struct afloc_image afloc_image;

/* Limits for PNG decoding, checked before any pixel allocation. */
typedef struct afloc_png_options {
    size_t  struct_size;      /* set by the caller to sizeof(afloc_png_options)              */
    int32_t max_width;        /* 1..16384; default 16384; wider files give AFLOC_ERR_LIMIT    */
    int32_t max_height;       /* 1..16384; default 16384                                      */
    size_t  max_file_bytes;   /* >= 1; default 256 MiB; larger inputs give AFLOC_ERR_LIMIT    */
    size_t  max_decode_bytes; /* >= 1; default 1664 MiB: everything one decode holds at once,
                                 the output pixels (at most 16384 x 16384 x 3 x 16 bit =
                                 1536 MiB) plus libpng's and zlib's working memory. Pixels
                                 that do not fit give AFLOC_ERR_LIMIT before they are
                                 allocated; libpng running out of it gives
                                 AFLOC_ERR_OUT_OF_MEMORY.                                     */
} afloc_png_options;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is implausible. Since 0.1. */
AFLOC_API afloc_status afloc_png_options_default(afloc_png_options *options);

/* Decodes the PNG held in `bytes` (`size` bytes, caller-owned, only read during the call).
 * `options` may be NULL (defaults). Accepts every PNG colour type and bit depth:
 *  - gray 1/2/4-bit is expanded to 8 bits and scaled to 0..255 (x255, x85, x17);
 *  - gray 8/16, RGB 8/16 are kept as stored; 16-bit stays 16-bit, in native byte order;
 *  - palette images become RGB 8-bit; alpha (gray+alpha, RGBA) is dropped, tRNS ignored;
 *  - interlaced files are de-interlaced. No gamma, colour or background conversion is done.
 * 16-bit files with an sBIT chunk of s < 16 bits report significant_bits = s in the view when
 * every sample fits in s bits (raw 12-bit data in a 16-bit container, as radiograph exporters
 * write it); when some sample does not fit (the PNG spec's left-shifted layout) the samples are
 * kept as stored and significant_bits is 0. Ancillary chunks other than sBIT are skipped
 * unread (so compressed text or ICC bombs cost nothing). Refused as malformed: bytes after
 * IEND, and more than 16 KiB of compressed image data after the last row (an inflate bomb).
 * On success `*out` receives an image to release with afloc_image_free.
 * Returns AFLOC_ERR_INVALID_ARGUMENT (NULL bytes or out, bad options), AFLOC_ERR_IMAGE_FORMAT
 * (not a PNG, truncated, bad CRC in a critical chunk, corrupt data, trailing bytes),
 * AFLOC_ERR_LIMIT (size above max_file_bytes, width or height above the maximum, pixels above
 * max_decode_bytes; all checked before the pixels are allocated), AFLOC_ERR_OUT_OF_MEMORY, or
 * AFLOC_ERR_INTERNAL (libpng could not be initialised). Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_image_decode_png(const void *bytes, size_t size,
                                              const afloc_png_options *options,
                                              afloc_image **out);

/* afloc_image_decode_png on the file at `path` (UTF-8), read whole after its size is checked
 * against max_file_bytes (AFLOC_ERR_LIMIT). Open and read failures give AFLOC_ERR_IO.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_image_load_png(const char *path, const afloc_png_options *options,
                                            afloc_image **out);

/* Fills `view` with a borrowed view of `image`'s pixels: pixel_type AFLOC_PIXEL_U8 or
 * AFLOC_PIXEL_U16, channels 1 or 3, rows packed (row_stride = width * channels * bytes).
 * The caller sets view->struct_size; only fields inside it are written (it must reach at least
 * `pixels`). The pixels stay owned by `image` and are valid until afloc_image_free.
 * Returns AFLOC_ERR_INVALID_ARGUMENT for NULLs or a too small struct_size. Thread-safe.
 * Since 0.1. */
AFLOC_API afloc_status afloc_image_get_view(const afloc_image *image, afloc_image_view *view);

/* Releases an image. NULL is a no-op. Since 0.1. */
AFLOC_API void afloc_image_free(afloc_image *image);

/* Encodes `view` as a PNG into `buffer` (caller-owned, `capacity` bytes). U8 and U16 gray or RGB
 * are written as they are (8 or 16 bit; 16-bit samples big-endian as PNG requires), with an
 * sBIT chunk for U16 views whose significant_bits is 1..15. F32 views are written as 8-bit:
 * each sample is clamped to [0, 1] (NaN becomes 0) and stored as round(x * 255). The output is
 * deterministic for a given libpng/zlib (no time stamp). With buffer == NULL, *size receives the
 * encoded size and the call returns AFLOC_OK; with a non-NULL buffer smaller than that, *size
 * receives the size needed and the call returns AFLOC_ERR_BUFFER_TOO_SMALL; otherwise *size
 * receives the bytes written. `size` must not be NULL. Returns AFLOC_ERR_INVALID_ARGUMENT (bad
 * view, NULL size), AFLOC_ERR_OUT_OF_MEMORY, AFLOC_ERR_BUFFER_TOO_SMALL or AFLOC_ERR_INTERNAL.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_image_encode_png(const afloc_image_view *view, void *buffer,
                                              size_t capacity, size_t *size);

/* Encodes `view` as in afloc_image_encode_png and replaces the file at `path` atomically (temp
 * file, fsync, rename, fsync of the directory): on failure the old file is untouched. Returns the
 * codes of afloc_image_encode_png, or AFLOC_ERR_IO. Thread-safe for distinct paths. Since 0.1. */
AFLOC_API afloc_status afloc_image_save_png(const afloc_image_view *view, const char *path);

/* ==== preprocessing: section owned by src/image_preprocess.c ==== */

/* Image preprocessing as in the official AFLoc inference (MODEL.md §2): gray, letterbox to
 * image_size (long side -> image_size with OpenCV INTER_AREA, short side ⌊len·image_size/long⌋,
 * zero padding split ⌊p/2⌋ before, ⌈p/2⌉ after), torchvision CenterCrop(crop_size)
 * (top = left = round-half-even((image_size − crop_size)/2)), then x = (v − mean)/std with v in
 * [0, 1]. The model's three input channels are identical, so one channel is produced.
 *  - Gray from RGB: U8 uses OpenCV's fixed point (R·9798 + G·19235 + B·3735 + 16384) >> 15, which
 *    is what cv2.cvtColor(COLOR_RGB2GRAY) and cv2.imread(path, 0) on an RGB PNG compute; U16/F32
 *    use 0.299·R + 0.587·G + 0.114·B in float.
 *  - U8 input is letterboxed to u8 as OpenCV 4.6 stores it (bit-exact on every test image,
 *    shrinking and enlarging; MODEL.md §2.5 promises at most one grey level) and then normalised:
 *    the official pipeline's numbers. U16 (scaled by 2^significant_bits − 1) and F32 input stay float through
 *    the resize (the same weights, no 8-bit rounding), so 12-16-bit radiographs keep their
 *    precision; that path is not bit-compatible with the official 8-bit pipeline.
 *  - The official code fails on a short side that truncates to 0 (e.g. 1 x 1000 → 0 x 224);
 *    libafloc uses 1 instead. */

typedef struct afloc_preprocess_options {
    size_t  struct_size; /* set by the caller to sizeof(afloc_preprocess_options)             */
    int32_t image_size;  /* letterbox side s, 1..4096; default 224 (the official inference)   */
    int32_t crop_size;   /* center crop side, 1..image_size; default 224                      */
    float   mean;        /* finite; default 0.5                                                */
    float   std;         /* finite, > 0; default 0.5 (so x = v_u8/127.5 − 1 for U8 input)      */
} afloc_preprocess_options;

/* Where the letterbox and crop put the source image. All fields are pixels. The model frame is
 * the crop_size x crop_size crop whose top-left corner is (crop_left, crop_top) of the
 * image_size x image_size letterbox; the source occupies the resized_width x resized_height
 * rectangle at (pad_left, pad_top) of the letterbox. */
typedef struct afloc_letterbox_geometry {
    size_t  struct_size;    /* set by the caller to sizeof(afloc_letterbox_geometry)          */
    int32_t source_width;   /* W, H: the original image                                       */
    int32_t source_height;
    int32_t resized_width;  /* w', h': the resized content, 1..image_size                     */
    int32_t resized_height;
    int32_t pad_left;       /* ⌊(image_size − w')/2⌋                                           */
    int32_t pad_top;        /* ⌊(image_size − h')/2⌋                                           */
    int32_t image_size;     /* s                                                              */
    int32_t crop_left;      /* round-half-even((s − crop_size)/2)                             */
    int32_t crop_top;
    int32_t crop_size;      /* c; c = s and crop offsets 0 when no crop is applied            */
} afloc_letterbox_geometry;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is implausible. Since 0.1. */
AFLOC_API afloc_status afloc_preprocess_options_default(afloc_preprocess_options *options);

/* Runs the whole preprocessing on `image` (read only during the call; U8, U16 or F32, 1 or 3
 * channels; F32 samples must be finite). `options` may be NULL (defaults). `out` is
 * caller-owned, out_len >= crop_size * crop_size floats, and receives the normalised model input,
 * one channel, row-major crop_size x crop_size. `geometry` may be NULL; otherwise the caller sets
 * geometry->struct_size and the fields that fit are written. Returns AFLOC_ERR_INVALID_ARGUMENT
 * (bad view, NULL out, options out of range, non-finite F32 sample), AFLOC_ERR_BUFFER_TOO_SMALL
 * (out_len), or AFLOC_ERR_OUT_OF_MEMORY (scratch: about W·H·4 + s·s·4 bytes). On failure `out`
 * and `geometry` are untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_image_preprocess(const afloc_image_view *image,
                                              const afloc_preprocess_options *options,
                                              float *out, size_t out_len,
                                              afloc_letterbox_geometry *geometry);

/* The 8-bit letterbox alone: `image` must be AFLOC_PIXEL_U8 (1 or 3 channels); `out` is
 * caller-owned, out_len >= size * size bytes, and receives the size x size gray image exactly as
 * the official pipeline stores it before normalisation (for tests and overlay drawing). size is
 * 1..4096. `geometry` may be NULL (crop fields: 0, 0, size). Returns AFLOC_ERR_INVALID_ARGUMENT,
 * AFLOC_ERR_BUFFER_TOO_SMALL or AFLOC_ERR_OUT_OF_MEMORY; on failure `out` and `geometry` are
 * untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_image_letterbox_u8(const afloc_image_view *image, int32_t size,
                                                uint8_t *out, size_t out_len,
                                                afloc_letterbox_geometry *geometry);

/* Maps a map in the model frame back onto the original pixel grid (MODEL.md §2.6). `map` is
 * caller-owned, map_len >= crop_size² floats, row-major crop_size x crop_size; `out` is
 * caller-owned, out_len >= source_width * source_height floats, row-major. For original pixel
 * (x, y) the model-frame coordinates are
 *     u = (x + 0.5)·w'/W − 0.5 + pad_left − crop_left,   v = (y + 0.5)·h'/H − 0.5 + pad_top − crop_top
 * (the inverse of x = (u' − pad_left + 0.5)·W/w' − 0.5 with the actual, truncated w' and h').
 * u and v are clamped to the part of the resized content that lies inside the crop, and the map is
 * sampled bilinearly there, so padding is never sampled (if a tiny letterbox's content misses the
 * crop entirely, the nearest crop column/row is used). `geometry` must be one returned by
 * afloc_image_preprocess or afloc_image_letterbox_u8 (its struct_size must cover all fields);
 * inconsistent values give AFLOC_ERR_INVALID_ARGUMENT. Returns AFLOC_ERR_INVALID_ARGUMENT or
 * AFLOC_ERR_BUFFER_TOO_SMALL; on failure `out` is untouched. Allocates nothing. Thread-safe.
 * Since 0.1. */
AFLOC_API afloc_status afloc_heatmap_to_original(const afloc_letterbox_geometry *geometry,
                                                 const float *map, size_t map_len,
                                                 float *out, size_t out_len);

/* ==== text: section owned by src/text_*.c ==== */

/* Text input: the report cleaning of the AFLoc reference (MODEL.md §4.1-4.2) and a BERT WordPiece
 * tokenizer identical to HuggingFace's BertTokenizerFast with do_lower_case (§4.4).
 *
 * Invalid UTF-8 in a text (not in a vocabulary) is not an error: each maximal invalid subpart
 * becomes U+FFFD, as Python's decode(errors="replace") does. The tokenizer then drops U+FFFD
 * as BERT does (the bytes around it join: "a\xFFb" -> "ab"), and the cleaning treats it as a
 * non-word character (it separates words: "a\xFFb c" -> "a b c"). */

#define AFLOC_MAX_TEXT_BYTES        (1u << 20) /* longest text accepted, bytes          */
#define AFLOC_MAX_VOCAB_BYTES       (64u << 20) /* largest vocabulary file              */
#define AFLOC_MAX_VOCAB_TOKENS      1000000     /* most vocabulary entries              */
#define AFLOC_MAX_VOCAB_TOKEN_BYTES 256         /* longest vocabulary entry, bytes      */
#define AFLOC_MAX_SEQUENCE_LENGTH   512         /* largest max_length (BERT positions)  */

typedef struct afloc_tokenizer afloc_tokenizer;

typedef struct afloc_tokenizer_options {
    size_t  struct_size;        /* sizeof(afloc_tokenizer_options)                             */
    int32_t lowercase;          /* 1: lowercase + strip accents (the only mode in 0.1); def. 1 */
    int32_t max_length;         /* sequence slots incl. [CLS]/[SEP], 2..512; default 97        */
    int32_t max_chars_per_word; /* longer words become [UNK], 1..10000; default 100            */
} afloc_tokenizer_options;

/* Fills the fields of `options` that fit in options->struct_size with their defaults.
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is unset. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_options_default(afloc_tokenizer_options *options);

/* Builds a tokenizer from a vocabulary held in memory: `vocab_size` bytes of UTF-8, one token per
 * line, the line number (0-based) being the id, as in BERT's vocab.txt. Lines end in "\n" or
 * "\r\n" (the "\r" is dropped); a final line without newline counts. The bytes are copied.
 * Returns AFLOC_ERR_FORMAT (naming the 1-based line) for invalid UTF-8, an empty line, a control
 * byte, a duplicate token, or a missing [PAD], [UNK], [CLS] or [SEP]; AFLOC_ERR_LIMIT for more
 * than AFLOC_MAX_VOCAB_BYTES bytes, AFLOC_MAX_VOCAB_TOKENS lines or a token longer than
 * AFLOC_MAX_VOCAB_TOKEN_BYTES; AFLOC_ERR_UNSUPPORTED for lowercase != 1;
 * AFLOC_ERR_INVALID_ARGUMENT for NULL `vocab`/`out` or options out of range;
 * AFLOC_ERR_OUT_OF_MEMORY. `options` may be NULL (defaults). `*out` is freed with
 * afloc_tokenizer_free. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_create(const char *vocab, size_t vocab_size,
                                              const afloc_tokenizer_options *options,
                                              afloc_tokenizer **out);

/* afloc_tokenizer_create on the contents of the file `vocab_path`; AFLOC_ERR_IO if it cannot be
 * read, AFLOC_ERR_LIMIT before reading if it is larger than AFLOC_MAX_VOCAB_BYTES. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_load(const char *vocab_path,
                                            const afloc_tokenizer_options *options,
                                            afloc_tokenizer **out);

/* Releases a tokenizer. NULL is a no-op. Since 0.1. */
AFLOC_API void afloc_tokenizer_free(afloc_tokenizer *tokenizer);

/* The number of vocabulary entries (ids are 0..size-1). Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_vocab_size(const afloc_tokenizer *tokenizer, int32_t *size);

/* The id of the vocabulary entry `token` (NUL-terminated UTF-8, matched exactly, no
 * normalization), or -1 in *id when there is none (still AFLOC_OK). Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_token_id(const afloc_tokenizer *tokenizer,
                                                const char *token, int32_t *id);

/* Copies the text of vocabulary entry `id` with a NUL into `buffer`. With buffer == NULL or
 * capacity too small, *needed (if not NULL) receives the size including the NUL and the call
 * returns AFLOC_OK or AFLOC_ERR_BUFFER_TOO_SMALL respectively. AFLOC_ERR_INVALID_ARGUMENT for an
 * id outside 0..size-1. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_token_text(const afloc_tokenizer *tokenizer, int32_t id,
                                                  char *buffer, size_t capacity, size_t *needed);

/* BERT-tokenizes `text` (text_len bytes of UTF-8, may hold NULs, may be empty; `text` may be NULL
 * when text_len is 0) exactly as HuggingFace's BertTokenizerFast (lowercase, accents stripped,
 * punctuation split, greedy longest-match WordPiece, [UNK]): writes [CLS] pieces [SEP], truncated
 * to max_length (the [SEP] is kept) and padded with [PAD] to exactly max_length ids, into `ids`
 * (int32, capacity >= max_length). `attention_mask` (same capacity, may be NULL) gets 1 on real
 * tokens, 0 on padding; `*length` (may be NULL) the real-token count incl. [CLS]/[SEP], 2..max_length.
 * No report cleaning is applied (see afloc_text_clean_prompt), and literal "[CLS]"-style strings
 * in `text` are ordinary text, not special tokens (cleaned text never holds brackets). Returns AFLOC_ERR_LIMIT for
 * text_len > AFLOC_MAX_TEXT_BYTES, AFLOC_ERR_INVALID_ARGUMENT for NULL tokenizer/ids or capacity
 * < max_length, AFLOC_ERR_OUT_OF_MEMORY. Thread-safe: many threads may encode with one tokenizer.
 * Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_encode(const afloc_tokenizer *tokenizer, const char *text,
                                              size_t text_len, int32_t *ids,
                                              int32_t *attention_mask, int32_t capacity,
                                              int32_t *length);

/* The inference text of the AFLoc reference (MODEL.md §4.1-4.2): splits `text` into sentences on
 * "<digits>." and ".", keeps the \w+ words of each (lowercased), drops sentences of <= 1 word
 * (so a one-word prompt such as "cardiomegaly" becomes ""), deletes non-ASCII characters, and
 * joins everything with single spaces. Writes the result with a NUL into `out` (ASCII only).
 * With out == NULL or capacity too small, *needed (if not NULL) receives the size including the
 * NUL and the call returns AFLOC_OK or AFLOC_ERR_BUFFER_TOO_SMALL respectively. The result is
 * never longer than text_len. AFLOC_ERR_LIMIT for text_len > AFLOC_MAX_TEXT_BYTES,
 * AFLOC_ERR_INVALID_ARGUMENT for text == NULL with text_len > 0, AFLOC_ERR_OUT_OF_MEMORY.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_text_clean_prompt(const char *text, size_t text_len, char *out,
                                               size_t capacity, size_t *needed);

/* ==== model: section owned by src/model.c ==== */

/* An AFLoc model: the config, all parameters in one buffer, and the tokenizer. Immutable once
 * created or loaded, so many threads may use one model at once. A model belongs to the context it
 * was created from, which must outlive it.
 *
 * The config is a flat JSON object whose keys are (all optional; missing keys keep the paper's
 * value, MODEL.md §1): resnet_blocks [4 ints, 3,4,6,3], resnet_planes [4 ints, 64,128,256,512],
 * resnet_base_width 64, resnet_stem 64, input_channels 3, bn_eps 1e-5, image_size 224,
 * crop_size 224, upsample_size 299, use_local_f_embedder 0|1, bert_layers 12, bert_hidden 768,
 * bert_heads 12, bert_intermediate 3072, vocab_size 28996, max_positions 512, type_vocab_size 2,
 * layernorm_eps 1e-12, last_n_layers 4, token_length 97, captions_per_image 5,
 * embedding_dim 768, temp1 4, temp2 5, temp3 10, gaussian_sigma 1.5, gaussian_truncate 4,
 * map_alignment 0 (the heatmap read-out localize uses by default: 0 the paper's, 1 centred on
 * the receptive fields, 2 centred and cubic; see afloc_localize_options), local_position 0 (1 adds the tensor
 * img_encoder.local_position.weight (D, 2), zero at creation: a learned linear function of each
 * cell's position in the grid added to the deep-local embedding, so that a map can follow a
 * prompt's side; libafloc's, not in the paper).
 * An unknown key, a wrong JSON type or a non-integer for an integer key is AFLOC_ERR_FORMAT; a
 * value out of range or inconsistent (bert_hidden % bert_heads != 0, embedding_dim != bert_hidden,
 * token_length > max_positions, last_n_layers > bert_layers, crop_size > image_size) is
 * AFLOC_ERR_INVALID_ARGUMENT; the message names the key. */
typedef struct afloc_model afloc_model;

/* Writes the paper's default config as a NUL-terminated JSON object (every key) into `json`
 * (caller-owned, `capacity` bytes). With json == NULL or capacity too small, *needed (if not
 * NULL) receives the size including the NUL and the call returns AFLOC_OK or
 * AFLOC_ERR_BUFFER_TOO_SMALL respectively. Also AFLOC_ERR_OUT_OF_MEMORY. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_config_default(char *json, size_t capacity, size_t *needed);

/* Creates a model with freshly initialised weights, as PyTorch initialises a new AFLoc: ResNet
 * convolutions kaiming-normal (fan_out, ReLU gain), BatchNorm weight 1, bias 0, running mean 0,
 * running var 1; BERT Linear and Embedding weights normal(0, 0.02), biases 0, LayerNorm 1 and 0
 * (transformers 4.2.1 _init_weights); the AFLoc heads PyTorch's Linear/Conv2d default, weights
 * and bias uniform in ±1/sqrt(fan_in). The numbers come from libafloc's own counter-based
 * generator (splitmix64, Box-Muller in double, rounded to float), not PyTorch's RNG stream: each
 * tensor's values depend only on `seed` and the tensor's name, so a given seed gives the same
 * model on every run and thread count.
 * `context`: a context (not NULL). `config_json`: a config as described above, NUL-terminated, or
 * NULL for the paper's. `vocab`: the WordPiece vocabulary (required; vocab_size bytes, one token
 * per line as in BERT's vocab.txt, see afloc_tokenizer_create); it must hold exactly the config's
 * vocab_size tokens. `*out` receives the model (release with afloc_model_free).
 * Returns AFLOC_ERR_INVALID_ARGUMENT (NULL context/vocab/out, bad config value, vocabulary size
 * differing from vocab_size), AFLOC_ERR_FORMAT (config or vocabulary malformed),
 * AFLOC_ERR_LIMIT (vocabulary too large), AFLOC_ERR_OUT_OF_MEMORY (the default model needs about
 * 539 MB of parameters). On a CUDA context the weights are also copied to the device, where the
 * image encoder and BERT then run (fp32; host and device memory errors give
 * AFLOC_ERR_OUT_OF_MEMORY, a failing device AFLOC_ERR_DEVICE_LOST or AFLOC_ERR_INTERNAL with the
 * CUDA message); calls on one model take turns on its device stream. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_create(afloc_context *context, const char *config_json,
                                          const char *vocab, size_t vocab_size, uint64_t seed,
                                          afloc_model **out);

/* Loads the libafloc model file at `path` (UTF-8; see "model files" below; written by
 * afloc_model_save or by bindings/python/afloc/convert.py). The whole file is validated first:
 * a damaged file gives AFLOC_ERR_FORMAT, AFLOC_ERR_CORRUPT or AFLOC_ERR_LIMIT, a malformed or
 * inconsistent config AFLOC_ERR_FORMAT (naming the key), a file of another format version
 * AFLOC_ERR_UNSUPPORTED, and tensors that do not match the parameter table its config implies
 * (missing, unexpected, other dtype than F32, other shape) or a vocabulary whose token count is
 * not vocab_size give AFLOC_ERR_SCHEMA naming the tensor and both shapes. Also
 * AFLOC_ERR_INVALID_ARGUMENT (NULL argument), AFLOC_ERR_IO, AFLOC_ERR_OUT_OF_MEMORY (the file is
 * held in memory while the parameters are copied out: about twice the file size at the peak),
 * and the device errors of afloc_model_create on a CUDA context. `*out` receives the model
 * (release with afloc_model_free). Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_load(afloc_context *context, const char *path, afloc_model **out);

/* Builds a model from plain safetensors weights: `tensors_path` (UTF-8) is any valid safetensors
 * file (its __metadata__ is ignored; checksums in it are verified when present) whose F32
 * tensors are exactly the parameter table of `config_json` (NULL = the paper's), named as in the
 * official checkpoint without the "afloc." prefix (MODEL.md §10.2), with no num_batches_tracked
 * or position_ids entries; one exception: img_encoder.local_position.weight (config
 * local_position 1) may be absent and then starts at zero, the term off, which is how `afloc init
 * --weights` gives a trained model the position term to fine-tune. `vocab`/`vocab_size` as in afloc_model_create. This is how the
 * checkpoint converter hands its tensors to the library; afloc_model_save then writes the model
 * file. Returns the codes of afloc_model_load (a tensor mismatch is AFLOC_ERR_SCHEMA), plus
 * those of afloc_model_create for the config and the vocabulary. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_import_safetensors(afloc_context *context,
                                                      const char *tensors_path,
                                                      const char *config_json, const char *vocab,
                                                      size_t vocab_size, afloc_model **out);

/* Grows a trained model into a deeper image trunk (not in the paper): as
 * afloc_model_import_safetensors, but `config_json` may give a ResNet stage more blocks
 * (resnet_blocks) than the file holds. Each added block comes after the file's blocks of its
 * stage and starts as afloc_model_create starts it (seed `seed`), except the scale of its last
 * BatchNorm (bn3.weight), which starts at 0: the block's residual branch then adds nothing, so
 * the grown model computes exactly what the file's model computed until training moves that
 * scale ("zero-init residual", Goyal et al. 2017). A block must be wholly in the file or wholly
 * absent, and absent blocks must follow the present ones of their stage (else
 * AFLOC_ERR_SCHEMA); every other tensor of the config must be in the file with its shape. How
 * `afloc init --weights MODEL --grow` gives a trained model's layer-3 features a wider view.
 * Returns the codes of afloc_model_import_safetensors. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_grow(afloc_context *context, const char *tensors_path,
                                        const char *config_json, const char *vocab,
                                        size_t vocab_size, uint64_t seed, afloc_model **out);

/* Writes `model` to `path` (UTF-8) as a libafloc model file (all parameters as F32, the config,
 * the vocabulary, both checksums), atomically and durably: temp file, fsync, rename, fsync of
 * the directory; on failure the previous file at `path` is untouched. A saved model loads back
 * bit-identical. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL model or path), AFLOC_ERR_IO,
 * AFLOC_ERR_OUT_OF_MEMORY. Thread-safe for distinct paths. Since 0.1. */
AFLOC_API afloc_status afloc_model_save(const afloc_model *model, const char *path);

/* Writes the model's config as a NUL-terminated JSON object (every key) into `json`, with the
 * buffer convention of afloc_model_config_default. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL
 * model), AFLOC_ERR_BUFFER_TOO_SMALL, AFLOC_ERR_OUT_OF_MEMORY. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_get_config(const afloc_model *model, char *json,
                                              size_t capacity, size_t *needed);

/* Releases a model and everything it owns. NULL is a no-op. No other thread may be using the
 * model. Since 0.1. */
AFLOC_API void afloc_model_free(afloc_model *model);

/* ==== inference: section owned by src/inference.c ==== */

/* Inference with a model (MODEL.md §2-§5, §8): image and text embeddings, localization heatmaps
 * and zero-shot classification. Images are caller-owned views, preprocessed as the official
 * inference does (letterbox to the config's image_size with OpenCV INTER_AREA, centre crop,
 * normalisation, §2.2); texts are NUL-terminated UTF-8, at most AFLOC_MAX_TEXT_BYTES bytes, cleaned
 * as the reference cleans a prompt (§4.2: a one-word prompt such as "cardiomegaly" cleans to
 * nothing and encodes as the empty text, unless keep_one_word_prompts is set) and truncated to
 * token_length word pieces.
 *
 * Threads: a model is immutable, so any number of threads may call these functions on one model at
 * once. Each call takes its own workspace from a pool owned by the model (sized when the model is
 * loaded; a new arena is allocated only when more calls run at once than ever before, up to 64)
 * and sets the OpenMP team size of the calling thread to the context's num_threads (0: all
 * cores). Results are bit-identical whatever the number of concurrent callers and threads.
 * Apart from the workspace, a call allocates only small scratch for image preprocessing (about
 * width·height·4 bytes) and text cleaning. fp32 throughout. */

#define AFLOC_MAX_PROMPTS 4096 /* most prompts in one classification or prompt set  */
#define AFLOC_MAX_BATCH   4096 /* most items in one afloc_model_localize_batch call  */

/* The sizes a caller needs to allocate outputs. */
typedef struct afloc_model_dims {
    size_t  struct_size;   /* set by the caller to sizeof(afloc_model_dims)                 */
    int32_t embedding_dim; /* D: length of the global image and report text embeddings (768)*/
    int32_t grid_side;     /* S: side of the local embedding grid and the raw map (19)     */
    int32_t frame_size;    /* side of the model frame, the config's crop_size (224)        */
    int32_t token_length;  /* word-piece slots per text incl. [CLS]/[SEP] (97)             */
} afloc_model_dims;

/* Fills the fields of `dims` that fit in dims->struct_size. Returns AFLOC_ERR_INVALID_ARGUMENT
 * for a NULL model or dims, or an implausible struct_size. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_get_dims(const afloc_model *model, afloc_model_dims *dims);

/* Embeds one image. `global` (may be NULL) receives img_emb_g, D floats (global_len >= D);
 * `local` (may be NULL) receives img_emb_l, the deep-local embedding from layer3, D x S x S
 * floats channel-first (local_len >= D·S·S). At least one must be given; with only `local` the
 * encoder stops after layer3. Both caller-owned. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL model,
 * bad image view, both outputs NULL), AFLOC_ERR_BUFFER_TOO_SMALL, AFLOC_ERR_OUT_OF_MEMORY; on
 * failure the outputs are untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_embed_image(const afloc_model *model,
                                               const afloc_image_view *image, float *global,
                                               size_t global_len, float *local, size_t local_len);

/* Embeds one text: `report` (caller-owned, report_len >= D floats) receives text_emb_r, the
 * report embedding of MODEL.md §5.5 (sum of the last 4 BERT layers over all real tokens, divided
 * by token_length). Empty text is valid ([CLS] [SEP]). Returns AFLOC_ERR_INVALID_ARGUMENT (NULL
 * model, text or report), AFLOC_ERR_LIMIT (text longer than AFLOC_MAX_TEXT_BYTES),
 * AFLOC_ERR_BUFFER_TOO_SMALL, AFLOC_ERR_OUT_OF_MEMORY; on failure `report` is untouched.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_embed_text(const afloc_model *model, const char *text,
                                              float *report, size_t report_len);

typedef struct afloc_localize_options {
    size_t  struct_size;           /* set by the caller to sizeof(afloc_localize_options)    */
    int32_t normalize;             /* 1 (default): the frame map is min-max scaled to [-1, 1]
                                      over all its pixels before it is returned and mapped to
                                      the original grid; a constant map becomes all 0 (no
                                      error). 0: raw similarity values throughout.           */
    int32_t keep_one_word_prompts; /* 0 (default, the reference): a prompt the cleaning drops
                                      entirely encodes as empty text. 1: such a prompt is
                                      tokenized as written instead.                          */
    int32_t map_alignment;         /* how the S x S map is read onto the frame:
                                      AFLOC_MAP_ALIGN_MODEL (default) the model config's
                                      map_alignment; AFLOC_MAP_ALIGN_REFERENCE the paper's
                                      bilinear resize, align_corners=False (MODEL.md §8.3);
                                      AFLOC_MAP_ALIGN_CENTRED each cell drawn at the centre of
                                      its receptive field (pixel 16·i of the encoder input),
                                      15/32 of a cell up and left of the reference's place;
                                      AFLOC_MAP_ALIGN_CENTRED_CUBIC the same places, read with
                                      bicubic instead of bilinear interpolation, so the map's
                                      maximum can fall between cell centres                   */
} afloc_localize_options;

/* Values of afloc_localize_options.map_alignment (the config's map_alignment is 0, 1 or 2). */
typedef enum afloc_map_alignment {
    AFLOC_MAP_ALIGN_MODEL         = -1, /* the model config's map_alignment (the default)    */
    AFLOC_MAP_ALIGN_REFERENCE     = 0,  /* the paper's bilinear resize, align_corners=False  */
    AFLOC_MAP_ALIGN_CENTRED       = 1,  /* each cell at the centre of its receptive field    */
    AFLOC_MAP_ALIGN_CENTRED_CUBIC = 2   /* the same, bicubic (grid_sample, A = -0.75); not in
                                           the paper                                         */
} afloc_map_alignment;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is implausible. Since 0.1. */
AFLOC_API afloc_status afloc_localize_options_default(afloc_localize_options *options);

/* Output buffers of a localization, all caller-owned and row-major; a NULL buffer is not
 * computed (at least one must be given). Fields beyond struct_size count as NULL. */
typedef struct afloc_heatmaps {
    size_t struct_size;  /* set by the caller to sizeof(afloc_heatmaps)                       */
    float *grid;         /* S x S: raw similarity img_emb_l · text_emb_r (MODEL.md §8.1)     */
    size_t grid_len;     /* floats, >= S·S                                                   */
    float *smoothed;     /* S x S: Gaussian-smoothed grid (σ = config gaussian_sigma, §8.2)  */
    size_t smoothed_len; /* floats, >= S·S                                                   */
    float *frame;        /* frame_size x frame_size: smoothed grid drawn onto the model frame
                            as options.map_alignment says (the paper's bilinear resize,
                            align_corners=False, §8.3, or a centred read-out), normalised when
                            options.normalize                                               */
    size_t frame_len;    /* floats, >= frame_size²                                           */
    float *original;     /* width x height of the input image: the frame map mapped back
                            through the letterbox (afloc_heatmap_to_original)               */
    size_t original_len; /* floats, >= width·height                                          */
} afloc_heatmaps;

/* Localizes the finding described by `text` in `image`: writes the wanted maps of `heatmaps`.
 * `options` may be NULL (defaults). Returns AFLOC_ERR_INVALID_ARGUMENT (NULL model/text/heatmaps,
 * bad image view, bad options, no buffer given), AFLOC_ERR_LIMIT (text too long),
 * AFLOC_ERR_BUFFER_TOO_SMALL (a *_len too small; the message names it), AFLOC_ERR_OUT_OF_MEMORY;
 * on failure every buffer is untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_localize(const afloc_model *model,
                                            const afloc_image_view *image, const char *text,
                                            const afloc_localize_options *options,
                                            afloc_heatmaps *heatmaps);

/* afloc_model_localize for `count` (1..AFLOC_MAX_BATCH) pairs: images[i] with texts[i] into
 * *heatmaps[i] (arrays of pointers, so each struct keeps its own struct_size). All items are
 * checked before any is computed, so an argument error (the message names the item) leaves every
 * buffer untouched; a later failure (out of memory) may leave items before the failing one
 * written. Same statuses as afloc_model_localize. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_localize_batch(const afloc_model *model,
                                                  const afloc_image_view *const *images,
                                                  const char *const *texts, int32_t count,
                                                  const afloc_localize_options *options,
                                                  afloc_heatmaps *const *heatmaps);

/* The read-out of afloc_model_localize applied to a caller's grid: `grid` (grid_side x grid_side
 * floats, row-major, finite) is Gaussian-smoothed (σ = config gaussian_sigma, §8.2), drawn onto
 * the frame as options->map_alignment says and, when options->normalize, min-max scaled to
 * [-1, 1], exactly as localize treats its raw similarity grid: localize's heatmaps.grid passed
 * here gives its heatmaps.frame bit for bit. Uses: maps of one's own grids (the mean of several
 * prompts' raw grids, a difference of two prompts) and reference maps for evaluation (`afloc
 * eval` draws each test box on the grid to show the read-out's ceiling). `options` may be NULL
 * (defaults; keep_one_word_prompts is not used). `grid` is read only; `frame` (frame_size²
 * floats) receives the map; both caller-owned. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL model,
 * grid or frame, bad options, a non-finite grid value: the message gives its index) or
 * AFLOC_ERR_BUFFER_TOO_SMALL; on failure `frame` is untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_grid_to_frame(const afloc_model *model, const float *grid,
                                                 size_t grid_len,
                                                 const afloc_localize_options *options,
                                                 float *frame, size_t frame_len);

/* Zero-shot classification (MODEL.md §8.5, the recommended reading; the paper's exact recipe is
 * unknown): scores[k] = cosine(img_emb_g, text_emb_r(prompts[k])) with the denominator floored at
 * 1e-8, probabilities = softmax over the prompts of scores / temperature. `prompts`: `count`
 * (1..AFLOC_MAX_PROMPTS) NUL-terminated texts, cleaned as for localization (so a one-word prompt
 * is empty text: use phrases such as "findings suggesting edema"). `temperature`: finite, > 0
 * (1 is the recommended default). `scores`, `probabilities`: caller-owned, `count` floats each;
 * either may be NULL, not both. Returns AFLOC_ERR_INVALID_ARGUMENT (NULLs, bad view, count or
 * temperature), AFLOC_ERR_LIMIT (a prompt too long), AFLOC_ERR_OUT_OF_MEMORY; on failure the
 * outputs are untouched. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_classify(const afloc_model *model,
                                            const afloc_image_view *image,
                                            const char *const *prompts, int32_t count,
                                            float temperature, float *scores,
                                            float *probabilities);

/* A fixed list of prompts encoded once (their report embeddings), to classify many images. */
typedef struct afloc_prompt_set afloc_prompt_set;

/* Encodes `count` (1..AFLOC_MAX_PROMPTS) prompts with `model`; `*out` receives a set to release
 * with afloc_prompt_set_free, usable only with this model (which must outlive it). Returns the
 * prompt statuses of afloc_model_classify and AFLOC_ERR_INVALID_ARGUMENT for a NULL out.
 * Thread-safe; a set may be shared by many threads. Since 0.1. */
AFLOC_API afloc_status afloc_prompt_set_create(const afloc_model *model,
                                               const char *const *prompts, int32_t count,
                                               afloc_prompt_set **out);

/* A set of prompt ensembles (the prompt ensembling of zero-shot CLIP-style classifiers): prompt k
 * (of `count`, 1..AFLOC_MAX_PROMPTS) belongs to ensemble `ensemble_of[k]` (0..ensemble_count-1,
 * each ensemble holding at least one prompt), and the set holds one entry per ensemble, the mean
 * of its prompts' unit report embeddings (each text_emb_r / max(‖text_emb_r‖, 1e-8)). Classifying
 * with it scores each ensemble by the cosine of the image with that mean, so several wordings of
 * one class count together and no single wording decides. A one-prompt ensemble scores exactly
 * as that prompt does in afloc_prompt_set_create's set. Returns its statuses, and
 * AFLOC_ERR_INVALID_ARGUMENT for a NULL ensemble_of, an index outside 0..ensemble_count-1 or an
 * empty ensemble. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_prompt_set_create_ensembles(const afloc_model *model,
                                                         const char *const *prompts,
                                                         int32_t count,
                                                         const int32_t *ensemble_of,
                                                         int32_t ensemble_count,
                                                         afloc_prompt_set **out);

/* afloc_model_classify against a prompt set: `scores` and `probabilities` hold one float per
 * entry of the set (its prompts, or its ensembles) each (either may be NULL, not both).
 * AFLOC_ERR_INVALID_ARGUMENT also for a NULL set or a set made with another model. Thread-safe.
 * Since 0.1. */
AFLOC_API afloc_status afloc_model_classify_prompt_set(const afloc_model *model,
                                                       const afloc_image_view *image,
                                                       const afloc_prompt_set *set,
                                                       float temperature, float *scores,
                                                       float *probabilities);

/* Releases a prompt set. NULL is a no-op. Since 0.1. */
AFLOC_API void afloc_prompt_set_free(afloc_prompt_set *set);

/* ==== training: section owned by src/trainer.c ==== */

/* Training (MODEL.md §4.3, §6, §7) on the model's backend: a trainer owns the optimizer state of
 * one model and updates the model's parameters in place. One step = image and text encoders in
 * training mode (BatchNorm batch statistics, BERT dropout) → the three AFLoc losses
 * L_GR + L_DS + L_SW (weights 1 by default; options.loss_weight_*) → backward → global gradient-norm clipping to 0.25 → Adam
 * (betas 0.5/0.999, eps 1e-8, L2 weight decay 1e-6). fp32 throughout.
 *
 * Determinism: with the same model, options, data and threads, every run gives bit-identical
 * weights; so does a run saved to a checkpoint and resumed. Dropout masks come from (seed, step);
 * the shuffle and caption draws of afloc_trainer_fit from (seed, epoch, batch).
 *
 * Threads: a trainer is used by one thread at a time. While it exists, it writes the model's
 * parameters: the model must not be used by other calls (inference, save) during a step or fit.
 * The model's inference functions keep using the weights it had when it was loaded until
 * afloc_trainer_update_model (afloc_trainer_fit calls it when it returns).
 *
 * CUDA: on a model of a CUDA context the step runs on the device (fp32 mode, TF32 off), with the
 * parameters, gradients and Adam moments in device memory (3 × the parameters plus the
 * activations of a batch). The model's host parameters are brought up to date by
 * afloc_trainer_save_checkpoint, afloc_trainer_update_model and afloc_trainer_free; checkpoints
 * are the same files on both backends, so a run saved on one resumes on the other (not
 * bit-identically: each op is within its stated tolerance of its CPU twin). Device failures come
 * back as AFLOC_ERR_DEVICE_LOST / AFLOC_ERR_OUT_OF_MEMORY / AFLOC_ERR_INTERNAL. */

typedef enum afloc_lr_schedule_kind {
    AFLOC_LR_SCHEDULE_CONSTANT      = 0, /* learning_rate always                                  */
    AFLOC_LR_SCHEDULE_STEP          = 1, /* StepLR: learning_rate · lr_gamma^(epoch / lr_step_epochs)
                                            (the official run: 2e-5 · 0.9^epoch)                */
    AFLOC_LR_SCHEDULE_WARMUP_COSINE = 2  /* linear warmup over warmup_steps steps, then cosine
                                            to min_learning_rate at total_steps                  */
} afloc_lr_schedule_kind;

typedef enum afloc_train_caption_mode {
    AFLOC_TRAIN_CAPTIONS_RANDOM = 0, /* official (MODEL.md §4.3): k of the n cached sentences,
                                        1 <= k <= n-1, in random order                          */
    AFLOC_TRAIN_CAPTIONS_FULL   = 1  /* every cached sentence in report order (no randomness)    */
} afloc_train_caption_mode;

/* The loss terms of one step, at the weights before its update. */
typedef struct afloc_train_loss_terms {
    size_t struct_size;       /* set by the caller to sizeof(afloc_train_loss_terms)            */
    double global;            /* L_GR, report ↔ global image                                    */
    double sentence;          /* L_DS, sentences ↔ layer3 regions                               */
    double word;              /* L_SW, words ↔ layer2 regions                                   */
    double total;             /* weighted sum of the terms (default global + sentence + word)   */
    double grad_norm;         /* L2 norm of the whole gradient before clipping                  */
    double learning_rate;     /* the rate this step used                                        */
    double step_seconds;      /* wall time of the step (tokenizing, forward, backward, Adam)    */
    double word_loss_seconds; /* of which the word-level loss op (its forward and backward)     */
    double sentence_contrast; /* L_WS (options.loss_weight_sentence_contrast; 0 when off).
                                 total then includes weight·L_WS                               */
} afloc_train_loss_terms;

/* What the progress callback sees after every step of afloc_trainer_fit. Filled by the library,
 * which sets struct_size to the size it was built with: read only fields inside struct_size. */
typedef struct afloc_train_progress {
    size_t  struct_size;
    int64_t step;               /* optimizer steps taken so far (1 after the first)             */
    int32_t epoch;              /* epoch of the step just taken, 0-based                        */
    int32_t epochs;             /* the epoch count fit trains to                                */
    int32_t batch;              /* batch within the epoch, 0-based                              */
    int32_t batches_per_epoch;
    afloc_train_loss_terms loss; /* the step's loss terms                                       */
    double  images_per_second;  /* images trained in this fit call / its wall time so far       */
    double  eta_seconds;        /* remaining steps of this fit × mean step time so far          */
} afloc_train_progress;

/* Called after every step of afloc_trainer_fit on the fitting thread; `progress` is valid during
 * the call only. The trainer's position is already advanced, so the callback may call
 * afloc_trainer_get_state and afloc_trainer_save_checkpoint (not step, fit or load). Return 0 to
 * continue, nonzero to stop: fit then returns AFLOC_ERR_CANCELLED right after that (complete)
 * step, and the trainer can be saved or fit again. */
typedef int32_t (*afloc_train_progress_fn)(void *user, const afloc_train_progress *progress);

typedef struct afloc_trainer_options {
    size_t   struct_size;       /* set by the caller to sizeof(afloc_trainer_options)            */
    int32_t  batch_size;        /* B, >= 1; default 128 (MODEL.md §7.1)                           */
    int32_t  epochs;            /* epochs of afloc_trainer_fit when its argument is 0; default 5 */
    uint64_t seed;              /* dropout masks, shuffling, captions; default 1                  */
    int32_t  threads;           /* OpenMP threads of a step; 0 (default) = the context's
                                   num_threads (0 there = all cores)                             */
    int32_t  lr_schedule;       /* afloc_lr_schedule_kind; default AFLOC_LR_SCHEDULE_STEP         */
    double   learning_rate;     /* base rate, finite, >= 0; default 2e-5                          */
    double   lr_gamma;          /* STEP: factor per lr_step_epochs epochs, > 0; default 0.9       */
    int32_t  lr_step_epochs;    /* STEP: >= 1; default 1                                          */
    int64_t  warmup_steps;      /* WARMUP_COSINE: >= 0; default 0                                 */
    int64_t  total_steps;       /* WARMUP_COSINE: step at which min_learning_rate is reached,
                                   >= warmup_steps; 0 (default) = epochs × batches per epoch,
                                   set by the first afloc_trainer_fit (afloc_trainer_step
                                   refuses to run while it is 0)                                */
    double   min_learning_rate; /* WARMUP_COSINE: final rate, >= 0; default 0                     */
    int32_t  caption_mode;      /* afloc_train_caption_mode; default RANDOM (official)           */
    float    dropout;           /* BERT dropout probability, 0 <= p < 1; default 0.1              */
    int32_t  drop_last;         /* 1 (default): fit skips an epoch's last incomplete batch        */
    afloc_train_progress_fn progress; /* may be NULL (default)                                   */
    void    *progress_user;     /* passed back to `progress`                                      */
    double   loss_weight_global;   /* weight of L_GR in the total, 0..1e6; default 1 (MODEL.md §6.4) */
    double   loss_weight_sentence; /* weight of L_DS; default 1                                   */
    double   loss_weight_word;     /* weight of L_SW; default 1. A weight of 0 skips that loss
                                      entirely (no time spent; reported as 0); not all three 0.
                                      For ablations, and for cheaper runs without the word level */
    int32_t  mirror_pairs;      /* 0 (default): batches as the paper (MODEL.md §2.4, no flip).
                                   1: a laterality augmentation of afloc_trainer_fit, not in the
                                   paper: each batch holds batch_size/2 manifest rows (batch_size
                                   even), each followed by its image mirrored left-right with the
                                   words "left" and "right" swapped in its caption, so the
                                   contrastive losses must tell the sides apart; an epoch is then
                                   rows/(batch_size/2) steps. Not stored in checkpoints: resume
                                   with the value that wrote them. Since 0.1                     */
    double   loss_weight_sentence_contrast; /* weight of L_WS, the within-image sentence loss
                                   (not in the paper), 0..1e6; default 0 (off, the paper's
                                   step). L_DS compares an image only with other images'
                                   reports, so a sentence may attend to another finding of its
                                   own image; L_WS contrasts the sentences of each report with
                                   each other: for every image with K >= 2 sentences, the
                                   contexts c_t its sentences attend to (as in L_DS) and
                                   Z[t, u] = 10·cos(c_t, sentence_u), L = CE(Z) + CE(Zᵀ)
                                   averaged over those images. On both backends (the CUDA
                                   kernel not yet run on hardware). Not stored in checkpoints.
                                   Since 0.1                                                    */
} afloc_trainer_options;

/* Where a trainer stands. */
typedef struct afloc_trainer_state {
    size_t   struct_size;   /* set by the caller to sizeof(afloc_trainer_state)                   */
    int64_t  step;          /* optimizer steps taken                                              */
    int32_t  epoch;         /* current epoch, 0-based                                             */
    int32_t  batch;         /* next batch within the epoch, 0-based                               */
    uint64_t seed;
    double   learning_rate; /* the rate the next step will use                                    */
} afloc_trainer_state;

typedef struct afloc_trainer afloc_trainer;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT for a NULL options or an implausible struct_size. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_options_default(afloc_trainer_options *options);

/* Creates a trainer for `model` (not NULL; it must outlive the trainer, and its parameters are
 * updated in place by every step). `options` may be NULL (defaults). Allocates the gradient and
 * Adam buffers (3 × the parameters) and the activations of a batch of batch_size: for the
 * paper's model about 1.6 GB plus roughly 60 MB per image. Step count, epoch and batch start at
 * 0. `*out` receives the trainer (release with afloc_trainer_free). Returns
 * AFLOC_ERR_INVALID_ARGUMENT (NULL model/out, an option out of range: the message names it),
 * AFLOC_ERR_OUT_OF_MEMORY; *out untouched on failure. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_create(afloc_model *model,
                                            const afloc_trainer_options *options,
                                            afloc_trainer **out);

/* Releases a trainer (not the model). NULL is a no-op. Since 0.1. */
AFLOC_API void afloc_trainer_free(afloc_trainer *trainer);

/* One training step on `count` (1..batch_size) pairs: `images` holds images_len >= count·crop·crop
 * floats, `count` preprocessed frames (crop = the config's crop_size) row-major, as
 * afloc_image_preprocess writes them; `captions[i]` is the NUL-terminated UTF-8 text of image i,
 * tokenized as written with the model's tokenizer (as fit's captions are; no cleaning; at most
 * AFLOC_MAX_TEXT_BYTES bytes, truncated to token_length pieces). Uses the learning rate of the
 * current (step, epoch), then advances the step count and the batch position. `terms` (may be
 * NULL) receives the loss terms. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL pointers, count out of
 * range, images_len too small, a non-finite gradient: the step is then skipped and the weights
 * unchanged, terms filled), AFLOC_ERR_LIMIT (caption too long), AFLOC_ERR_OUT_OF_MEMORY (a first
 * batch smaller than batch_size allocates its own activations). Since 0.1. */
AFLOC_API afloc_status afloc_trainer_step(afloc_trainer *trainer, const float *images,
                                          size_t images_len, const char *const *captions,
                                          int32_t count, afloc_train_loss_terms *terms);

/* Trains on the manifest at `manifest_path` (UTF-8 CSV with a header row naming the columns
 * `image`, a PNG path, and `report`, free text; rows whose cleaned report is empty are dropped)
 * until the trainer's epoch reaches `epochs` (0 = options.epochs); a trainer that was resumed
 * mid-epoch continues at its batch. Relative image paths are resolved against `image_root`, or
 * the manifest's folder when it is NULL. Images are letterboxed and cropped as for inference
 * (MODEL.md §2.4), captions drawn per options.caption_mode (§4.3), batches shuffled per epoch and
 * prepared on a worker thread. Calls options.progress after every step. Returns AFLOC_OK,
 * AFLOC_ERR_CANCELLED (the callback asked to stop), AFLOC_ERR_INVALID_ARGUMENT (NULL trainer or
 * path, epochs < 0, batch_size above the row count with drop_last), the manifest's
 * AFLOC_ERR_IO/FORMAT/LIMIT (naming the line), an image's AFLOC_ERR_IO/IMAGE_FORMAT (naming the
 * row and path), AFLOC_ERR_OUT_OF_MEMORY. Steps completed before a failure stay applied. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_fit(afloc_trainer *trainer, const char *manifest_path,
                                         const char *image_root, int32_t epochs);

/* Starts epoch `epoch` (>= 0) at batch 0, for callers that drive afloc_trainer_step themselves
 * (the STEP schedule changes its rate per epoch). Returns AFLOC_ERR_INVALID_ARGUMENT. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_set_epoch(afloc_trainer *trainer, int32_t epoch);

/* Fills the fields of `state` that fit in state->struct_size. Returns AFLOC_ERR_INVALID_ARGUMENT
 * for NULL pointers or an implausible struct_size. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_get_state(const afloc_trainer *trainer,
                                               afloc_trainer_state *state);

/* Writes a checkpoint to `path` (UTF-8): a libafloc model file (see "model files") holding the
 * parameters (BatchNorm running statistics included), the config and the vocabulary, plus the
 * Adam moments as F32 tensors "trainer.adam_m.<name>" and "trainer.adam_v.<name>", and the I64
 * tensor "trainer.state" and F64 tensor "trainer.schedule" (step, epoch, batch, seed, batch size,
 * schedule). Written atomically and durably (temp file, fsync, rename, fsync of the directory):
 * a crash or kill at any moment leaves the previous file or the new one at `path`, never a
 * partial one. About 3 × the model file's size. afloc_model_load refuses a checkpoint
 * (AFLOC_ERR_SCHEMA, unexpected tensor); use afloc_model_save for the trained model. Returns
 * AFLOC_ERR_INVALID_ARGUMENT, AFLOC_ERR_IO, AFLOC_ERR_OUT_OF_MEMORY. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_save_checkpoint(const afloc_trainer *trainer,
                                                     const char *path);

/* Restores a checkpoint written by afloc_trainer_save_checkpoint into `trainer`: the model's
 * parameters, the Adam moments, the step count, epoch and batch position, the seed and the
 * schedule (these replace the trainer's options). The whole file is validated first; on any
 * failure nothing changes. Continuing then gives bit-identical results to the run that wrote
 * it. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL arguments), AFLOC_ERR_IO, a damaged file's
 * AFLOC_ERR_FORMAT/CORRUPT/LIMIT, AFLOC_ERR_SCHEMA (a checkpoint of another model config or
 * vocabulary, a model file without trainer state, or another batch_size), AFLOC_ERR_UNSUPPORTED
 * (another checkpoint version), AFLOC_ERR_OUT_OF_MEMORY. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_load_checkpoint(afloc_trainer *trainer, const char *path);

/* Rebuilds the model's inference plan from its current (trained) parameters, so that the
 * inference functions see them; on a CUDA context it first downloads the trained parameters into
 * the model and then re-uploads the model's inference copy to the device. No inference call may
 * run on the model meanwhile. Returns AFLOC_ERR_INVALID_ARGUMENT, AFLOC_ERR_OUT_OF_MEMORY (the
 * old plan is then kept), a device status on a CUDA context. Since 0.1. */
AFLOC_API afloc_status afloc_trainer_update_model(afloc_trainer *trainer);

/* ==== evaluation: section owned by src/eval_metrics.c ==== */

/* The localization metrics of the official MS-CXR evaluation (MODEL.md §8.4, §9) and the
 * classification metrics of §9.7. All of them are pure functions of caller-owned arrays: no
 * context, no allocation visible to the caller, thread-safe on distinct output buffers.
 *
 * Maps are S x S float32, row-major (index y * S + x), in the letterboxed S-frame of §2.2: the
 * `frame` map afloc_model_localize writes with normalize = 0. Masks are S x S uint8 of the same
 * layout: 0 background, 1 one box, 2 or more overlapping boxes. In a map NaN means "excluded"
 * (the evaluation margin); ±Inf is refused. Undefined metrics are NaN, as in the reference. */

#define AFLOC_EVAL_MAX_SIZE       16384   /* largest map side S                        */
#define AFLOC_EVAL_MAX_RESAMPLES  1000000 /* most bootstrap resamples                  */
#define AFLOC_EVAL_THRESHOLDS     5       /* IoU/Dice thresholds 0.1, 0.2, ..., 0.5    */

/* Applies the §8.4 evaluation protocol to `map` in place (S x S float32, caller-owned, not NULL).
 * With margin != 0, every pixel outside the central square of side int(448 * S / 512) is set to
 * NaN (a 14-pixel border at S = 224; the square starts at floor((S - side) / 2)). Then the
 * non-NaN pixels become h' = 2 (h - min) / (max - min) - 1 in [-1, 1], computed in float32 in
 * the reference's order ((h - min) / (max - min)) * 2 - 1. NaN pixels already present stay NaN
 * and are excluded like the margin. A constant map (max = min) becomes all 0 (the reference
 * code fails there); a map without any non-NaN pixel is left all NaN. Returns
 * AFLOC_ERR_INVALID_ARGUMENT (map NULL, S < 1, a ±Inf pixel: the message gives its index) or
 * AFLOC_ERR_LIMIT (S > AFLOC_EVAL_MAX_SIZE); on failure the map is untouched. Thread-safe.
 * Since 0.1. */
AFLOC_API afloc_status afloc_eval_normalize_map(float *map, int32_t S, int32_t margin);

/* Adds one ground-truth box to `mask` (S x S uint8, caller-owned, not NULL), as the reference's
 * box_transfer/box2mask (§9.1). The box (x, y, w, h) is in pixels of the original image of
 * `width` x `height` (>= 1). With k = S / max(width, height) and the §2.2 letterbox (the resized
 * side is int(side * k), the pad before it floor((S - resized) / 2), on the left for tall or
 * square images and on top for wide ones), the frame box is x' = floor(x k + pad_left),
 * y' = floor(y k + pad_top), w' = floor(w k), h' = floor(h k), and every mask pixel of rows
 * y' .. y'+h'-1 and columns x' .. x'+w'-1 inside the frame is incremented (saturating at 255), so
 * boxes of one phrase add up to 2 where they overlap. Rows and columns outside 0..S-1 are
 * clipped (numpy would count a negative start from the far edge; such boxes are malformed).
 * Returns AFLOC_ERR_INVALID_ARGUMENT (mask NULL, S < 1, width or height < 1, a non-finite
 * coordinate) or AFLOC_ERR_LIMIT (S > AFLOC_EVAL_MAX_SIZE); the mask is untouched on failure.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_eval_box_to_mask(uint8_t *mask, int32_t S, int32_t width,
                                              int32_t height, double x, double y, double w,
                                              double h);

/* The metrics of one image-phrase pair, written by afloc_eval_pair. */
typedef struct afloc_eval_pair_metrics {
    size_t  struct_size; /* set by the caller to sizeof(afloc_eval_pair_metrics)               */
    double  iou[5];      /* §9.2 IoU at θ = 0.1 .. 0.5; NaN if nothing predicted or no box     */
    double  dice[5];     /* §9.3 Dice 2|P∧G| / (|P| + |G|) at the same θ; same NaN rule        */
    double  cnr;         /* §9.4 contrast-to-noise ratio, signed; NaN if inside or outside is
                            empty, 0 if both variances are 0                                   */
    int32_t hit;         /* §9.5 pointing game: 1 if the first maximum (row-major) of the
                            non-NaN map lies on a box pixel, 0 if not, -1 if undefined (no box
                            pixel or no non-NaN pixel)                                         */
} afloc_eval_pair_metrics;

/* Scores one image-phrase pair. `map` is the NORMALISED map (S x S float32, after
 * afloc_eval_normalize_map; NaN = excluded), `mask` its ground truth (S x S uint8); both are read
 * only, caller-owned, not NULL. With P = (h' > θ) and G = (mask != 0) over the non-NaN pixels:
 *  - iou[t] = |P∧G| / |P∨G| and dice[t] = 2|P∧G| / (|P| + |G|) for the thresholds of
 *    np.arange(0.1, 0.6, 0.1), compared in float32 as the reference's numpy does (h' > (float)θ);
 *    NaN when |P| = 0 or |G| = 0;
 *  - cnr = (mean(A) - mean(Ā)) / sqrt(var(A) + var(Ā)) with A = {mask == 1} and Ā = {mask == 0}
 *    (value 2 belongs to neither), on the map normalised once more in float32 as the reference
 *    does; means and population variances accumulated in double (the reference's float32 numpy
 *    reductions differ by ~2e-7 relative); a set whose values are all equal has variance exactly
 *    0; NaN when A or Ā is empty, 0 when the variance sum is 0;
 *  - hit as described in afloc_eval_pair_metrics.
 * `out` is caller-owned: out->struct_size must be set; only the fields that fit are written.
 * Returns AFLOC_ERR_INVALID_ARGUMENT (a NULL pointer, S < 1, an implausible out->struct_size, a
 * ±Inf map pixel) or AFLOC_ERR_LIMIT (S > AFLOC_EVAL_MAX_SIZE); `out` is untouched on failure.
 * Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_eval_pair(const float *map, const uint8_t *mask, int32_t S,
                                       afloc_eval_pair_metrics *out);

/* A dataset's localization summary, written by afloc_eval_summarize. Each value is a macro
 * average (the mean over categories of the per-category nanmean over pairs); *_lo and *_hi are
 * its bootstrap confidence interval (NaN when no resamples were asked for). */
typedef struct afloc_eval_summary {
    size_t  struct_size;  /* set by the caller to sizeof(afloc_eval_summary)                   */
    double  iou;          /* mean over the 5 thresholds of iou_at (NaN if any of them is NaN)  */
    double  iou_lo;       /* 2.5th bootstrap percentile of iou                                 */
    double  iou_hi;       /* 97.5th bootstrap percentile of iou                                */
    double  dice;         /* as iou, for Dice                                                  */
    double  dice_lo;
    double  dice_hi;
    double  cnr;          /* macro average of cnr                                              */
    double  cnr_lo;
    double  cnr_hi;
    double  pointing;     /* macro average of hit (pairs with hit = -1 left out)               */
    double  pointing_lo;
    double  pointing_hi;
    double  iou_at[5];    /* macro average of iou[t] per threshold                             */
    int32_t pairs;        /* n                                                                 */
    int32_t categories;   /* distinct category ids among the pairs                             */
} afloc_eval_summary;

/* Aggregates `n` (>= 1) pairs as §9.6: for each metric (and each threshold) the nanmean over the
 * pairs of each category, then the nanmean over the categories present. `pairs` is an array of n
 * structs filled by afloc_eval_pair (all with the same struct_size, used as the array stride,
 * covering at least the 0.1 fields); `category` holds n ids >= 0 (any values; only equality
 * matters). Both are read only, caller-owned, not NULL.
 * Confidence intervals: `resamples` (0..AFLOC_EVAL_MAX_RESAMPLES; 0 = none, the bounds are NaN)
 * stratified bootstrap replicates: each one redraws, within every category, as many pairs as
 * it has, with replacement, and recomputes the summary value. The replicates are sorted (NaN
 * last) and the bounds are those at index int(0.025 R) - 1 and int(0.975 R) - 1, as in the
 * reference (an index below 0 is taken as 0). Draws come from xoshiro256** seeded through
 * splitmix64 with `seed` (uniform integers without modulo bias), so the result is a function of
 * the inputs and `seed` only. This is NOT NumPy's stream, and the reference resamples all pairs
 * jointly and averages per-category bounds, so the bounds are not bit-identical to the
 * reference's; the point values are. `out` is caller-owned: out->struct_size must be set; only
 * the fields that fit are written. Returns AFLOC_ERR_INVALID_ARGUMENT (a NULL pointer, n < 1,
 * resamples < 0, a negative category id, unequal or too small struct_size in `pairs`, an
 * implausible out->struct_size), AFLOC_ERR_LIMIT (resamples > AFLOC_EVAL_MAX_RESAMPLES) or
 * AFLOC_ERR_OUT_OF_MEMORY; `out` is untouched on failure. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_eval_summarize(const afloc_eval_pair_metrics *pairs,
                                            const int32_t *category, int32_t n,
                                            int32_t resamples, uint64_t seed,
                                            afloc_eval_summary *out);

/* ROC AUC of `scores` against `labels` (§9.7), both n (>= 1) long, read only, caller-owned, not
 * NULL: the Mann-Whitney statistic with average ranks for tied scores, i.e. the probability that
 * a positive scores above a negative, ties counted one half (equal to sklearn's roc_auc_score).
 * Labels are 0 or 1. *auc receives NaN when one class is absent. Returns
 * AFLOC_ERR_INVALID_ARGUMENT (a NULL pointer, n < 1, a label other than 0/1, a NaN score),
 * AFLOC_ERR_OUT_OF_MEMORY; *auc is untouched on failure. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_eval_auc(const double *scores, const int32_t *labels, int32_t n,
                                      double *auc);

/* F1 and accuracy of `scores` against `labels` (0/1; n >= 1; read only, caller-owned, not NULL)
 * with score >= `threshold` predicted positive: *f1 = 2 TP / (2 TP + FP + FN), NaN when that
 * denominator is 0 (no positive label and none predicted; sklearn reports 0 with a warning),
 * *accuracy = (TP + TN) / n. *best_threshold receives the threshold among the distinct scores
 * that maximises F1 (the highest such score when several tie) and *best_f1 that F1. Any of the
 * four outputs may be NULL (not computed). These thresholds are not in any readable reference
 * source (MODEL.md §9.7): label them as libafloc's. Returns AFLOC_ERR_INVALID_ARGUMENT (scores
 * or labels NULL, n < 1, a label other than 0/1, a NaN score or threshold),
 * AFLOC_ERR_OUT_OF_MEMORY; outputs are untouched on failure. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_eval_f1(const double *scores, const int32_t *labels, int32_t n,
                                     double threshold, double *f1, double *accuracy,
                                     double *best_threshold, double *best_f1);

/* ==== synth: section owned by src/synth*.c ==== */

/* Procedural demo datasets (issue 5): radiograph-like images with findings, radiologist-style
 * reports, test prompts with boxes, and a covering WordPiece vocabulary, in the layout that
 * `afloc eval` reads (see `afloc synth --help`). The output depends only on the modality and the
 * options other than `threads`: the same arguments give byte-identical files on every machine
 * and thread count. */

typedef struct afloc_synth_options {
    size_t  struct_size; /* sizeof(afloc_synth_options)                                 */
    int32_t train_count; /* training images, 1..999999; default 2000                    */
    int32_t test_count;  /* held-out images, 1..999999; default 300                     */
    int64_t seed;        /* any value; default 1                                        */
    int32_t size;        /* image width = height in pixels, 64..2048; default 256       */
    int32_t threads;     /* 0: one per processor (default); 1..1024                     */
} afloc_synth_options;

/* Fills the fields of `options` that fit in options->struct_size with their defaults. Returns
 * AFLOC_ERR_INVALID_ARGUMENT if `options` is NULL or struct_size is implausible. Since 0.1. */
AFLOC_API afloc_status afloc_synth_options_default(afloc_synth_options *options);

/* Writes a synthetic dataset of `modality` ("cxr": 16-bit gray chest radiographs with nodule,
 * consolidation, pleural effusion, pneumothorax, cardiomegaly, atelectasis and mass; "fundus":
 * 8-bit RGB colour fundus photographs with haemorrhage, hard exudate, drusen and cotton wool
 * spot; "histo": 8-bit RGB H&E tiles with tumour, necrosis and inflammation) into the
 * folder `out_dir` (UTF-8; created if missing, its parent must exist; existing files of the
 * layout are replaced): images/train_NNNNNN.png, images/test_NNNNNN.png, train.csv, test.csv,
 * labels.csv, classes.csv, vocab.txt and, last, dataset.json. `options` may be NULL (defaults).
 * Each file is replaced atomically. Returns AFLOC_ERR_INVALID_ARGUMENT (NULL out_dir, options
 * out of range), AFLOC_ERR_UNSUPPORTED (unknown modality), AFLOC_ERR_IO (naming the path),
 * AFLOC_ERR_OUT_OF_MEMORY; after a failure some files may have been written. Thread-safe for
 * distinct folders. Since 0.1. */
AFLOC_API afloc_status afloc_synth_dataset_write(const char *modality, const char *out_dir,
                                                 const afloc_synth_options *options);

/* The version of the generators' output that afloc_synth_dataset_write records as
 * "generator_version" in dataset.json. It grows whenever some file of some dataset changes for the
 * same arguments, so a folder written by another version should be written again before its
 * files are compared with this build's (the demo does so). Thread-safe. Since 0.1. */
AFLOC_API int32_t afloc_synth_generator_version(void);

/* ==== model files: section owned by src/model_file.c ==== */

/* A libafloc model file is one .safetensors file (DESIGN.md §6): the parameters under the official
 * checkpoint's tensor names, `__metadata__` with "afloc.format" ("1"), "afloc.config" (the model
 * config, a JSON object), "afloc.data_sha256" and "afloc.header_sha256" (integrity), and the
 * WordPiece vocabulary as the U8 tensor "tokenizer.vocab" (tokens separated by '\n'). Every reader
 * validates the whole file (header bounds, byte ranges, dtypes, shapes, both checksums) before
 * using any of it: a damaged file gives AFLOC_ERR_FORMAT, AFLOC_ERR_CORRUPT or AFLOC_ERR_LIMIT, a
 * file of another format version AFLOC_ERR_UNSUPPORTED. */

/* Describes the model file at `path` as a NUL-terminated JSON object:
 *   {"format":"1","config":{...},"vocab_size":N,"tensor_count":M,
 *    "tensors":[{"name":"...","dtype":"F32","shape":[...]}, ...]}
 * (tensors in file order, tokenizer.vocab included). With buffer == NULL or capacity too small,
 * *needed (if not NULL) receives the size including the NUL and the call returns AFLOC_OK or
 * AFLOC_ERR_BUFFER_TOO_SMALL respectively. Returns AFLOC_ERR_INVALID_ARGUMENT, AFLOC_ERR_IO, the
 * validation errors above, or AFLOC_ERR_OUT_OF_MEMORY. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_model_file_inspect(const char *path, char *buffer, size_t capacity,
                                                size_t *needed);

/* Creates a tokenizer from the vocabulary inside the model file at `path` (after validating the
 * whole file, as above). `options` may be NULL (defaults); `*out` is released with
 * afloc_tokenizer_free. Returns the statuses of afloc_model_file_inspect and of
 * afloc_tokenizer_create. Thread-safe. Since 0.1. */
AFLOC_API afloc_status afloc_tokenizer_load_model_file(const char *path,
                                                       const afloc_tokenizer_options *options,
                                                       afloc_tokenizer **out);

#ifdef __cplusplus
}
#endif

#endif /* AFLOC_AFLOC_H */
