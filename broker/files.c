/*
 * files.c - the File primitive's broker side: reading and writing files of the procedure's
 * workspace (its directory) on the procedure's behalf. The runner has no file system; every
 * path is checked here, opened beneath the workspace without following links, and writes are
 * allowed only when the configuration makes the workspace writable.
 */
#include "files.h"

#include "home.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILE_READ_MAX (1u << 20)
/* Components a checked path may have: paths are at most 1024 bytes, so at most 513. */
#define PATH_PARTS_MAX 520

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
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The absolute form of `path` (relative to the current directory) with "." and ".." taken
 * lexically and the longest existing prefix resolved by realpath (links in it followed), the
 * rest appended as written: so a directory that does not exist yet still has the name it will
 * have. Returns 0, or -1 when it does not fit.
 */
static int abs_lexical(const char *path, char *out, size_t cap)
{
    char joined[PATH_MAX * 2], norm[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL)
            return -1;
        snprintf(joined, sizeof joined, "%s/%s", cwd, path);
    }
    size_t n = 0;
    norm[0] = '\0';
    for (const char *p = joined; *p != '\0';) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            char *slash = strrchr(norm, '/');
            n = slash ? (size_t)(slash - norm) : 0;
            norm[n] = '\0';
        } else if (!(len == 0 || (len == 1 && p[0] == '.'))) {
            int w = snprintf(norm + n, sizeof norm - n, "/%.*s", (int)len, p);
            if (w < 0 || (size_t)w >= sizeof norm - n)
                return -1;
            n += (size_t)w;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (n == 0)
        snprintf(norm, sizeof norm, "/");
    /* Resolve the longest prefix that exists; the missing tail keeps its lexical name. */
    size_t cut = strlen(norm);
    for (;;) {
        char head[PATH_MAX * 2], real[PATH_MAX];
        snprintf(head, sizeof head, "%.*s", (int)(cut ? cut : 1), norm);
        if (realpath(head, real) != NULL) {
            const char *tail = norm + cut;
            int w = snprintf(out, cap, "%s%s", strcmp(real, "/") == 0 && *tail ? "" : real, tail);
            return w < 0 || (size_t)w >= cap ? -1 : 0;
        }
        if (cut <= 1)
            return -1;
        while (cut > 0 && norm[cut - 1] != '/')
            cut--;
        if (cut > 1)
            cut--; /* drop the '/' too, except the root's */
        else
            cut = 1;
    }
}

int tx_files_within(const char *base, const char *path, const char *dir);

/* One entry of the credential files File does not read unless configuration allows it: the
 * path's last components, compared without regard to case. */
static const char *const credential_files[][3] = {
    {".git-credentials", NULL, NULL}, {".netrc", NULL, NULL},
    {"_netrc", NULL, NULL},           {".npmrc", NULL, NULL},
    {".pypirc", NULL, NULL},          {".pgpass", NULL, NULL},
    {".dockercfg", NULL, NULL},       {".docker", "config.json", NULL},
    {".aws", "credentials", NULL},    {".kube", "config", NULL},
    {".config", "gh", "hosts.yml"},
};

/* Splits a normalized path into at most `max` components (pointers into a copy in buf). */
static size_t components(const char *norm, char *buf, size_t cap, char **comp, size_t max)
{
    snprintf(buf, cap, "%s", norm);
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t != NULL && n < max;
         t = strtok_r(NULL, "/", &save))
        comp[n++] = t;
    return n;
}

/* The documented reason if the normalized path is a credential file (docs/lua-api.md#file):
 * any `config` under a `.git` directory, anything under `.ssh` or `.gnupg`, or one of
 * credential_files; NULL otherwise. */
