/* image_png.c: PNG decode and encode with libpng, hardened as RELIABILITY.md §2.4 describes.
 *
 * Decode. The input is bytes, read by libpng through a bounded memory cursor. Before libpng sees
 * them, our own code checks the signature and the IHDR (CRC, colour type and depth, width and
 * height against the limits, pixel bytes against the budget), so a decompression bomb is refused
 * before anything is allocated. libpng then runs with our error, warning and allocation
 * callbacks: every libpng and zlib allocation, and the output pixels, are charged to one
 * per-decode byte budget. Ancillary chunks other than sBIT are skipped unread (zTXt/iCCP bombs
 * are never inflated). Only value-preserving transforms are applied: gray 1/2/4 -> 8 (libpng's
 * scaling), palette -> RGB, strip alpha, byte swap of 16-bit samples on little-endian hosts,
 * interlace handling. Never gamma, background, quantize or scale_16.
 *
 * Encode. U8/U16 gray or RGB written as stored (16-bit big-endian as PNG requires), F32 written
 * as 8-bit after clamping to [0, 1]. Output goes to a growing memory buffer first.
 *
 * setjmp lives in exactly two functions, decode_with_libpng and encode_with_libpng. All their
 * state is in a struct owned by their caller (never a local of the setjmp frame), so a longjmp
 * loses nothing, and one idempotent cleanup per direction frees everything.
 *
 * Layout of decoded pixels: packed rows, (H, W, C) interleaved, C = 1 or 3, native byte order.
 */
#include <png.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "dependency_versions.h"
#include "error.h"
#include "file_io.h"
#include "image.h"
#include "image_view.h"
#include "options.h"

#define DEFAULT_MAX_FILE_BYTES   ((size_t)256 << 20)
/* 16384 x 16384 x 3 channels x 2 bytes = 1536 MiB of pixels, plus 128 MiB for libpng and zlib
 * (their working memory for the widest row is a few MiB). */
#define DEFAULT_MAX_DECODE_BYTES ((size_t)1664 << 20)
/* libpng messages are short; longer ones are cut (RELIABILITY §2.4 step 8). */
#define LIBPNG_MESSAGE_CAPACITY  72
/* Backstops only: every ancillary chunk we could cache or allocate for is skipped anyway. */
#define CHUNK_CACHE_MAX          64
#define CHUNK_MALLOC_MAX         ((png_alloc_size_t)1 << 20)
/* Compressed IDAT bytes libpng may still read once the last row is decoded. A conforming stream
 * needs a few bytes there (end of block, Adler-32); without a cap, libpng inflates any trailing
 * data to its end while finishing the last row: 1 MiB of it inflating to 1 GiB took 2.1 s (a CPU
 * bomb, T5). 16 KiB bounds that work to about 25 MB of inflate (one more 8 KiB read may be in
 * flight). */
#define MAX_IDAT_AFTER_ROWS      ((size_t)16 << 10)
#define CHUNK_IDAT               0x49444154u
/* Each budgeted block starts with its size, padded so the payload keeps malloc's alignment. */
#define BLOCK_HEADER             16
_Static_assert(_Alignof(max_align_t) <= BLOCK_HEADER, "block header keeps malloc alignment");

static const afloc_png_options default_options = {
    .struct_size      = sizeof(afloc_png_options),
    .max_width        = AFLOC_MAX_IMAGE_SIDE,
    .max_height       = AFLOC_MAX_IMAGE_SIDE,
    .max_file_bytes   = DEFAULT_MAX_FILE_BYTES,
    .max_decode_bytes = DEFAULT_MAX_DECODE_BYTES,
};

/* Test hook data: what the last decode on this thread allocated. */
static _Thread_local afloc_png_decode_stats last_decode_stats;

/* ---- state reached by libpng's callbacks ---- */

typedef struct png_guard {
    size_t                 budget;  /* bytes this call may hold at once            */
    size_t                 held;    /* bytes held now                               */
    int                    budget_refused;
    afloc_png_decode_stats stats;
    afloc_status           cause;   /* AFLOC_OK until a callback knows why libpng will fail */
    char                   message[LIBPNG_MESSAGE_CAPACITY];
} png_guard;

