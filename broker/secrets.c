/* secrets.c - the encrypted secrets store: key handling, sealing, the secrets.json file. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "home.h"
#include "util.h"

#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MAC_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define STORE_VERSION 1

struct tx_secrets {
    char *home;
    char *store_path;
    char *key_path;
    unsigned char *key; /* KEY_BYTES of sodium_malloc'd memory, read-only outside open */
};

int tx_secrets_name_valid(const char *name, tx_error *err)
{
    size_t len;

    if (name == NULL || name[0] == '\0')
        return tx_fail(err, TACTUS_EUSAGE, "secret name is empty");
    len = strnlen(name, TX_SECRET_NAME_MAX + 1);
    if (len > TX_SECRET_NAME_MAX)
        return tx_fail(err, TACTUS_EUSAGE, "secret name is longer than %d characters",
                       TX_SECRET_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return tx_fail(err, TACTUS_EUSAGE,
                           "invalid secret name \"%.*s\": use upper-case letters, digits and "
                           "'_', not starting with a digit (e.g. GITHUB_TOKEN)",
                           (int)len, name);
    }
    return 0;
}

/* Joins dir and file into a malloc'd path, or NULL if out of memory. */
static char *path_join(const char *dir, const char *file)
{
    size_t dl = strlen(dir), fl = strlen(file);
    char *p = malloc(dl + 1 + fl + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, file, fl + 1);
    return p;
}

/*
 * The permission rule for the key and the store: a regular file, owned by us, with no group or
 * other bits. Anyone else who can read either file can decrypt; anyone who can write them can
 * swap in their own key. `what` is "key file" or "secrets store" for the message.
 */
static int check_private_file(int fd, const char *path, const char *what, tx_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot stat %s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tx_fail(err, TACTUS_ESYSTEM, "%s %s is not a regular file", what, path);
    if (st.st_uid != geteuid())
        return tx_fail(err, TACTUS_ESYSTEM,
                       "%s %s is owned by uid %u, not by you (uid %u); refusing to use it. "
                       "Fix: chown %u %s && chmod 600 %s",
                       what, path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
                       path, path);
    if ((st.st_mode & 077) != 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "%s %s is accessible by group or others (mode %04o); refusing to use it. "
                       "Fix: chmod 600 %s",
                       what, path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

/*
 * Reads fd to EOF into buf (cap bytes). Returns the byte count, or -1 with errno set; a file of
 * more than cap bytes gives -1 with errno EFBIG.
 */
static ssize_t read_all(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;

    for (;;) {
        unsigned char extra;
        ssize_t n;
        if (got < cap)
            n = read(fd, buf + got, cap - got);
        else
            n = read(fd, &extra, 1); /* only to learn whether there is more */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return (ssize_t)got;
        if (got >= cap) {
            errno = EFBIG;
            return -1;
        }
        got += (size_t)n;
    }
}

/* fsyncs a directory so a rename or link in it is durable. Returns 0 or -1 with errno set. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0; /* some filesystems cannot fsync directories; the rename is still atomic */
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* ---- the store file ---------------------------------------------------------------------- */

/*
 * Checks the shape of a parsed store: {"version":1,"secrets":{NAME:{"nonce":s,"ciphertext":s}}}
 * with valid names and no unknown keys. Returns 0 or -1 with err naming the file and the field.
 */
static int store_validate(json_t *root, const char *path, tx_error *err)
{
    const char *key;
    json_t *val, *version, *secrets;
    tx_error nerr;

    if (!json_is_object(root))
        return tx_fail(err, TACTUS_ESYSTEM, "malformed secrets store %s: not a JSON object", path);
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "version") != 0 && strcmp(key, "secrets") != 0)
            return tx_fail(err, TACTUS_ESYSTEM, "malformed secrets store %s: unknown key \"%s\"",
                           path, key);
    }
    version = json_object_get(root, "version");
    if (!json_is_integer(version))
        return tx_fail(err, TACTUS_ESYSTEM,
                       "malformed secrets store %s: \"version\" is missing or not an integer",
                       path);
    if (json_integer_value(version) != STORE_VERSION)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "secrets store %s has version %lld; this tactus reads version %d", path,
                       (long long)json_integer_value(version), STORE_VERSION);
    secrets = json_object_get(root, "secrets");
    if (!json_is_object(secrets))
        return tx_fail(err, TACTUS_ESYSTEM,
                       "malformed secrets store %s: \"secrets\" is missing or not an object", path);
    json_object_foreach(secrets, key, val)
    {
        const char *field;
        json_t *fval;
        if (tx_secrets_name_valid(key, &nerr) != 0)
            return tx_fail(err, TACTUS_ESYSTEM, "malformed secrets store %s: %s", path,
                           nerr.message);
        if (!json_is_object(val))
            return tx_fail(err, TACTUS_ESYSTEM,
                           "malformed secrets store %s: secrets.%s is not an object", path, key);
        json_object_foreach(val, field, fval)
        {
            if (strcmp(field, "nonce") != 0 && strcmp(field, "ciphertext") != 0)
                return tx_fail(err, TACTUS_ESYSTEM,
                               "malformed secrets store %s: unknown key secrets.%s.%s", path, key,
                               field);
            if (!json_is_string(fval))
                return tx_fail(err, TACTUS_ESYSTEM,
                               "malformed secrets store %s: secrets.%s.%s is not a string", path,
                               key, field);
        }
        if (json_object_get(val, "nonce") == NULL || json_object_get(val, "ciphertext") == NULL)
            return tx_fail(err, TACTUS_ESYSTEM,
                           "malformed secrets store %s: secrets.%s needs \"nonce\" and "
                           "\"ciphertext\"",
                           path, key);
    }
    return 0;
}

