/* error.h: the library's one way to fail: record a message in the thread-local last-error buffer
 * and return the status (afloc_fail), and one macro to propagate a failure (AFLOC_TRY).
 * Messages name the public function, what was wrong and the value that was wrong. */
#ifndef AFLOC_ERROR_H
#define AFLOC_ERROR_H

#include "afloc/afloc.h"

/* Longest message kept, including the NUL (RELIABILITY T9: at most 255 bytes + NUL). */
#define AFLOC_ERROR_CAPACITY 256

/* Formats the message into this thread's buffer (non-ASCII and control bytes replaced by '?',
 * truncated to 255 bytes) and returns `status`. */
afloc_status afloc_fail(afloc_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears this thread's message (called at the start of public functions that succeed with
 * no message, so a stale message is not mistaken for a new one). */
void afloc_clear_error(void);

#define AFLOC_TRY(expr)                                   \
    do {                                                  \
        afloc_status afloc_try_status_ = (expr);          \
        if (afloc_try_status_ != AFLOC_OK)                \
            return afloc_try_status_;                     \
    } while (0)

#endif /* AFLOC_ERROR_H */
