/*
 * files.h - the File primitive's broker side (docs/lua-api.md#file).
 *
 * Paths are relative to `base` (the procedure's directory); an absolute path is refused with
 * "Absolute paths not allowed: P", a ".." component or a link leading out with "Path traversal
 * detected: P resolves outside base directory". Files are opened beneath base with openat2
 * (no symlinks at all). Each function fills *etype and emsg on failure.
 */
#ifndef TX_FILES_H
#define TX_FILES_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * What a run protects beyond the fixed rules (docs/security.md, "Planted code and
 * configuration"). Every member may be NULL. Protection is by resolved object: a path is
 * walked beneath base without following links and each directory on it (and the file itself)
 * is compared by device and inode with the protected ones, and by absolute name for objects
 * that do not exist yet.
 */
typedef struct tx_files_guard {
    const tx_config *config; /* configuration sources, host tool commands, read_credentials */
    const char *proc_dir;    /* the procedure's directory: a host tool's default cwd */
    const char *run_dir;     /* this run's directory */
} tx_files_guard;

/* Opens `rel` strictly beneath dirfd: no absolute paths, no "..", no symlinks anywhere (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). O_CLOEXEC and O_NOFOLLOW are added. Returns the fd,
 * or -1 with errno (EXDEV or ELOOP for a path that tries to leave). */
int tx_files_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* True if `path` (relative to base, "." and empty components ignored) names `dir` or something
 * under it, `dir` being an existing directory inside base. */
int tx_files_within(const char *base, const char *path, const char *dir);

/*
 * The absolute paths (at most max, each at most PATH_MAX bytes) of the files host tool t's
 * command names: argv[0] when it holds a '/', and every other word that names an existing
 * file, resolved against the tool's cwd (default proc_dir). File refuses to write them.
 */
size_t tx_files_command_files(const tx_host_tool *t, const char *proc_dir, char (*out)[PATH_MAX],
                              size_t max);

/* `path` made absolute ("." and ".." taken by name, the longest existing prefix resolved by
 * realpath, the rest as written). 0, or -1 if it does not fit in cap. */
int tx_files_abs_path(const char *path, char *out, size_t cap);

/* True if the absolute path `path` is `dir` or lies beneath it. */
int tx_files_path_under(const char *path, const char *dir);

/* The error types the functions below set in *etype: a path refused as such (absolute, "..",
 * a link leading out) or any other failure (missing, protected, not a regular file, I/O). */
#define TX_FILES_BAD_PATH "ValueError"
#define TX_FILES_FAILED "FileError"

/* {"exists": bool, "size": n} (regular files only), or NULL on a refused path. */
json_t *tx_files_stat(const char *base, const tx_files_guard *g, const char *path,
                      const char **etype, char *emsg, size_t cap);

/* {"content": text} or, for bytes that are not UTF-8, {"content": base64, "base64": true}; at
 * most 1 MiB. NULL on failure. */
json_t *tx_files_read(const char *base, const tx_files_guard *g, const char *path,
                      const char **etype, char *emsg, size_t cap);

/* Creates or replaces the file (parents created) with a new inode of mode 0644: the old file
 * is never written in place, so an exec bit or another hard link never carries new content.
 * Returns 0 or -1. */
int tx_files_write(const char *base, const tx_files_guard *g, const char *path,
                   const unsigned char *bytes, size_t len, const char **etype, char *emsg,
                   size_t cap);

#endif