static int guard_charge(png_guard *g, size_t bytes) {
    g->stats.requests++;
    if (bytes > g->stats.largest_request) g->stats.largest_request = bytes;
    if (bytes > g->budget - g->held) {
        g->budget_refused = 1;
        if (g->cause == AFLOC_OK) g->cause = AFLOC_ERR_OUT_OF_MEMORY;
        return 0;
    }
    g->held += bytes;
    if (g->held > g->stats.peak_bytes) g->stats.peak_bytes = g->held;
    return 1;
}

static void guard_refund(png_guard *g, size_t bytes) { g->held -= bytes; }

static png_voidp guarded_malloc(png_structp png, png_alloc_size_t bytes) {
    png_guard *g = png_get_mem_ptr(png);
    if (bytes > SIZE_MAX - BLOCK_HEADER || !guard_charge(g, bytes + BLOCK_HEADER)) return NULL;
    size_t total = bytes + BLOCK_HEADER;
    unsigned char *block = afloc_malloc(total);
    if (!block) {
        guard_refund(g, total);
        if (g->cause == AFLOC_OK) g->cause = AFLOC_ERR_OUT_OF_MEMORY;
        return NULL;
    }
    memcpy(block, &total, sizeof total);
    return block + BLOCK_HEADER;
}

static void guarded_free(png_structp png, png_voidp pointer) {
    if (!pointer) return;
    png_guard *g = png_get_mem_ptr(png);
    unsigned char *block = (unsigned char *)pointer - BLOCK_HEADER;
    size_t total;
    memcpy(&total, block, sizeof total);
    guard_refund(g, total);
    afloc_free(block);
}

/* libpng calls this for every error; it must not return, so it jumps to the armed setjmp. */
static void on_png_error(png_structp png, png_const_charp message) {
    png_guard *g = png_get_error_ptr(png);
    snprintf(g->message, sizeof g->message, "%s", message ? message : "(no message)");
    png_longjmp(png, 1);
}

/* Warnings never print. The one we act on: libpng's own user-limit check (a backstop for ours). */
static void on_png_warning(png_structp png, png_const_charp message) {
    png_guard *g = png_get_error_ptr(png);
    if (message && strstr(message, "exceeds user limit") && g->cause == AFLOC_OK)
        g->cause = AFLOC_ERR_LIMIT;
}

/* The status and message after libpng jumped back: the cause a callback recorded, else
 * `otherwise` (malformed data when decoding, a library problem when encoding). */
static afloc_status libpng_failure(const png_guard *g, const char *function, afloc_status otherwise) {
    afloc_status status = g->cause != AFLOC_OK ? g->cause : otherwise;
    if (g->budget_refused)
        return afloc_fail(status, "%s: libpng: %s (decode budget max_decode_bytes %zu exhausted)",
                          function, g->message, g->budget);
    return afloc_fail(status, "%s: libpng: %s", function, g->message);
}

