/*
 * files.c - the File primitive's broker side: reading and writing files of the procedure's
 * workspace (its directory) on the procedure's behalf. The runner has no file system; every
 * path is checked here, opened beneath the workspace without following links, and writes are
 * allowed only when the configuration makes the workspace writable.
 */
#include "files.h"

#include "home.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILE_READ_MAX (1u << 20)

/* path with "." and empty components dropped ("./a//b" -> "a/b"), into out. */
static void normalize(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = path; *p != '\0';) {
        size_t len = strcspn(p, "/");
        if (!(len == 0 || (len == 1 && p[0] == '.'))) {
            int w = snprintf(out + n, cap - n, "%s%.*s", n ? "/" : "", (int)len, p);
            if (w < 0 || (size_t)w >= cap - n)
                return;
            n += (size_t)w;
        }
        p += len;
        if (*p == '/')
            p++;
    }
}

/* True if the normalized path is `dir` or lies under it. */
static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int tx_files_within(const char *base, const char *path, const char *dir);

/*
 * Paths the procedure must not touch even inside a writable workspace, because they are
 * trusted input to later runs or hold other runs' state: `.tactus` (runs, journals, project
 * configuration, perhaps the secrets store) and TACTUS_HOME wherever it sits in the workspace,
 * and for writing also sidecars (`*.tac.yml`, `*.tac.yaml`) and `.git` (hooks run on the host).
 */
static int check_protected(const char *base, const char *path, int writing, char *emsg, size_t cap)
{
    char norm[1100];
    normalize(path, norm, sizeof norm);
    const char *why = NULL;
    for (const char *p = norm; *p != '\0' && why == NULL;) {
        size_t len = strcspn(p, "/");
        if (len == 7 && strncmp(p, ".tactus", 7) == 0)
            why = "it holds runs, journals and configuration";
        else if (writing && len == 4 && strncmp(p, ".git", 4) == 0)
            why = "git runs hooks from it on the host";
        p += len;
        if (*p == '/')
            p++;
    }
    size_t n = strlen(norm);
    if (why == NULL && writing &&
        ((n >= 8 && strcmp(norm + n - 8, ".tac.yml") == 0) ||
         (n >= 9 && strcmp(norm + n - 9, ".tac.yaml") == 0)))
        why = "configuration is trusted input to later runs";
    char home[PATH_MAX];
    tx_error err;
    if (why == NULL && tx_home_dir(home, sizeof home, &err) == 0 &&
        tx_files_within(base, path, home))
        why = "it is TACTUS_HOME (the secrets store)";
    if (why != NULL) {
        snprintf(emsg, cap, "File: %.200s is protected: %s", path, why);
        return -1;
    }
    return 0;
}

int tx_files_within(const char *base, const char *path, const char *dir)
{
    char norm[1100], real_base[PATH_MAX], real_dir[PATH_MAX];
    if (path == NULL || dir == NULL || realpath(base, real_base) == NULL ||
        realpath(dir, real_dir) == NULL)
        return 0;
    normalize(path, norm, sizeof norm);
    size_t c = strlen(real_base);
    return strncmp(real_dir, real_base, c) == 0 && real_dir[c] == '/' &&
           under(norm, real_dir + c + 1);
}

/* The reference runtime's messages: absolute paths and ".." are refused by name. */
static int check_path(const char *base, const char *path, int writing, const char **etype,
                      char *emsg, size_t cap)
{
    if (path == NULL || path[0] == '\0' || strlen(path) > 1024) {
        snprintf(emsg, cap, "File: a relative path is required");
        return -1;
    }
    if (path[0] == '/') {
        *etype = TX_FILES_BAD_PATH;
        snprintf(emsg, cap, "Absolute paths not allowed: %.200s", path);
        return -1;
    }
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
        int starts = p == path || p[-1] == '/';
        int ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends) {
            *etype = TX_FILES_BAD_PATH;
            snprintf(emsg, cap, "Path traversal detected: %.200s resolves outside base directory",
                     path);
            return -1;
        }
    }
    return check_protected(base, path, writing, emsg, cap);
}

int tx_files_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