static const char *credential_reason(const char *norm)
{
    char buf[1100], *comp[PATH_PARTS_MAX];
    size_t n = components(norm, buf, sizeof buf, comp, PATH_PARTS_MAX);
    if (n == 0)
        return NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (strcasecmp(comp[i], ".ssh") == 0 || strcasecmp(comp[i], ".gnupg") == 0)
            return "it may hold credentials";
        if (strcasecmp(comp[i], ".git") == 0 && (strcasecmp(comp[n - 1], "config") == 0 ||
                                                 strcasecmp(comp[n - 1], "config.worktree") == 0))
            return "it may hold the checkout's credentials";
    }
    for (size_t i = 0; i < sizeof credential_files / sizeof credential_files[0]; i++) {
        size_t k = 0;
        while (k < 3 && credential_files[i][k] != NULL)
            k++;
        if (k > n)
            continue;
        size_t j = 0;
        while (j < k && strcasecmp(comp[n - k + j], credential_files[i][j]) == 0)
            j++;
        if (j == k)
            return "it may hold credentials";
    }
    return NULL;
}

/* True if the configuration's files.read_credentials names this normalized path. */
static int credential_allowed(const tx_files_guard *g, const char *norm)
{
    if (g == NULL || g->config == NULL)
        return 0;
    for (size_t i = 0; i < g->config->nread_credentials; i++) {
        char allowed[1100];
        normalize(g->config->read_credentials[i], allowed, sizeof allowed);
        if (strcmp(allowed, norm) == 0)
            return 1;
    }
    return 0;
}

/* Ends with `suffix`, ignoring case. */
static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/*
 * The reason if writing the normalized path would plant configuration: `X.yml`/`X.yaml` is the
 * sidecar `tactus run X` reads, so it is refused when X is a procedure (`.tac`, `.lua`) or any
 * existing file; NULL otherwise.
 */
static const char *sidecar_reason(const char *base, const char *norm)
{
    size_t n = strlen(norm), stem;
    if (ends_with_ci(norm, n, ".yml"))
        stem = n - 4;
    else if (ends_with_ci(norm, n, ".yaml"))
        stem = n - 5;
    else
        return NULL;
    if (ends_with_ci(norm, stem, ".tac") || ends_with_ci(norm, stem, ".lua"))
        return "configuration is trusted input to later runs";
    char target[1100];
    snprintf(target, sizeof target, "%.*s", (int)stem, norm);
    int dirfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dirfd >= 0 && target[0] ? tx_files_open_beneath(dirfd, target, O_PATH, 0) : -1;
    if (dirfd >= 0)
        close(dirfd);
    if (fd < 0)
        return NULL;
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return regular ? "it would be read as the configuration (sidecar) of a procedure file" : NULL;
}

/* A protected object: an absolute path (lexical, see abs_lexical) and, when it exists, its
 * device and inode; `tree` protects everything beneath it too. */
typedef struct guarded {
    char path[PATH_MAX];
    dev_t dev;
    ino_t ino;
    int exists;
    int tree;
    const char *why;
} guarded;

#define GUARDED_PER_DIR 32 /* files of one protected directory listed by inode */

/* The protected objects of one check, on the heap (each entry holds a PATH_MAX path). `oom` is
 * set when an entry could not be added: the check then fails closed. */
typedef struct guard_set {
    guarded *items;
    size_t n, cap;
    int oom;
} guard_set;

/* Adds `path` (relative to `dir`, else to the current directory, or absolute) to the set. */
static void guard_add(guard_set *set, const char *dir, const char *path, int tree, const char *why)
{
    char joined[PATH_MAX * 2];
    if (path == NULL || path[0] == '\0')
        return;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        guarded *items = realloc(set->items, cap * sizeof *items);
        if (items == NULL) {
            set->oom = 1;
            return;
        }
        set->items = items;
        set->cap = cap;
    }
    if (dir != NULL && path[0] != '/')
        snprintf(joined, sizeof joined, "%s/%s", dir, path);
    else
        snprintf(joined, sizeof joined, "%s", path);
    guarded *g = &set->items[set->n];
    memset(g, 0, sizeof *g);
    if (abs_lexical(joined, g->path, sizeof g->path) != 0) {
        set->oom = 1; /* a name too long to compare: fail closed */
        return;
    }
    struct stat st;
    if (stat(joined, &st) == 0) {
        g->exists = 1;
        g->dev = st.st_dev;
        g->ino = st.st_ino;
    }
    g->tree = tree;
    g->why = why;
    set->n++;
}

/*
 * Adds the regular files directly in the protected directory `dir` (at most GUARDED_PER_DIR),
 * so that a hard link to one of them elsewhere in the workspace is refused as well.
 */