static int host_is_little_endian(void) {
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

static uint32_t read_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- decode ---- */

typedef struct png_decode {
    const char          *function;   /* public function, first word of every message */
    afloc_png_options    options;
    png_guard            guard;
    const unsigned char *bytes;      /* the input, read through a cursor */
    size_t               size;
    size_t               offset;
    /* IHDR as our pre-check read it */
    uint32_t             width, height;
    int                  bit_depth, color_type, interlaced;
    int                  channels;       /* output: 1 or 3 */
    int                  sample_bytes;   /* output: 1 or 2 */
    size_t               row_bytes;      /* output row */
    size_t               pixel_bytes;    /* output buffer */
    /* resources, freed by decode_cleanup */
    png_structp          png;
    png_infop            info;
    png_bytep           *rows;
    size_t               rows_bytes;
    afloc_image         *image;
    uint32_t             rows_expected;    /* rows libpng delivers, all passes   */
    uint32_t             rows_seen;        /* counted by count_row               */
    int                  rows_done;        /* the last row has been decoded      */
    size_t               idat_after_rows;  /* IDAT bytes read since rows_done    */
} png_decode;

static void read_from_cursor(png_structp png, png_bytep out, size_t length) {
    png_decode *d = png_get_io_ptr(png);
    if (length > d->size - d->offset) png_error(png, "file is truncated");
    if (d->rows_done && png_get_io_chunk_type(png) == CHUNK_IDAT &&
        (png_get_io_state(png) & PNG_IO_CHUNK_DATA)) {
        d->idat_after_rows += length;
        if (d->idat_after_rows > MAX_IDAT_AFTER_ROWS)
            png_error(png, "more than 16 KiB of compressed data after the last row");
    }
    memcpy(out, d->bytes + d->offset, length);
    d->offset += length;
}

/* Output channels for a valid (colour type, bit depth), else 0. */
static int output_channels(int color_type, int bit_depth) {
    switch (color_type) {
    case 0: /* gray */
        return (bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8 ||
                bit_depth == 16) ? 1 : 0;
    case 3: /* palette -> RGB */
        return (bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8) ? 3 : 0;
    case 4: /* gray + alpha -> gray */
        return (bit_depth == 8 || bit_depth == 16) ? 1 : 0;
    case 2: /* RGB */
    case 6: /* RGBA -> RGB */
        return (bit_depth == 8 || bit_depth == 16) ? 3 : 0;
    default:
        return 0;
    }
}

/* Signature and IHDR, checked by us before libpng allocates anything (RELIABILITY rule 1). */
static afloc_status check_header(png_decode *d) {
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (d->size < 8 || memcmp(d->bytes, signature, 8) != 0)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: not a PNG file (no PNG signature in %zu bytes)",
                          d->function, d->size);
    if (d->size < 33)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: file is truncated inside IHDR (%zu bytes)",
                          d->function, d->size);
    const unsigned char *chunk = d->bytes + 8;
    if (read_be32(chunk) != 13 || memcmp(chunk + 4, "IHDR", 4) != 0)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: first chunk is not a 13-byte IHDR",
                          d->function);
    if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), chunk + 4, 17) != read_be32(chunk + 21))
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: IHDR CRC mismatch", d->function);
    d->width = read_be32(chunk + 8);
    d->height = read_be32(chunk + 12);
    d->bit_depth = chunk[16];
    d->color_type = chunk[17];
    d->interlaced = chunk[20];
    if (d->width == 0 || d->height == 0 || d->width > PNG_UINT_31_MAX || d->height > PNG_UINT_31_MAX)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: IHDR size %lux%lu is not valid PNG",
                          d->function, (unsigned long)d->width, (unsigned long)d->height);
    d->channels = output_channels(d->color_type, d->bit_depth);
    if (!d->channels || chunk[18] != 0 || chunk[19] != 0 || d->interlaced > 1)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT,
                          "%s: IHDR colour type %d, bit depth %d, compression %d, filter %d, "
                          "interlace %d is not valid PNG", d->function, d->color_type,
                          d->bit_depth, chunk[18], chunk[19], d->interlaced);
    if (d->width > (uint32_t)d->options.max_width || d->height > (uint32_t)d->options.max_height)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: image is %lux%lu, limit %dx%d", d->function,
                          (unsigned long)d->width, (unsigned long)d->height,
                          (int)d->options.max_width, (int)d->options.max_height);
    d->sample_bytes = d->bit_depth == 16 ? 2 : 1;
    /* Checked arithmetic, though the limits above already keep it far from overflowing (and
     * height <= 16384 keeps the row-pointer array small). */
    size_t per_pixel = (size_t)d->channels * (size_t)d->sample_bytes;
    if (d->width > SIZE_MAX / per_pixel || (size_t)d->width * per_pixel > SIZE_MAX / d->height)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: image %lux%lu overflows the address space",
                          d->function, (unsigned long)d->width, (unsigned long)d->height);
    d->row_bytes = (size_t)d->width * per_pixel;
    d->pixel_bytes = d->row_bytes * d->height;
    d->rows_bytes = (size_t)d->height * sizeof(png_bytep);
    if (d->pixel_bytes > d->options.max_decode_bytes ||
        d->rows_bytes > d->options.max_decode_bytes - d->pixel_bytes)
        return afloc_fail(AFLOC_ERR_LIMIT,
                          "%s: image %lux%lu x %d channel(s) x %d byte(s) needs %zu bytes, "
                          "max_decode_bytes %zu", d->function, (unsigned long)d->width,
                          (unsigned long)d->height, d->channels, d->sample_bytes,
                          d->pixel_bytes + d->rows_bytes, d->options.max_decode_bytes);
    return AFLOC_OK;
}

