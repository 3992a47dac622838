/* home.c - resolving and creating the TACTUS_HOME directory. */
#include "home.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