/*
 * Reads and validates secrets.json. A missing file is an empty store. On success *out is a new
 * reference the caller must json_decref. Returns 0 or -1 with err filled.
 */
static int store_load(const tx_secrets *s, json_t **out, tx_error *err)
{
    int fd;
    unsigned char *buf;
    ssize_t n;
    json_t *root;
    json_error_t jerr;

    *out = NULL;
    fd = open(s->store_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            root = json_pack("{s:i,s:{}}", "version", STORE_VERSION, "secrets");
            if (root == NULL)
                return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
            *out = root;
            return 0;
        }
        if (errno == ELOOP)
            return tx_fail(err, TACTUS_ESYSTEM,
                           "secrets store %s is a symbolic link; refusing to follow it",
                           s->store_path);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot open secrets store %s: %s", s->store_path,
                       strerror(errno));
    }
    if (check_private_file(fd, s->store_path, "secrets store", err) != 0) {
        close(fd);
        return -1;
    }
    buf = malloc(TX_SECRETS_STORE_MAX);
    if (buf == NULL) {
        close(fd);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    }
    n = read_all(fd, buf, TX_SECRETS_STORE_MAX);
    int saved = errno;
    close(fd);
    if (n < 0) {
        free(buf);
        if (saved == EFBIG)
            return tx_fail(err, TACTUS_ESYSTEM, "secrets store %s is larger than %d MiB",
                           s->store_path, TX_SECRETS_STORE_MAX / (1024 * 1024));
        return tx_fail(err, TACTUS_ESYSTEM, "cannot read secrets store %s: %s", s->store_path,
                       strerror(saved));
    }
    root = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (root == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "malformed secrets store %s: line %d column %d: %s",
                       s->store_path, jerr.line, jerr.column, jerr.text);
    if (store_validate(root, s->store_path, err) != 0) {
        json_decref(root);
        return -1;
    }
    *out = root;
    return 0;
}

/*
 * Replaces secrets.json with root: a fresh 0600 temp file in the same directory, fsync, rename
 * over the old file, fsync of the directory. Either the old or the new store survives a crash.
 * Returns 0 or -1 with err filled (the old store is then untouched).
 */