/* Limits inside libpng as a second line of defence, and every ancillary chunk but sBIT skipped
 * without being read into memory (tRNS too: alpha is dropped anyway). */
static void configure_libpng(png_decode *d) {
    static const png_byte skip_too[] = "tRNS";
    static const png_byte keep[] = "sBIT";
    png_set_read_fn(d->png, d, read_from_cursor);
    png_set_user_limits(d->png, (png_uint_32)d->options.max_width, (png_uint_32)d->options.max_height);
    png_set_chunk_cache_max(d->png, CHUNK_CACHE_MAX);
    png_set_chunk_malloc_max(d->png, CHUNK_MALLOC_MAX);
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, skip_too, 1);
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_AS_DEFAULT, keep, 1);
}

/* A user transform that changes nothing: libpng calls it for each row (of each pass) after
 * inflating it and before it finishes the IDAT stream, so it marks when the last row is in. */
static void count_row(png_structp png, png_row_infop row_info, png_bytep data) {
    (void)row_info;
    (void)data;
    png_decode *d = png_get_user_transform_ptr(png);
    if (++d->rows_seen >= d->rows_expected) d->rows_done = 1;
}

static uint32_t rows_delivered(const png_decode *d) {
    if (!d->interlaced) return d->height;
    uint32_t total = 0;
    for (int pass = 0; pass < 7; pass++)
        if (PNG_PASS_COLS(d->width, pass) > 0) total += PNG_PASS_ROWS(d->height, pass);
    return total;
}

static void set_transforms(png_decode *d) {
    if (d->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d->png);
    if (d->color_type == PNG_COLOR_TYPE_GRAY && d->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(d->png);
    if (d->color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(d->png);
    if (d->bit_depth == 16 && host_is_little_endian()) png_set_swap(d->png);
    if (d->interlaced) (void)png_set_interlace_handling(d->png);
    d->rows_expected = rows_delivered(d);
    png_set_read_user_transform_fn(d->png, count_row);
    png_set_user_transform_info(d->png, d, 0, 0);
}

/* libpng must agree with our reading of IHDR and produce exactly the layout we allocate for. */
static afloc_status check_layouts_agree(png_decode *d, int after_transforms) {
    int same;
    if (!after_transforms)
        same = png_get_image_width(d->png, d->info) == d->width &&
               png_get_image_height(d->png, d->info) == d->height &&
               png_get_bit_depth(d->png, d->info) == d->bit_depth &&
               png_get_color_type(d->png, d->info) == d->color_type;
    else
        same = png_get_channels(d->png, d->info) == d->channels &&
               png_get_bit_depth(d->png, d->info) == 8 * d->sample_bytes &&
               png_get_rowbytes(d->png, d->info) == d->row_bytes;
    if (!same)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: libpng's %s layout differs from ours "
                          "(%lux%lu, %d channel(s), %d-bit expected)", d->function,
                          after_transforms ? "output" : "IHDR", (unsigned long)d->width,
                          (unsigned long)d->height, d->channels, 8 * d->sample_bytes);
    return AFLOC_OK;
}

static afloc_status allocate_output(png_decode *d) {
    png_guard *g = &d->guard;
    d->image = afloc_calloc(1, sizeof *d->image);
    if (!d->image)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the image", d->function);
    if (!guard_charge(g, d->pixel_bytes) || !guard_charge(g, d->rows_bytes))
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: %zu pixel bytes do not fit the rest of "
                          "max_decode_bytes %zu", d->function, d->pixel_bytes, g->budget);
    /* calloc: pages stay untouched until libpng writes them, and nothing uninitialised is read. */
    d->image->pixels = afloc_calloc(d->pixel_bytes, 1);
    d->rows = afloc_malloc(d->rows_bytes);
    if (!d->image->pixels || !d->rows)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of pixels",
                          d->function, d->pixel_bytes);
    for (uint32_t y = 0; y < d->height; y++) d->rows[y] = d->image->pixels + (size_t)y * d->row_bytes;
    d->image->width = (int32_t)d->width;
    d->image->height = (int32_t)d->height;
    d->image->channels = d->channels;
    d->image->pixel_type = d->sample_bytes == 2 ? AFLOC_PIXEL_U16 : AFLOC_PIXEL_U8;
    d->image->row_stride = d->row_bytes;
    return AFLOC_OK;
}

