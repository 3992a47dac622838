/* home.c - resolving and creating the TACTUS_HOME directory. */
#include "home.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int tx_home_dir(char *buf, size_t cap, tx_error *err)
{
    const char *env = getenv("TACTUS_HOME");
    int n;

    if (buf == NULL || cap == 0)
        return tx_fail(err, TACTUS_EUSAGE, "tx_home_dir: no buffer");
    if (env != NULL && env[0] != '\0') {
        n = snprintf(buf, cap, "%s", env);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            return tx_fail(err, TACTUS_EUSAGE,
                           "cannot find the tactus home directory: neither TACTUS_HOME nor HOME "
                           "is set (set TACTUS_HOME to a directory)");
        /* "/" as HOME would give "//.tactus"; harmless, but keep the path tidy. */
        size_t hl = strlen(home);
        n = snprintf(buf, cap, "%s%s.tactus", home, home[hl - 1] == '/' ? "" : "/");
    }
    if (n < 0 || (size_t)n >= cap)
        return tx_fail(err, TACTUS_EUSAGE, "tactus home directory path is too long (%d bytes)", n);
    return 0;
}

/* mkdir that accepts an existing directory. Returns 0 or -1 with errno set. */
static int mkdir_one(const char *path)
{
    struct stat st;

    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int tx_home_ensure(const char *home, tx_error *err)
{
    struct stat st;
    char path[4096];
    size_t len;

    if (home == NULL || home[0] == '\0')
        return tx_fail(err, TACTUS_EUSAGE, "tactus home directory path is empty");
    if (stat(home, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return tx_fail(err, TACTUS_ESYSTEM, "tactus home %s exists but is not a directory",
                           home);
        return 0;
    }
    len = strlen(home);
    if (len >= sizeof path)
        return tx_fail(err, TACTUS_EUSAGE, "tactus home directory path is too long (%zu bytes)",
                       len);
    memcpy(path, home, len + 1);
    /* Create each missing component in turn, like mkdir -p, so a fresh TACTUS_HOME=/a/b works. */
    for (size_t i = 1; i < len; i++) {
        if (path[i] != '/' || path[i - 1] == '/')
            continue;
        path[i] = '\0';
        if (mkdir_one(path) != 0) {
            int e = errno;
            return tx_fail(err, TACTUS_ESYSTEM, "cannot create tactus home %s: %s (at %s)", home,
                           strerror(e), path);
        }
        path[i] = '/';
    }
    if (mkdir_one(path) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create tactus home %s: %s", home,
                       strerror(errno));
    return 0;
}

/* Reads exactly len bytes of fd; 0 or -1. */
static int read_exact(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int tx_home_run_key(unsigned char key[TX_RUN_KEY_BYTES], int create, tx_error *err)
{
    char home[4096], path[4200];
    if (tx_home_dir(home, sizeof home, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/run.key", home);
    if (create && tx_home_ensure(home, err) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        /* First use: a fresh key, written to a private temp name and linked into place, so
         * a concurrent first run either wins or reads the winner's whole key. */
        unsigned char fresh[TX_RUN_KEY_BYTES];
        randombytes_buf(fresh, sizeof fresh);
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s/.run.key.%ld.%08x", home, (long)getpid(),
                 (unsigned)randombytes_random());
        int w = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        int ok = w >= 0 && tx_write_all(w, fresh, sizeof fresh) == 0 && fsync(w) == 0;
        int e = errno;
        if (w >= 0 && close(w) != 0 && ok) {
            ok = 0;
            e = errno;
        }
        if (ok && link(tmp, path) != 0 && errno != EEXIST) {
            ok = 0;
            e = errno;
        }
        if (w >= 0)
            unlink(tmp);
        sodium_memzero(fresh, sizeof fresh);
        if (!ok)
            return tx_fail(err, TACTUS_ESYSTEM, "cannot create the run key %s: %s", path,
                           strerror(e));
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return tx_fail(err, errno == ENOENT ? TACTUS_EUSAGE : TACTUS_ESYSTEM,
                       "no run key %s: %s (runs are authenticated with the key of the host that "
                       "created them)",
                       path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                     (st.st_mode & 077) == 0 && st.st_size == TX_RUN_KEY_BYTES
                 ? read_exact(fd, key, TX_RUN_KEY_BYTES)
                 : -1;
    close(fd);
    if (rc != 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "the run key %s is not a private %d-byte file of this user (mode 0600)",
                       path, TX_RUN_KEY_BYTES);
    return 0;
}
