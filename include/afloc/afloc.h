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

/* ==== text: section owned by src/text_*.c ==== */

/* ==== model files: section owned by src/model_file.c ==== */

#ifdef __cplusplus
}
#endif

#endif /* AFLOC_AFLOC_H */