/* sBIT s < 16 on 16-bit data is reported only if every sample fits in s bits (raw layout, as
 * radiograph exporters write it); the spec's left-shifted layout keeps significant_bits 0. */
static void record_significant_bits(png_decode *d) {
    png_color_8p sbit = NULL;
    if (d->sample_bytes != 2 || !png_get_sBIT(d->png, d->info, &sbit) || !sbit) return;
    int bits = sbit->gray;
    if (d->color_type & PNG_COLOR_MASK_COLOR) {
        bits = sbit->red > sbit->green ? sbit->red : sbit->green;
        if (sbit->blue > bits) bits = sbit->blue;
    }
    if (bits < 1 || bits > 15) return;
    uint16_t max = (uint16_t)((1u << bits) - 1u), sample;
    size_t count = d->pixel_bytes / 2;
    for (size_t i = 0; i < count; i++) {
        memcpy(&sample, d->image->pixels + 2 * i, sizeof sample);
        if (sample > max) return;
    }
    d->image->significant_bits = bits;
}

/* The one function that calls libpng to decode; its setjmp is armed before any libpng call on
 * the read struct. Everything it creates is recorded in *d for decode_cleanup. */
static afloc_status decode_with_libpng(png_decode *d) {
    png_guard *g = &d->guard;
    d->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, g, on_png_error, on_png_warning, g,
                                      guarded_malloc, guarded_free);
    if (!d->png)
        return afloc_fail(g->cause == AFLOC_ERR_OUT_OF_MEMORY ? AFLOC_ERR_OUT_OF_MEMORY : AFLOC_ERR_INTERNAL,
                          "%s: libpng could not create a read struct (headers %s)", d->function,
                          PNG_LIBPNG_VER_STRING);
    if (setjmp(png_jmpbuf(d->png))) return libpng_failure(g, d->function, AFLOC_ERR_IMAGE_FORMAT);
    d->info = png_create_info_struct(d->png);
    if (!d->info)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: libpng could not create an info struct",
                          d->function);
    configure_libpng(d);
    png_read_info(d->png, d->info);
    AFLOC_TRY(check_layouts_agree(d, 0));
    set_transforms(d);
    png_read_update_info(d->png, d->info);
    AFLOC_TRY(check_layouts_agree(d, 1));
    AFLOC_TRY(allocate_output(d));
    png_read_image(d->png, d->rows);
    png_read_end(d->png, NULL);
    if (d->offset != d->size)
        return afloc_fail(AFLOC_ERR_IMAGE_FORMAT, "%s: %zu bytes after IEND", d->function,
                          d->size - d->offset);
    record_significant_bits(d);
    return AFLOC_OK;
}

/* Frees whatever decode_with_libpng left; safe to call twice. */
static void decode_cleanup(png_decode *d) {
    if (d->png) png_destroy_read_struct(&d->png, d->info ? &d->info : NULL, NULL);
    d->png = NULL;
    d->info = NULL;
    afloc_free(d->rows);
    d->rows = NULL;
    afloc_image_free(d->image);
    d->image = NULL;
}

static afloc_status read_options(afloc_png_options *full, const afloc_png_options *caller,
                                 const char *function) {
    AFLOC_TRY(afloc_options_read(full, sizeof *full, caller, &default_options, function));
    if (full->max_width < 1 || full->max_width > AFLOC_MAX_IMAGE_SIDE || full->max_height < 1 ||
        full->max_height > AFLOC_MAX_IMAGE_SIDE)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: options max_width x max_height %dx%d "
                          "outside 1..%d", function, (int)full->max_width, (int)full->max_height,
                          AFLOC_MAX_IMAGE_SIDE);
    if (full->max_file_bytes == 0 || full->max_decode_bytes == 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: options max_file_bytes %zu and "
                          "max_decode_bytes %zu must be >= 1", function, full->max_file_bytes,
                          full->max_decode_bytes);
    return AFLOC_OK;
}