static int open_in(const char *base, const char *path, int flags, mode_t mode, const char **etype,
                   char *emsg, size_t cap)
{
    int dirfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(emsg, cap, "File: cannot open the workspace: %s", strerror(errno));
        return -1;
    }
    int fd = tx_files_open_beneath(dirfd, path, flags, mode);
    int e = errno;
    close(dirfd);
    if (fd < 0) {
        if (e == EXDEV || e == ELOOP) {
            *etype = TX_FILES_BAD_PATH;
            snprintf(emsg, cap, "Path traversal detected: %.200s resolves outside base directory",
                     path);
        } else {
            snprintf(emsg, cap, "File %.200s: %s", path, strerror(e));
        }
        errno = e;
    }
    return fd;
}

json_t *tx_files_stat(const char *base, const char *path, const char **etype, char *emsg,
                      size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, path, 0, etype, emsg, cap) != 0)
        return NULL;
    int fd = open_in(base, path, O_PATH, 0, etype, emsg, cap);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return json_pack("{s:b}", "exists", 0);
        return NULL;
    }
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    close(fd);
    if (!ok || !S_ISREG(st.st_mode))
        return json_pack("{s:b}", "exists", 0); /* like the reference: regular files only */
    return json_pack("{s:b, s:I}", "exists", 1, "size", (json_int_t)st.st_size);
}

json_t *tx_files_read(const char *base, const char *path, const char **etype, char *emsg,
                      size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, path, 0, etype, emsg, cap) != 0)
        return NULL;
    int fd =
        open_in(base, path, O_RDONLY | O_NONBLOCK, 0, etype, emsg, cap); /* a FIFO must not block */
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)FILE_READ_MAX) {
        snprintf(emsg, cap, "File %.200s: not a regular file of at most %u bytes", path,
                 FILE_READ_MAX);
        close(fd);
        return NULL;
    }
    size_t want = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(want + 1);
    ssize_t n = buf ? 1 : -1;
    while (buf != NULL && got < want && (n = read(fd, buf + got, want - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (n < 0) {
        free(buf);
        snprintf(emsg, cap, "File %.200s: cannot read", path);
        return NULL;
    }
    json_t *text = json_stringn((const char *)buf, got);
    json_t *out;
    if (text != NULL) {
        out = json_pack("{s:o}", "content", text);
    } else { /* not UTF-8: as base64, decoded by the runner */
        size_t b64cap = sodium_base64_ENCODED_LEN(got, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64cap);
        if (b64 != NULL)
            sodium_bin2base64(b64, b64cap, buf, got, sodium_base64_VARIANT_ORIGINAL);
        out = b64 ? json_pack("{s:s, s:b}", "content", b64, "base64", 1) : NULL;
        free(b64);
    }
    free(buf);
    return out;
}

/* mkdir -p of the directories in path (beneath base). */
static int make_parents(const char *base, const char *path, const char **etype, char *emsg,
                        size_t cap)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        int fd = open_in(base, dir, O_RDONLY | O_DIRECTORY, 0, etype, emsg, cap);
        if (fd >= 0) {
            close(fd);
        } else if (errno == ENOENT) {
            int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            int rc = bfd >= 0 ? mkdirat(bfd, dir, 0755) : -1;
            if (bfd >= 0)
                close(bfd);
            if (rc != 0 && errno != EEXIST) {
                snprintf(emsg, cap, "File %.200s: cannot create %.200s: %s", path, dir,
                         strerror(errno));
                return -1;
            }
        } else {
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int tx_files_write(const char *base, const char *path, const unsigned char *bytes, size_t len,
                   const char **etype, char *emsg, size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, path, 1, etype, emsg, cap) != 0 ||
        make_parents(base, path, etype, emsg, cap) != 0)
        return -1;
    /* Not O_TRUNC: a FIFO or device must be refused, not opened (or truncated) first. */
    int fd = open_in(base, path, O_WRONLY | O_CREAT | O_NONBLOCK, 0644, etype, emsg, cap);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || ftruncate(fd, 0) != 0) {
        snprintf(emsg, cap, "File %.200s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (tx_write_all(fd, bytes, len) != 0) {
        snprintf(emsg, cap, "File %.200s: cannot write: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(emsg, cap, "File %.200s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