static int store_save(const tx_secrets *s, json_t *root, tx_error *err)
{
    char *text, *tmp;
    size_t len;
    int fd;

    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    len = strlen(text);
    /* Never write a store that the size cap on reading would then refuse. */
    if (len + 1 > TX_SECRETS_STORE_MAX) {
        free(text);
        return tx_fail(err, TACTUS_EUSAGE,
                       "secrets store %s would exceed %d MiB; remove some secrets first",
                       s->store_path, TX_SECRETS_STORE_MAX / (1024 * 1024));
    }
    tmp = path_join(s->home, ".secrets.json.XXXXXX");
    if (tmp == NULL) {
        free(text);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    }
    fd = mkostemp(tmp, O_CLOEXEC); /* mkostemp creates the file 0600 */
    if (fd < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot create a temporary file in %s: %s", s->home,
                strerror(errno));
        goto fail_free;
    }
    if (fchmod(fd, 0600) != 0 || tx_write_all(fd, text, len) != 0 ||
        tx_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        goto fail_unlink;
    }
    if (close(fd) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot write %s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, s->store_path) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot replace secrets store %s: %s", s->store_path,
                strerror(errno));
        goto fail_unlink;
    }
    free(tmp);
    free(text);
    if (fsync_dir(s->home) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot sync directory %s: %s", s->home,
                       strerror(errno));
    return 0;

fail_unlink:
    unlink(tmp);
fail_free:
    free(tmp);
    free(text);
    return -1;
}

/*
 * Takes an exclusive flock on the home directory, serialising read-modify-write cycles of
 * different processes. On success *fd is the lock's descriptor (close it to unlock).
 */
static int lock_home(const tx_secrets *s, int *fd, tx_error *err)
{
    *fd = open(s->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot open %s: %s", s->home, strerror(errno));
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        int saved = errno;
        close(*fd);
        *fd = -1;
        return tx_fail(err, TACTUS_ESYSTEM, "cannot lock %s: %s", s->home, strerror(saved));
    }
    return 0;
}

/* ---- the key ----------------------------------------------------------------------------- */

/* Parses TACTUS_SECRETS_KEY (64 hex chars) into key. Returns 0 or -1 with err filled. */
static int key_from_env(const char *hex, unsigned char *key, tx_error *err)
{
    size_t hexlen = strlen(hex), binlen = 0;
    const char *end = NULL;

    if (hexlen != 2 * KEY_BYTES ||
        sodium_hex2bin(key, KEY_BYTES, hex, hexlen, NULL, &binlen, &end) != 0 ||
        binlen != KEY_BYTES || end != hex + hexlen) {
        sodium_memzero(key, KEY_BYTES);
        return tx_fail(err, TACTUS_EUSAGE,
                       "TACTUS_SECRETS_KEY must be exactly %d hex characters (a %d-byte key); "
                       "got %zu characters",
                       2 * KEY_BYTES, KEY_BYTES, hexlen);
    }
    return 0;
}

/*
 * Reads the key file, checking ownership, mode and size. Returns 0, 1 if the file does not
 * exist, or -1 with err filled.
 */
static int key_read(const char *path, unsigned char *key, tx_error *err)
{
    unsigned char buf[KEY_BYTES + 1];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        if (errno == ELOOP)
            return tx_fail(err, TACTUS_ESYSTEM,
                           "key file %s is a symbolic link; refusing to follow it", path);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot open key file %s: %s", path, strerror(errno));
    }
    if (check_private_file(fd, path, "key file", err) != 0) {
        close(fd);
        return -1;
    }
    n = read_all(fd, buf, sizeof buf);
    int saved = errno;
    close(fd);
    if (n == (ssize_t)KEY_BYTES)
        memcpy(key, buf, KEY_BYTES);
    sodium_memzero(buf, sizeof buf);
    if (n < 0 && saved != EFBIG)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot read key file %s: %s", path, strerror(saved));
    if (n != (ssize_t)KEY_BYTES)
        return tx_fail(err, TACTUS_ESYSTEM, "key file %s is damaged: it must hold exactly %d bytes",
                       path, KEY_BYTES);
    return 0;
}