static void guard_files_of(guard_set *set, const char *dir, const char *why)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    size_t seen = 0;
    for (size_t k = 0; k < GUARDED_PER_DIR && seen++ < 1024 && (de = readdir(d)) != NULL;) {
        char path[PATH_MAX * 2];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            guard_add(set, NULL, path, 0, why);
            k++;
        }
    }
    closedir(d);
}

/*
 * Adds the directory that `<dir>/.git/config` names as core.hooksPath (husky's `.husky/_`, a
 * repository's `.githooks`): git runs the hooks there on the host like those in .git/hooks.
 * The file is read without following links, at most 64 KiB; a relative value is taken from
 * `dir`, the working tree.
 */
static void guard_hooks_path(guard_set *set, const char *dir)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/.git/config", dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    char *text = NULL;
    ssize_t got = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (text = malloc(65537)) != NULL)
        got = read(fd, text, 65536);
    close(fd);
    if (got <= 0) {
        free(text);
        return;
    }
    text[got] = '\0';
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        if (strncasecmp(line, "hookspath", 9) != 0)
            continue;
        char *v = line + 9 + strspn(line + 9, " \t");
        if (*v != '=')
            continue;
        v += 1 + strspn(v + 1, " \t\"");
        size_t n = strcspn(v, "\"#;\r");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        v[n] = '\0';
        if (n > 0)
            guard_add(set, dir, v, 1, "git runs hooks from it on the host (core.hooksPath)");
    }
    free(text);
}

/*
 * The objects File must not touch in this run: TACTUS_HOME (even before it exists), the runs'
 * `.tactus` directories as they resolve (an alias like `.tactus -> evidence` protects
 * `evidence`), this run's directory, and for writing the configuration files the run was
 * loaded from and every file a host tool's command names (argv[0] and any argument naming an
 * existing file, resolved against the tool's cwd).
 */
static void guard_list(const char *base, const tx_files_guard *g, int writing, guard_set *set)
{
    char home[PATH_MAX];
    tx_error err;
    if (tx_home_dir(home, sizeof home, &err) == 0) {
        guard_add(set, NULL, home, 1, "it is TACTUS_HOME (the secrets store)");
        guard_files_of(set, home, "it is TACTUS_HOME (the secrets store)");
    }
    guard_add(set, NULL, ".tactus", 1, "it holds runs, journals and configuration");
    guard_add(set, base, ".tactus", 1, "it holds runs, journals and configuration");
    const char *proc_dir = g && g->proc_dir ? g->proc_dir : ".";
    guard_add(set, proc_dir, ".tactus", 1, "it holds runs, journals and configuration");
    if (g != NULL && g->run_dir != NULL) {
        guard_add(set, NULL, g->run_dir, 1, "it is this run's directory");
        guard_files_of(set, g->run_dir, "it is this run's directory");
    }
    if (writing) {
        guard_hooks_path(set, base);
        guard_hooks_path(set, proc_dir);
    }
    if (!writing || g == NULL || g->config == NULL)
        return;
    const tx_config *cfg = g->config;
    for (size_t i = 0; i < cfg->nsources; i++)
        guard_add(set, NULL, cfg->sources[i], 0, "configuration is trusted input to later runs");
    for (size_t i = 0; i < cfg->nhost_tools; i++) {
        const tx_host_tool *t = &cfg->host_tools[i];
        char(*files)[PATH_MAX] = t->argc ? calloc(t->argc, sizeof *files) : NULL;
        if (files == NULL) {
            set->oom = set->oom || t->argc > 0;
            continue;
        }
        size_t nf = tx_files_command_files(t, proc_dir, files, t->argc);
        for (size_t k = 0; k < nf; k++)
            guard_add(set, NULL, files[k], 0, "a host tool's command runs it on the host");
        free(files);
    }
}