static afloc_status decode_png(const void *bytes, size_t size, const afloc_png_options *options,
                               afloc_image **out, const char *function) {
    png_decode d;
    memset(&d, 0, sizeof d);
    d.function = function;
    afloc_status status = read_options(&d.options, options, function);
    if (status == AFLOC_OK) status = afloc_check_png_dependencies(function);
    if (status != AFLOC_OK) return status;
    if (size > d.options.max_file_bytes)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: %zu bytes of PNG, limit max_file_bytes %zu",
                          function, size, d.options.max_file_bytes);
    d.bytes = bytes;
    d.size = size;
    d.guard.budget = d.options.max_decode_bytes;
    status = check_header(&d);
    if (status == AFLOC_OK) status = decode_with_libpng(&d);
    if (status == AFLOC_OK) {
        *out = d.image;
        d.image = NULL;
    }
    decode_cleanup(&d);
    last_decode_stats = d.guard.stats;
    return status;
}

afloc_status afloc_png_options_default(afloc_png_options *options) {
    return afloc_options_fill_defaults(options, &default_options, sizeof default_options,
                                       "afloc_png_options_default");
}

afloc_status afloc_image_decode_png(const void *bytes, size_t size, const afloc_png_options *options,
                                    afloc_image **out) {
    afloc_clear_error();
    if (!bytes || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "afloc_image_decode_png: %s is NULL",
                          !bytes ? "bytes" : "out");
    return decode_png(bytes, size, options, out, "afloc_image_decode_png");
}

afloc_status afloc_image_load_png(const char *path, const afloc_png_options *options,
                                  afloc_image **out) {
    static const char function[] = "afloc_image_load_png";
    afloc_clear_error();
    if (!path || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", function,
                          !path ? "path" : "out");
    afloc_png_options full;
    AFLOC_TRY(read_options(&full, options, function));
    unsigned char *data = NULL;
    size_t size = 0;
    AFLOC_TRY(afloc_read_file(path, full.max_file_bytes, function, &data, &size));
    afloc_status status = decode_png(data, size, &full, out, function);
    afloc_free(data);
    return status;
}

void afloc_png_test_last_stats(afloc_png_decode_stats *stats) { *stats = last_decode_stats; }

/* ---- encode ---- */

typedef struct png_encode {
    const char             *function;
    const afloc_image_view *view;
    png_guard               guard;
    png_structp             png;
    png_infop               info;
    unsigned char          *out;       /* encoded bytes, grown by write_to_buffer */
    size_t                  out_size;
    size_t                  out_capacity;
    unsigned char          *row;       /* F32 -> 8-bit conversion row */
} png_encode;

static void write_to_buffer(png_structp png, png_bytep data, size_t length) {
    png_encode *e = png_get_io_ptr(png);
    if (length > e->out_capacity - e->out_size) {
        if (length > SIZE_MAX / 2 - e->out_size) png_error(png, "encoded size overflows");
        size_t capacity = e->out_capacity ? e->out_capacity : 4096;
        while (capacity < e->out_size + length) capacity *= 2;
        unsigned char *grown = afloc_realloc(e->out, capacity);
        if (!grown) {
            e->guard.cause = AFLOC_ERR_OUT_OF_MEMORY;
            png_error(png, "out of memory for the encoded bytes");
        }
        e->out = grown;
        e->out_capacity = capacity;
    }
    memcpy(e->out + e->out_size, data, length);
    e->out_size += length;
}

static void flush_nothing(png_structp png) { (void)png; }

static unsigned char unit_to_byte(float x) {
    if (!(x > 0.0f)) return 0; /* also NaN */
    if (x >= 1.0f) return 255;
    return (unsigned char)(x * 255.0f + 0.5f);
}

/* Row y of the view as PNG samples: the view's own row, or for F32 the converted copy. */
static png_const_bytep encode_row(png_encode *e, int32_t y) {
    const afloc_image_view *v = e->view;
    const unsigned char *row = (const unsigned char *)v->pixels + (size_t)y * v->row_stride;
    if (v->pixel_type != AFLOC_PIXEL_F32) return row;
    size_t count = (size_t)v->width * (size_t)v->channels;
    for (size_t i = 0; i < count; i++) {
        float x;
        memcpy(&x, row + 4 * i, sizeof x); /* rows need not be 4-byte aligned */
        e->row[i] = unit_to_byte(x);
    }
    return e->row;
}