/*
 * Creates the key file with a fresh random key. The key is written to a temp file (O_EXCL,
 * 0600) and published with link(), which fails if the name exists: a concurrent process can
 * never read a half-written key, and two racing creators agree on one key (the loser reads the
 * winner's). Returns 0 or -1 with err filled.
 */
static int key_create(const tx_secrets *s, unsigned char *key, tx_error *err)
{
    char *tmp = path_join(s->home, ".secrets.key.XXXXXX");
    int fd, rc = -1;

    if (tmp == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot create key file in %s: %s", s->home, strerror(errno));
        free(tmp);
        return -1;
    }
    randombytes_buf(key, KEY_BYTES);
    if (fchmod(fd, 0600) != 0 || tx_write_all(fd, key, KEY_BYTES) != 0 || fsync(fd) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot write key file %s: %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot write key file %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, s->key_path) != 0) {
        if (errno == EEXIST) {
            /* Someone else created it first: use theirs. */
            int got = key_read(s->key_path, key, err);
            if (got == 0)
                rc = 0;
            else if (got == 1)
                tx_fail(err, TACTUS_ESYSTEM, "key file %s vanished while being created",
                        s->key_path);
            goto out;
        }
        tx_fail(err, TACTUS_ESYSTEM, "cannot create key file %s: %s", s->key_path, strerror(errno));
        goto out;
    }
    if (fsync_dir(s->home) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot sync directory %s: %s", s->home, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    unlink(tmp);
    free(tmp);
    if (rc != 0)
        sodium_memzero(key, KEY_BYTES);
    return rc;
}

/*
 * Loads the key from the file, creating it if missing, but only when the store holds no
 * secrets (a new key would make every stored secret undecryptable). Returns 0 or -1.
 */
static int key_from_file(tx_secrets *s, tx_error *err)
{
    int rc = key_read(s->key_path, s->key, err);
    json_t *store;

    if (rc <= 0)
        return rc;
    if (store_load(s, &store, err) != 0)
        return -1;
    size_t held = json_object_size(json_object_get(store, "secrets"));
    json_decref(store);
    if (held > 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "key file %s is missing but %s holds %zu secret(s) sealed with it; "
                       "restore the key file (or set TACTUS_SECRETS_KEY), or delete %s to start "
                       "over",
                       s->key_path, s->store_path, held, s->store_path);
    return key_create(s, s->key, err);
}

int tx_secrets_open(const char *home, tx_secrets **out, tx_error *err)
{
    tx_secrets *s;
    const char *env;

    if (out == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_open: no output handle");
    *out = NULL;
    if (sodium_init() < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "libsodium failed to initialise");
    if (tx_home_ensure(home, err) != 0)
        return -1;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    s->home = strdup(home);
    s->store_path = path_join(home, "secrets.json");
    s->key_path = path_join(home, "secrets.key");
    s->key = sodium_malloc(KEY_BYTES);
    if (s->home == NULL || s->store_path == NULL || s->key_path == NULL || s->key == NULL) {
        tx_secrets_close(s);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    }
    env = getenv("TACTUS_SECRETS_KEY");
    if (env != NULL) {
        if (key_from_env(env, s->key, err) != 0) {
            tx_secrets_close(s);
            return -1;
        }
    } else if (key_from_file(s, err) != 0) {
        tx_secrets_close(s);
        return -1;
    }
    /* From here on the key is only read; a stray write through a bad pointer now faults. */
    if (sodium_mprotect_readonly(s->key) != 0) {
        tx_secrets_close(s);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot protect the key in memory: %s",
                       strerror(errno));
    }
    *out = s;
    return 0;
}

