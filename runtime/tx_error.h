/*
 * tx_error.h - the error record every internal function fills in.
 *
 * Internal functions return 0 on success and -1 on failure; on failure they fill a tx_error
 * with a status (one of the public TACTUS_E* codes) and a human message that already names
 * the file, line or field at fault. The caller owns the record (usually on its stack).
 */
#ifndef TX_ERROR_H
#define TX_ERROR_H

#include <stddef.h>

#include "tactus.h"

typedef struct tx_error {
    tactus_status status; /* TACTUS_OK when no error has been set */
    char message[1024];
} tx_error;

/* Resets e to "no error". Safe on a NULL pointer. */
void tx_error_clear(tx_error *e);

/* Sets status and a printf-formatted message; returns -1 so callers can `return tx_fail(...)`.
 * A NULL e is allowed (the error is then dropped). Messages longer than the buffer are cut. */
int tx_fail(tx_error *e, tactus_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