static int view_significant_bits(const afloc_image_view *v) {
    if (v->struct_size < offsetof(afloc_image_view, significant_bits) + sizeof(int32_t)) return 0;
    return v->significant_bits;
}

/* The one function that calls libpng to encode. */
static afloc_status encode_with_libpng(png_encode *e) {
    png_guard *g = &e->guard;
    const afloc_image_view *v = e->view;
    e->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, g, on_png_error, on_png_warning, g,
                                       guarded_malloc, guarded_free);
    if (!e->png)
        return afloc_fail(g->cause == AFLOC_ERR_OUT_OF_MEMORY ? AFLOC_ERR_OUT_OF_MEMORY : AFLOC_ERR_INTERNAL,
                          "%s: libpng could not create a write struct (headers %s)", e->function,
                          PNG_LIBPNG_VER_STRING);
    if (setjmp(png_jmpbuf(e->png))) return libpng_failure(g, e->function, AFLOC_ERR_INTERNAL);
    e->info = png_create_info_struct(e->png);
    if (!e->info)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: libpng could not create an info struct",
                          e->function);
    png_set_write_fn(e->png, e, write_to_buffer, flush_nothing);
    int depth = v->pixel_type == AFLOC_PIXEL_U16 ? 16 : 8;
    png_set_IHDR(e->png, e->info, (png_uint_32)v->width, (png_uint_32)v->height, depth,
                 v->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int bits = view_significant_bits(v);
    if (depth == 16 && bits >= 1 && bits <= 15) {
        png_color_8 sbit;
        memset(&sbit, 0, sizeof sbit);
        sbit.red = sbit.green = sbit.blue = sbit.gray = (png_byte)bits;
        png_set_sBIT(e->png, e->info, &sbit);
    }
    png_write_info(e->png, e->info);
    if (depth == 16 && host_is_little_endian()) png_set_swap(e->png);
    for (int32_t y = 0; y < v->height; y++) png_write_row(e->png, encode_row(e, y));
    png_write_end(e->png, NULL);
    return AFLOC_OK;
}

static void encode_cleanup(png_encode *e) {
    if (e->png) png_destroy_write_struct(&e->png, e->info ? &e->info : NULL);
    e->png = NULL;
    e->info = NULL;
    afloc_free(e->row);
    e->row = NULL;
    afloc_free(e->out);
    e->out = NULL;
}

/* Checks the view and encodes it into e->out; the caller runs encode_cleanup either way. */
static afloc_status encode_to_memory(png_encode *e, const afloc_image_view *view, const char *function) {
    memset(e, 0, sizeof *e);
    e->function = function;
    e->view = view;
    e->guard.budget = SIZE_MAX;
    AFLOC_TRY(afloc_image_view_check(view, function));
    if (view->pixel_type == AFLOC_PIXEL_F32) {
        e->row = afloc_malloc((size_t)view->width * (size_t)view->channels);
        if (!e->row)
            return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate a %d-sample row",
                              function, (int)(view->width * view->channels));
    }
    return encode_with_libpng(e);
}

afloc_status afloc_image_encode_png(const afloc_image_view *view, void *buffer, size_t capacity,
                                    size_t *size) {
    static const char function[] = "afloc_image_encode_png";
    afloc_clear_error();
    if (!size) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: size is NULL", function);
    png_encode e;
    afloc_status status = encode_to_memory(&e, view, function);
    if (status == AFLOC_OK && buffer && capacity < e.out_size)
        status = afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: the PNG needs %zu bytes, capacity %zu",
                            function, e.out_size, capacity);
    if (status == AFLOC_OK || status == AFLOC_ERR_BUFFER_TOO_SMALL) *size = e.out_size;
    if (status == AFLOC_OK && buffer) memcpy(buffer, e.out, e.out_size);
    encode_cleanup(&e);
    return status;
}

afloc_status afloc_image_save_png(const afloc_image_view *view, const char *path) {
    static const char function[] = "afloc_image_save_png";
    afloc_clear_error();
    if (!path || !*path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: path is NULL or empty", function);
    png_encode e;
    afloc_status status = encode_to_memory(&e, view, function);
    if (status == AFLOC_OK) status = afloc_write_buffer_atomic(path, e.out, e.out_size, function);
    encode_cleanup(&e);
    return status;
}