void tx_secrets_close(tx_secrets *s)
{
    if (s == NULL)
        return;
    sodium_free(s->key); /* wipes before freeing */
    free(s->home);
    free(s->store_path);
    free(s->key_path);
    free(s);
}

/* ---- values ------------------------------------------------------------------------------ */

/* Base64 (standard, padded) of len bytes as a new jansson string, or NULL if out of memory. */
static json_t *b64_string(const unsigned char *bin, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    json_t *str;

    if (b64 == NULL)
        return NULL;
    sodium_bin2base64(b64, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
    str = json_string(b64);
    free(b64);
    return str;
}

int tx_secrets_set(tx_secrets *s, const char *name, const unsigned char *value, size_t len,
                   tx_error *err)
{
    unsigned char nonce[NONCE_BYTES];
    unsigned char *ct = NULL;
    unsigned long long ctlen = 0;
    json_t *store = NULL, *entry = NULL;
    int lockfd = -1, rc = -1;

    if (s == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_set: no store");
    if (tx_secrets_name_valid(name, err) != 0)
        return -1;
    if (value == NULL || len == 0)
        return tx_fail(err, TACTUS_EUSAGE, "secret %s: the value is empty", name);
    if (len > TX_SECRET_VALUE_MAX)
        return tx_fail(err, TACTUS_EUSAGE, "secret %s: the value is %zu bytes; the limit is %d",
                       name, len, TX_SECRET_VALUE_MAX);
    ct = malloc(len + MAC_BYTES);
    if (ct == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    randombytes_buf(nonce, sizeof nonce);
    /* AD = the name, so a ciphertext moved under another name fails authentication. */
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, value, len,
                                                   (const unsigned char *)name, strlen(name), NULL,
                                                   nonce, s->key) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "secret %s: encryption failed", name);
        goto out;
    }
    entry = json_object();
    if (entry == NULL || json_object_set_new(entry, "nonce", b64_string(nonce, sizeof nonce)) ||
        json_object_set_new(entry, "ciphertext", b64_string(ct, (size_t)ctlen))) {
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        goto out;
    }
    if (lock_home(s, &lockfd, err) != 0 || store_load(s, &store, err) != 0)
        goto out;
    if (json_object_set(json_object_get(store, "secrets"), name, entry) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        goto out;
    }
    rc = store_save(s, store, err);
out:
    if (lockfd >= 0)
        close(lockfd);
    json_decref(store);
    json_decref(entry);
    free(ct);
    return rc;
}

/*
 * Decodes standard padded base64 into a malloc'd buffer of at most maxlen bytes. Returns the
 * buffer (caller frees) with *outlen set, or NULL if malformed, too long or out of memory.
 */
static unsigned char *b64_decode(const char *b64, size_t maxlen, size_t *outlen)
{
    size_t b64len = strlen(b64), binlen = 0;
    const char *end = NULL;
    unsigned char *bin;

    if (b64len > sodium_base64_ENCODED_LEN(maxlen, sodium_base64_VARIANT_ORIGINAL))
        return NULL;
    bin = malloc(maxlen > 0 ? maxlen : 1);
    if (bin == NULL)
        return NULL;
    if (sodium_base642bin(bin, maxlen, b64, b64len, NULL, &binlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + b64len) {
        free(bin);
        return NULL;
    }
    *outlen = binlen;
    return bin;
}

/* Looks `name` up in a loaded store; NULL if absent. */
static json_t *store_entry(json_t *store, const char *name)
{
    return json_object_get(json_object_get(store, "secrets"), name);
}

/* Opens one entry of a loaded store. Same contract as tx_secrets_get. */
static int open_entry(const tx_secrets *s, json_t *store, const char *name, unsigned char **value,
                      size_t *len, tx_error *err)
{
    json_t *entry = store_entry(store, name);
    unsigned char *nonce = NULL, *ct = NULL, *pt = NULL;
    size_t noncelen = 0, ctlen = 0;
    unsigned long long ptlen = 0;
    int rc = -1;

    if (entry == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "no secret named %s", name);
    nonce = b64_decode(json_string_value(json_object_get(entry, "nonce")), NONCE_BYTES, &noncelen);
    ct = b64_decode(json_string_value(json_object_get(entry, "ciphertext")),
                    TX_SECRET_VALUE_MAX + MAC_BYTES, &ctlen);
    if (nonce == NULL || noncelen != NONCE_BYTES || ct == NULL || ctlen <= MAC_BYTES) {
        tx_fail(err, TACTUS_ESYSTEM,
                "malformed secrets store %s: secrets.%s has a bad nonce or ciphertext (not "
                "base64 of the expected size)",
                s->store_path, name);
        goto out;
    }
    pt = sodium_malloc(ctlen - MAC_BYTES + 1);
    if (pt == NULL) {
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        goto out;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, ct, ctlen,
                                                   (const unsigned char *)name, strlen(name), nonce,
                                                   s->key) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "secret %s failed to decrypt (wrong key or tampered store)",
                name);
        goto out;
    }
    pt[ptlen] = '\0';
    *value = pt;
    *len = (size_t)ptlen;
    pt = NULL;
    rc = 0;