size_t tx_files_command_files(const tx_host_tool *t, const char *proc_dir, char (*out)[PATH_MAX],
                              size_t max)
{
    char cwd[PATH_MAX * 2];
    size_t n = 0;
    if (proc_dir == NULL)
        proc_dir = ".";
    if (t->cwd == NULL || t->cwd[0] == '\0')
        snprintf(cwd, sizeof cwd, "%s", proc_dir);
    else if (t->cwd[0] == '/')
        snprintf(cwd, sizeof cwd, "%s", t->cwd);
    else
        snprintf(cwd, sizeof cwd, "%s/%s", proc_dir, t->cwd);
    for (size_t k = 0; k < t->argc && n < max; k++) {
        char joined[PATH_MAX * 3];
        struct stat st;
        if (k == 0 && strchr(t->argv[0], '/') == NULL)
            continue; /* looked up in the system's PATH, outside any workspace */
        if (t->argv[k][0] == '/')
            snprintf(joined, sizeof joined, "%s", t->argv[k]);
        else
            snprintf(joined, sizeof joined, "%s/%s", cwd, t->argv[k]);
        /* argv[0] whether or not it exists yet; other words only when they name a file. */
        if ((k == 0 || stat(joined, &st) == 0) && abs_lexical(joined, out[n], PATH_MAX) == 0)
            n++;
    }
    return n;
}

int tx_files_abs_path(const char *path, char *out, size_t cap)
{
    return abs_lexical(path, out, cap);
}

int tx_files_path_under(const char *path, const char *dir)
{
    return under(path, dir);
}

/*
 * Checks the resolved objects: walks `norm` beneath base one component at a time without
 * following links and compares each existing directory (and the final object) by device and
 * inode with the protected ones, and the absolute path by name (for what does not exist yet).
 */
