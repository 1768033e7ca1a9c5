/* error.c: status names and the thread-local last-error message (STYLE.md §4). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[AFLOC_ERROR_CAPACITY];

const char *afloc_status_string(afloc_status status) {
    switch (status) {
    case AFLOC_OK:                      return "AFLOC_OK";
    case AFLOC_ERR_INVALID_ARGUMENT:    return "AFLOC_ERR_INVALID_ARGUMENT";
    case AFLOC_ERR_OUT_OF_MEMORY:       return "AFLOC_ERR_OUT_OF_MEMORY";
    case AFLOC_ERR_IO:                  return "AFLOC_ERR_IO";
    case AFLOC_ERR_FORMAT:              return "AFLOC_ERR_FORMAT";
    case AFLOC_ERR_LIMIT:               return "AFLOC_ERR_LIMIT";
    case AFLOC_ERR_UNSUPPORTED:         return "AFLOC_ERR_UNSUPPORTED";
    case AFLOC_ERR_SCHEMA:              return "AFLOC_ERR_SCHEMA";
    case AFLOC_ERR_CORRUPT:             return "AFLOC_ERR_CORRUPT";
    case AFLOC_ERR_BACKEND_UNAVAILABLE: return "AFLOC_ERR_BACKEND_UNAVAILABLE";
    case AFLOC_ERR_ABI_MISMATCH:        return "AFLOC_ERR_ABI_MISMATCH";
    case AFLOC_ERR_DEVICE_LOST:         return "AFLOC_ERR_DEVICE_LOST";
    case AFLOC_ERR_CANCELLED:           return "AFLOC_ERR_CANCELLED";
    case AFLOC_ERR_UNSUPPORTED_ENV:     return "AFLOC_ERR_UNSUPPORTED_ENV";
    case AFLOC_ERR_INTERNAL:            return "AFLOC_ERR_INTERNAL";
    case AFLOC_ERR_IMAGE_FORMAT:        return "AFLOC_ERR_IMAGE_FORMAT";
    case AFLOC_ERR_BUFFER_TOO_SMALL:    return "AFLOC_ERR_BUFFER_TOO_SMALL";
    }
    return "AFLOC_STATUS_UNKNOWN";
}

const char *afloc_last_error(void) { return last_error; }

void afloc_clear_error(void) { last_error[0] = '\0'; }

afloc_status afloc_fail(afloc_status status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    /* Messages may quote file content; keep them printable ASCII so any host can log them. */
    for (char *p = last_error; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e) *p = '?';
    }
    return status;
}