out:
    if (pt != NULL)
        tx_secret_free(pt, ctlen - MAC_BYTES);
    free(nonce);
    free(ct);
    return rc;
}

int tx_secrets_get(tx_secrets *s, const char *name, unsigned char **value, size_t *len,
                   tx_error *err)
{
    json_t *store;
    int rc;

    if (value == NULL || len == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_get: no output pointers");
    *value = NULL;
    *len = 0;
    if (s == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_get: no store");
    if (tx_secrets_name_valid(name, err) != 0)
        return -1;
    if (store_load(s, &store, err) != 0)
        return -1;
    rc = open_entry(s, store, name, value, len, err);
    json_decref(store);
    return rc;
}

void tx_secret_free(unsigned char *value, size_t len)
{
    if (value == NULL)
        return;
    sodium_memzero(value, len + 1); /* sodium_free wipes too; this keeps the contract explicit */
    sodium_free(value);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tx_secrets_list(tx_secrets *s, char ***names, size_t *count, tx_error *err)
{
    json_t *store, *secrets, *val;
    const char *key;
    char **arr = NULL;
    size_t n = 0, cap;

    if (names == NULL || count == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_list: no output pointers");
    *names = NULL;
    *count = 0;
    if (s == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_list: no store");
    if (store_load(s, &store, err) != 0)
        return -1;
    secrets = json_object_get(store, "secrets");
    cap = json_object_size(secrets);
    if (cap > 0) {
        arr = calloc(cap, sizeof *arr);
        if (arr == NULL)
            goto oom;
        json_object_foreach(secrets, key, val)
        {
            if (n == cap)
                break;
            arr[n] = strdup(key);
            if (arr[n] == NULL)
                goto oom;
            n++;
        }
        qsort(arr, n, sizeof *arr, cmp_names);
    }
    json_decref(store);
    *names = arr;
    *count = n;
    return 0;
oom:
    tx_secrets_list_free(arr, n);
    json_decref(store);
    return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
}

void tx_secrets_list_free(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int tx_secrets_remove(tx_secrets *s, const char *name, tx_error *err)
{
    json_t *store = NULL;
    int lockfd = -1, rc = -1;

    if (s == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tx_secrets_remove: no store");
    if (tx_secrets_name_valid(name, err) != 0)
        return -1;
    if (lock_home(s, &lockfd, err) != 0 || store_load(s, &store, err) != 0)
        goto out;
    if (json_object_del(json_object_get(store, "secrets"), name) != 0) {
        tx_fail(err, TACTUS_EUSAGE, "no secret named %s", name);
        goto out;
    }
    rc = store_save(s, store, err);
out:
    if (lockfd >= 0)
        close(lockfd);
    json_decref(store);
    return rc;
}
