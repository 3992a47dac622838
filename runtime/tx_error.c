/* tx_error.c - filling in tx_error records. */
#include "tx_error.h"

#include <stdarg.h>
#include <stdio.h>

void tx_error_clear(tx_error *e)
{
    if (e == NULL)
        return;
    e->status = TACTUS_OK;
    e->message[0] = '\0';
}

int tx_fail(tx_error *e, tactus_status status, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = status;
    return -1;
}
