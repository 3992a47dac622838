/* util.h - small helpers shared by the host side: reading files, paths, names. */
#ifndef TX_UTIL_H
#define TX_UTIL_H

#include <stddef.h>

#include "tx_error.h"

/* Largest .tac source accepted: bigger files are refused before the parser sees them. */
#define TX_SOURCE_MAX (8u << 20)

/* Reads a whole file of at most TX_SOURCE_MAX bytes into a malloc'd, NUL-terminated buffer.
 * Errors (status TACTUS_EUSAGE) name the file: missing, unreadable, a directory, too large. */
int tx_read_source(const char *path, char **out, size_t *len, tx_error *err);

/* Writes all len bytes to fd, retrying after EINTR and short writes. Returns 0, or -1 with
 * errno set (EIO if the descriptor stops taking bytes). */
int tx_write_all(int fd, const void *data, size_t len);

/* The directory part of path ("." when it has none) into buf. */
void tx_dirname(const char *path, char *buf, size_t cap);

/* True for tool names of 1-128 characters from [A-Za-z0-9_.-]. */
int tx_valid_tool_name(const char *name);

#endif