static const char *identity_reason(const char *base, const char *norm, const guard_set *set)
{
    char abs[PATH_MAX * 2], root[PATH_MAX];
    if (abs_lexical(base, root, sizeof root) != 0)
        return "the workspace cannot be resolved";
    snprintf(abs, sizeof abs, "%s%s%s", strcmp(root, "/") == 0 ? "" : root, norm[0] ? "/" : "",
             norm);
    const guarded *list = set->items;
    size_t n = set->n;
    if (set->oom)
        return "its protections could not be checked (out of memory or a name too long)";
    for (size_t i = 0; i < n; i++)
        if (list[i].tree ? under(abs, list[i].path) : strcmp(abs, list[i].path) == 0)
            return list[i].why;
    int fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char buf[1100], *comp[PATH_PARTS_MAX];
    size_t nc = components(norm, buf, sizeof buf, comp, PATH_PARTS_MAX);
    const char *why = NULL;
    for (size_t c = 0; fd >= 0 && c < nc && why == NULL; c++) {
        struct stat st;
        if (fstatat(fd, comp[c], &st, AT_SYMLINK_NOFOLLOW) != 0)
            break;
        for (size_t i = 0; i < n && why == NULL; i++)
            if (list[i].exists && list[i].dev == st.st_dev && list[i].ino == st.st_ino &&
                (list[i].tree || c + 1 == nc))
                why = list[i].why;
        if (!S_ISDIR(st.st_mode))
            break;
        int next = openat(fd, comp[c], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    if (fd >= 0)
        close(fd);
    return why;
}

/*
 * For writing: true if the absolute lexical target is a dot-entry of the broker's HOME (or
 * beneath one). Host tools get that HOME, and git, shells and package managers there read
 * `.gitconfig`, `.config/`, `.profile`, ... as configuration that can run commands, so when
 * HOME is the workspace or lies inside it the procedure must not plant them.
 */
static int in_home_dotfile(const char *base, const char *norm)
{
    const char *env = getenv("HOME");
    char home[PATH_MAX], root[PATH_MAX], abs[PATH_MAX * 2];
    if (env == NULL || env[0] == '\0' || abs_lexical(env, home, sizeof home) != 0 ||
        abs_lexical(base, root, sizeof root) != 0)
        return 0;
    /* Only when HOME itself lies in the workspace: a workspace inside ~/.cache is not one. */
    if (!under(home, root))
        return 0;
    snprintf(abs, sizeof abs, "%s/%s", strcmp(root, "/") == 0 ? "" : root, norm);
    size_t n = strlen(home);
    if (n == 1)
        n = 0; /* HOME=/ */
    return strncmp(abs, home, n) == 0 && abs[n] == '/' && abs[n + 1] == '.';
}

/*
 * Paths the procedure must not touch even inside a writable workspace, because they are
 * trusted input to later runs, hold other runs' state or credentials: `.tactus` anywhere (any
 * case), the objects of guard_list, for reading credential files (unless files.read_credentials
 * names them), and for writing sidecars and `.git` (hooks run on the host).
 */
static int check_protected(const char *base, const tx_files_guard *g, const char *path, int writing,
                           char *emsg, size_t cap)
{
    char norm[1100], buf[1100], *comp[PATH_PARTS_MAX];
    normalize(path, norm, sizeof norm);
    const char *why = NULL;
    size_t nc = components(norm, buf, sizeof buf, comp, PATH_PARTS_MAX);
    for (size_t i = 0; i < nc && why == NULL; i++) {
        if (strcasecmp(comp[i], ".tactus") == 0)
            why = "it holds runs, journals and configuration";
        else if (writing && strcasecmp(comp[i], ".git") == 0)
            why = "git runs hooks from it on the host";
    }
    if (why == NULL && !writing && !credential_allowed(g, norm))
        why = credential_reason(norm);
    if (why == NULL && writing)
        why = sidecar_reason(base, norm);
    if (why == NULL && writing && in_home_dotfile(base, norm))
        why = "it is a dotfile of HOME, which host tools read as configuration";
    if (why == NULL) {
        guard_set set = {NULL, 0, 0, 0};
        guard_list(base, g, writing, &set);
        why = identity_reason(base, norm, &set);
        free(set.items);
    }
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
static int check_path(const char *base, const tx_files_guard *g, const char *path, int writing,
                      const char **etype, char *emsg, size_t cap)
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
    return check_protected(base, g, path, writing, emsg, cap);
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

json_t *tx_files_stat(const char *base, const tx_files_guard *g, const char *path,
                      const char **etype, char *emsg, size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, g, path, 0, etype, emsg, cap) != 0)
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

json_t *tx_files_read(const char *base, const tx_files_guard *g, const char *path,
                      const char **etype, char *emsg, size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, g, path, 0, etype, emsg, cap) != 0)
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

/*
 * Writes the file as a new inode: a temporary file (mode 0644) beside it, renamed over the
 * name. The old file is never opened, so its exec bit, its other hard links and whatever
 * holds it open keep the old content; a link, directory, FIFO or device at the name is refused.
 */
int tx_files_write(const char *base, const tx_files_guard *g, const char *path,
                   const unsigned char *bytes, size_t len, const char **etype, char *emsg,
                   size_t cap)
{
    *etype = TX_FILES_FAILED;
    if (check_path(base, g, path, 1, etype, emsg, cap) != 0 ||
        make_parents(base, path, etype, emsg, cap) != 0)
        return -1;
    char norm[1100], dir[1100];
    normalize(path, norm, sizeof norm);
    const char *slash = strrchr(norm, '/');
    const char *leaf = slash ? slash + 1 : norm;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - norm) : 1, slash ? norm : ".");
    if (leaf[0] == '\0') {
        snprintf(emsg, cap, "File: a relative path is required");
        return -1;
    }
    int dirfd = open_in(base, dir, O_RDONLY | O_DIRECTORY, 0, etype, emsg, cap);
    if (dirfd < 0)
        return -1;
    struct stat st;
    if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISLNK(st.st_mode)) {
            *etype = TX_FILES_BAD_PATH;
            snprintf(emsg, cap, "Path traversal detected: %.200s resolves outside base directory",
                     path);
        } else {
            snprintf(emsg, cap, "File %.200s: not a regular file", path);
        }
        close(dirfd);
        return -1;
    }
    unsigned char rnd[8];
    char tmp[64];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, ".tactus-write-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = fd >= 0 ? 0 : -1;
    if (rc == 0 && (fchmod(fd, 0644) != 0 || tx_write_all(fd, bytes, len) != 0))
        rc = -1;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && renameat(dirfd, tmp, dirfd, leaf) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        if (fd >= 0)
            unlinkat(dirfd, tmp, 0);
        snprintf(emsg, cap, "File %.200s: cannot write: %s", path, strerror(e));
    }
    close(dirfd);
    return rc;
}
