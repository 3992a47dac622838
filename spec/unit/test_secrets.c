/*
 * test_secrets.c - unit tests for broker/secrets.c, broker/home.c and the `tactus secrets` CLI.
 *
 * Every test runs in its own forked process (Check's default) with a fresh mkdtemp home and
 * TACTUS_SECRETS_KEY unset, so environment changes never leak between tests.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "home.h"
#include "redact.h"
#include "secrets.h"

/* The CLI is not part of libtactus; compile it into this test to drive tx_cmd_secrets. */
#include "../../cli/cmd_secrets.c"

static char thome[256];
static char key_path[512];
static char store_path[512];

static void setup(void)
{
    snprintf(thome, sizeof thome, "/tmp/tactus-secrets-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(thome));
    snprintf(key_path, sizeof key_path, "%s/secrets.key", thome);
    snprintf(store_path, sizeof store_path, "%s/secrets.json", thome);
    unsetenv("TACTUS_SECRETS_KEY");
    setenv("TACTUS_HOME", thome, 1);
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", thome);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", thome);
}

static tx_secrets *open_ok(void)
{
    tx_secrets *s = NULL;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_msg(tx_secrets_open(thome, &s, &err) == 0, "open failed: %s", err.message);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void set_ok(tx_secrets *s, const char *name, const char *value)
{
    tx_error err;
    tx_error_clear(&err);
    ck_assert_msg(tx_secrets_set(s, name, (const unsigned char *)value, strlen(value), &err) == 0,
                  "set %s failed: %s", name, err.message);
}

/* Asserts that name decrypts to value. */
static void get_is(tx_secrets *s, const char *name, const char *value)
{
    unsigned char *v = NULL;
    size_t len = 0;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_msg(tx_secrets_get(s, name, &v, &len, &err) == 0, "get %s failed: %s", name,
                  err.message);
    ck_assert_uint_eq(len, strlen(value));
    ck_assert_mem_eq(v, value, len);
    ck_assert_int_eq(v[len], '\0');
    tx_secret_free(v, len);
}

/* Asserts that getting name fails with the given status and a message containing want. */
static void get_fails(tx_secrets *s, const char *name, tactus_status status, const char *want)
{
    unsigned char *v = (unsigned char *)"sentinel";
    size_t len = 7;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_secrets_get(s, name, &v, &len, &err), -1);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.message, want) != NULL, "message \"%s\" lacks \"%s\"", err.message,
                  want);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Reads, edits and writes back the store JSON (keeping mode 0600). */
static json_t *load_store(void)
{
    json_error_t jerr;
    json_t *j = json_load_file(store_path, 0, &jerr);
    ck_assert_msg(j != NULL, "store unreadable: %s", jerr.text);
    return j;
}

static void save_store(json_t *j)
{
    ck_assert_int_eq(json_dump_file(j, store_path, 0), 0);
    ck_assert_int_eq(chmod(store_path, 0600), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* ---- home --------------------------------------------------------------------------------- */

START_TEST(test_home_dir)
{
    char buf[512];
    tx_error err;
    tx_error_clear(&err);
    setenv("TACTUS_HOME", "/x/y", 1);
    ck_assert_int_eq(tx_home_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/x/y");
    unsetenv("TACTUS_HOME");
    setenv("HOME", "/home/someone", 1);
    ck_assert_int_eq(tx_home_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/home/someone/.tactus");
    setenv("TACTUS_HOME", "", 1); /* empty counts as unset */
    ck_assert_int_eq(tx_home_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/home/someone/.tactus");
    unsetenv("HOME");
    ck_assert_int_eq(tx_home_dir(buf, sizeof buf, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "TACTUS_HOME"));
    setenv("TACTUS_HOME", "/a/rather/long/path", 1);
    ck_assert_int_eq(tx_home_dir(buf, 8, &err), -1);
}
END_TEST

START_TEST(test_home_ensure)
{
    char path[400];
    tx_error err;
    tx_error_clear(&err);
    snprintf(path, sizeof path, "%s/a/b/c", thome);
    ck_assert_int_eq(tx_home_ensure(path, &err), 0);
    ck_assert_uint_eq(mode_of(path) & 0077, 0);
    ck_assert_int_eq(tx_home_ensure(path, &err), 0); /* idempotent */
    snprintf(path, sizeof path, "%s/file", thome);
    write_file(path, "x", 0600);
    ck_assert_int_eq(tx_home_ensure(path, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, path));
    snprintf(path, sizeof path, "%s/file/sub", thome);
    ck_assert_int_eq(tx_home_ensure(path, &err), -1);
}
END_TEST

/* ---- store ------------------------------------------------------------------------------- */

START_TEST(test_round_trip)
{
    tx_secrets *s = open_ok();
    char **names = NULL;
    size_t count = 0;
    tx_error err;
    tx_error_clear(&err);

    set_ok(s, "ZETA", "last-value");
    set_ok(s, "ALPHA", "first-value");
    set_ok(s, "_MID_1", "middle");
    get_is(s, "ALPHA", "first-value");
    get_is(s, "ZETA", "last-value");
    ck_assert_int_eq(tx_secrets_list(s, &names, &count, &err), 0);
    ck_assert_uint_eq(count, 3);
    ck_assert_str_eq(names[0], "ALPHA");
    ck_assert_str_eq(names[1], "ZETA");
    ck_assert_str_eq(names[2], "_MID_1");
    tx_secrets_list_free(names, count);

    set_ok(s, "ALPHA", "replaced"); /* overwrite */
    get_is(s, "ALPHA", "replaced");
    ck_assert_int_eq(tx_secrets_remove(s, "ZETA", &err), 0);
    get_fails(s, "ZETA", TACTUS_EUSAGE, "no secret named ZETA");
    ck_assert_int_eq(tx_secrets_remove(s, "ZETA", &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_str_eq(err.message, "no secret named ZETA");
    tx_secrets_close(s);

    /* A new handle reads the same key and store. */
    s = open_ok();
    get_is(s, "ALPHA", "replaced");
    get_is(s, "_MID_1", "middle");
    ck_assert_int_eq(tx_secrets_list(s, &names, &count, &err), 0);
    ck_assert_uint_eq(count, 2);
    tx_secrets_list_free(names, count);
    tx_secrets_close(s);

    /* The plaintext never reaches the store file. */
    char *text = NULL;
    size_t n = 0;
    FILE *f = fopen(store_path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_gt(getdelim(&text, &n, '\0', f), 0);
    fclose(f);
    ck_assert_ptr_null(strstr(text, "replaced"));
    ck_assert_ptr_null(strstr(text, "middle"));
    free(text);
}
END_TEST

START_TEST(test_empty_store)
{
    tx_secrets *s = open_ok();
    char **names = (char **)1;
    size_t count = 99;
    tx_error err;
    ck_assert_int_eq(tx_secrets_list(s, &names, &count, &err), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_ptr_null(names);
    get_fails(s, "NOPE", TACTUS_EUSAGE, "no secret named NOPE");
    tx_secrets_close(s);
    tx_secrets_close(NULL);
    tx_secrets_list_free(NULL, 0);
    tx_secret_free(NULL, 0);
}
END_TEST

START_TEST(test_binary_and_size_limits)
{
    tx_secrets *s = open_ok();
    tx_error err;
    unsigned char *big = malloc(TX_SECRET_VALUE_MAX + 1);
    unsigned char *v;
    size_t len;

    for (size_t i = 0; i <= TX_SECRET_VALUE_MAX; i++)
        big[i] = (unsigned char)(i * 7); /* includes NUL bytes */
    ck_assert_int_eq(tx_secrets_set(s, "BIG", big, TX_SECRET_VALUE_MAX, &err), 0);
    ck_assert_int_eq(tx_secrets_get(s, "BIG", &v, &len, &err), 0);
    ck_assert_uint_eq(len, TX_SECRET_VALUE_MAX);
    ck_assert_mem_eq(v, big, len);
    tx_secret_free(v, len);

    tx_error_clear(&err);
    ck_assert_int_eq(tx_secrets_set(s, "TOO_BIG", big, TX_SECRET_VALUE_MAX + 1, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "65537"));
    get_fails(s, "TOO_BIG", TACTUS_EUSAGE, "no secret named TOO_BIG");
    ck_assert_int_eq(tx_secrets_set(s, "EMPTY", big, 0, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_int_eq(tx_secrets_set(s, "NULLV", NULL, 3, &err), -1);
    free(big);
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_names)
{
    static const char *good[] = {"A", "_", "A1", "_9", "GITHUB_TOKEN", "ABC_DEF_123"};
    static const char *bad[] = {"", "a", "Abc", "1ABC", "A-B", "A.B", "A B", "É", "A\n"};
    tx_secrets *s = open_ok();
    tx_error err;
    char long_name[TX_SECRET_NAME_MAX + 2];

    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(tx_secrets_name_valid(good[i], &err) == 0, "%s rejected", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tx_error_clear(&err);
        ck_assert_msg(tx_secrets_name_valid(bad[i], &err) == -1, "%s accepted", bad[i]);
        ck_assert_int_eq(err.status, TACTUS_EUSAGE);
        ck_assert_int_eq(tx_secrets_set(s, bad[i], (const unsigned char *)"v", 1, &err), -1);
        ck_assert_int_eq(tx_secrets_remove(s, bad[i], &err), -1);
        unsigned char *v;
        size_t len;
        ck_assert_int_eq(tx_secrets_get(s, bad[i], &v, &len, &err), -1);
    }
    ck_assert_int_eq(tx_secrets_name_valid(NULL, &err), -1);
    memset(long_name, 'A', TX_SECRET_NAME_MAX);
    long_name[TX_SECRET_NAME_MAX] = '\0';
    ck_assert_int_eq(tx_secrets_name_valid(long_name, &err), 0);
    set_ok(s, long_name, "long-name-value");
    get_is(s, long_name, "long-name-value");
    long_name[TX_SECRET_NAME_MAX] = 'A';
    long_name[TX_SECRET_NAME_MAX + 1] = '\0';
    ck_assert_int_eq(tx_secrets_name_valid(long_name, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "128"));
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_file_modes)
{
    char sub[400];
    tx_secrets *s;
    tx_error err;
    tx_error_clear(&err);

    umask(0); /* the code must not rely on the caller's umask */
    snprintf(sub, sizeof sub, "%s/fresh/thome", thome);
    ck_assert_int_eq(tx_secrets_open(sub, &s, &err), 0);
    ck_assert_uint_eq(mode_of(sub), 0700);
    snprintf(key_path, sizeof key_path, "%s/secrets.key", sub);
    snprintf(store_path, sizeof store_path, "%s/secrets.json", sub);
    ck_assert_uint_eq(mode_of(key_path), 0600);
    struct stat st;
    ck_assert_int_eq(stat(key_path, &st), 0);
    ck_assert_int_eq(st.st_size, 32);
    ck_assert_int_eq(access(store_path, F_OK), -1); /* nothing written until the first set */
    set_ok(s, "A", "value-a");
    ck_assert_uint_eq(mode_of(store_path), 0600);
    set_ok(s, "B", "value-b");
    ck_assert_uint_eq(mode_of(store_path), 0600);
    tx_secrets_close(s);

    /* No temp files left behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", sub);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_refuse_open_key_file)
{
    tx_secrets *s = open_ok();
    tx_error err;
    tx_secrets_close(s);

    static const mode_t bad_modes[] = {0640, 0604, 0660, 0620, 0602, 0610};
    for (size_t i = 0; i < sizeof bad_modes / sizeof *bad_modes; i++) {
        ck_assert_int_eq(chmod(key_path, bad_modes[i]), 0);
        tx_error_clear(&err);
        s = (tx_secrets *)1;
        ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(err.status, TACTUS_ESYSTEM);
        ck_assert_msg(strstr(err.message, key_path) != NULL, "no path in: %s", err.message);
        char fix[600];
        snprintf(fix, sizeof fix, "chmod 600 %s", key_path);
        ck_assert_msg(strstr(err.message, fix) != NULL, "no fix in: %s", err.message);
    }
    ck_assert_int_eq(chmod(key_path, 0400), 0); /* read-only for the owner is fine */
    s = open_ok();
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_refuse_open_store)
{
    tx_secrets *s = open_ok();
    tx_error err;
    char **names;
    size_t count;
    set_ok(s, "A", "value-a");

    ck_assert_int_eq(chmod(store_path, 0644), 0);
    get_fails(s, "A", TACTUS_ESYSTEM, "chmod 600");
    get_fails(s, "A", TACTUS_ESYSTEM, store_path);
    ck_assert_int_eq(tx_secrets_list(s, &names, &count, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "chmod 600"));
    ck_assert_int_eq(tx_secrets_set(s, "B", (const unsigned char *)"value-b", 7, &err), -1);
    ck_assert_int_eq(chmod(store_path, 0600), 0);
    get_is(s, "A", "value-a");
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_refuse_symlinks)
{
    tx_secrets *s = open_ok();
    char target[400];
    set_ok(s, "A", "value-a");
    snprintf(target, sizeof target, "%s/real.json", thome);
    ck_assert_int_eq(rename(store_path, target), 0);
    ck_assert_int_eq(symlink(target, store_path), 0);
    get_fails(s, "A", TACTUS_ESYSTEM, "symbolic link");
    tx_secrets_close(s);

    snprintf(target, sizeof target, "%s/real.key", thome);
    ck_assert_int_eq(rename(key_path, target), 0);
    ck_assert_int_eq(symlink(target, key_path), 0);
    tx_error err;
    ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "symbolic link"));
}
END_TEST

START_TEST(test_env_key)
{
    tx_secrets *s;
    tx_error err;
    setenv("TACTUS_SECRETS_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F",
           1);
    s = open_ok();
    set_ok(s, "A", "env-sealed");
    get_is(s, "A", "env-sealed");
    tx_secrets_close(s);
    ck_assert_int_eq(access(key_path, F_OK), -1); /* the key file was never created */

    /* The same key again opens it; a different one cannot. */
    s = open_ok();
    get_is(s, "A", "env-sealed");
    tx_secrets_close(s);
    setenv("TACTUS_SECRETS_KEY", "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
           1);
    s = open_ok();
    get_fails(s, "A", TACTUS_ESYSTEM, "secret A failed to decrypt (wrong key or tampered store)");
    tx_secrets_close(s);

    /* Malformed env keys are usage errors. */
    static const char *bad[] = {
        "",
        "00",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
        "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "00 102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("TACTUS_SECRETS_KEY", bad[i], 1);
        tx_error_clear(&err);
        ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
        ck_assert_int_eq(err.status, TACTUS_EUSAGE);
        ck_assert_ptr_nonnull(strstr(err.message, "TACTUS_SECRETS_KEY"));
    }
}
END_TEST

START_TEST(test_wrong_key_file)
{
    tx_secrets *s = open_ok();
    set_ok(s, "A", "value-a");
    tx_secrets_close(s);
    /* Replace the key with other random bytes. */
    unsigned char other[32];
    randombytes_buf(other, sizeof other);
    int fd = open(key_path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, other, sizeof other), 32);
    close(fd);
    s = open_ok();
    get_fails(s, "A", TACTUS_ESYSTEM, "secret A failed to decrypt (wrong key or tampered store)");
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_damaged_key_file)
{
    tx_secrets *s = open_ok();
    tx_error err;
    tx_secrets_close(s);
    write_file(key_path, "short", 0600);
    ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, key_path));
    write_file(key_path, "0123456789012345678901234567890123", 0600); /* 34 bytes */
    ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "exactly 32 bytes"));
}
END_TEST

START_TEST(test_missing_key_with_secrets)
{
    tx_secrets *s = open_ok();
    tx_error err;
    set_ok(s, "A", "value-a");
    tx_secrets_close(s);
    ck_assert_int_eq(unlink(key_path), 0);
    tx_error_clear(&err);
    ck_assert_int_eq(tx_secrets_open(thome, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "missing"));
    ck_assert_int_eq(access(key_path, F_OK), -1); /* no new key that would orphan A */
    json_t *j = load_store();
    ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "secrets"), "A"));
    json_decref(j);
}
END_TEST

START_TEST(test_swapped_ciphertexts)
{
    tx_secrets *s = open_ok();
    set_ok(s, "A", "value-of-a");
    set_ok(s, "B", "value-of-b");
    json_t *j = load_store();
    json_t *sec = json_object_get(j, "secrets");
    json_t *a = json_incref(json_object_get(sec, "A"));
    json_t *b = json_incref(json_object_get(sec, "B"));
    json_object_set_new(sec, "A", b);
    json_object_set_new(sec, "B", a);
    save_store(j);
    json_decref(j);
    get_fails(s, "A", TACTUS_ESYSTEM, "secret A failed to decrypt (wrong key or tampered store)");
    get_fails(s, "B", TACTUS_ESYSTEM, "secret B failed to decrypt (wrong key or tampered store)");
    tx_secrets_close(s);
}
END_TEST

/* Flips one bit of field ("nonce" or "ciphertext") of secret A at byte index at. */
static void flip(const char *field, size_t at)
{
    json_t *j = load_store();
    json_t *e = json_object_get(json_object_get(j, "secrets"), "A");
    const char *b64 = json_string_value(json_object_get(e, field));
    unsigned char bin[256];
    size_t binlen;
    ck_assert_int_eq(sodium_base642bin(bin, sizeof bin, b64, strlen(b64), NULL, &binlen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    ck_assert_uint_lt(at, binlen);
    bin[at] ^= 0x01;
    char out[400];
    sodium_bin2base64(out, sizeof out, bin, binlen, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(e, field, json_string(out));
    save_store(j);
    json_decref(j);
}

START_TEST(test_tampered_bytes)
{
    tx_secrets *s = open_ok();
    const char *msg = "secret A failed to decrypt (wrong key or tampered store)";
    set_ok(s, "A", "value-of-a");
    flip("ciphertext", 0);
    get_fails(s, "A", TACTUS_ESYSTEM, msg);
    flip("ciphertext", 0); /* flip back: works again, so the failure was the flip */
    get_is(s, "A", "value-of-a");
    flip("ciphertext", 10 + 15); /* last MAC byte */
    get_fails(s, "A", TACTUS_ESYSTEM, msg);
    flip("ciphertext", 25);
    flip("nonce", 23);
    get_fails(s, "A", TACTUS_ESYSTEM, msg);
    tx_secrets_close(s);
}
END_TEST

/* Writes text as the store (0600) and asserts get fails with a message naming the store. */
static void malformed(tx_secrets *s, const char *text, const char *want)
{
    write_file(store_path, text, 0600);
    get_fails(s, "A", TACTUS_ESYSTEM, store_path);
    get_fails(s, "A", TACTUS_ESYSTEM, want);
    char **names;
    size_t count;
    tx_error err;
    ck_assert_int_eq(tx_secrets_list(s, &names, &count, &err), -1);
    /* A write must not replace a store it cannot read. */
    ck_assert_int_eq(tx_secrets_set(s, "B", (const unsigned char *)"value-b", 7, &err), -1);
}

START_TEST(test_malformed_store)
{
    tx_secrets *s = open_ok();
    malformed(s, "{not json", "line 1");
    malformed(s, "[]", "not a JSON object");
    malformed(s, "{\"version\":2,\"secrets\":{}}", "version 2");
    malformed(s, "{\"secrets\":{}}", "version");
    malformed(s, "{\"version\":1}", "secrets");
    malformed(s, "{\"version\":1,\"secrets\":{},\"extra\":1}", "unknown key \"extra\"");
    malformed(s, "{\"version\":1,\"secrets\":{\"bad-name\":{}}}", "invalid secret name");
    malformed(s, "{\"version\":1,\"secrets\":{\"A\":1}}", "secrets.A is not an object");
    malformed(s, "{\"version\":1,\"secrets\":{\"A\":{\"nonce\":\"AA==\"}}}", "ciphertext");
    malformed(s, "{\"version\":1,\"secrets\":{\"A\":{\"nonce\":1,\"ciphertext\":\"\"}}}",
              "not a string");
    malformed(s,
              "{\"version\":1,\"secrets\":{\"A\":{\"nonce\":\"x\",\"ciphertext\":\"y\","
              "\"iv\":\"\"}}}",
              "unknown key secrets.A.iv");
    malformed(s, "{\"version\":1,\"secrets\":{\"A\":{},\"A\":{}}}", "duplicate");
    /* Structurally fine but not base64 of the right sizes. */
    write_file(store_path,
               "{\"version\":1,\"secrets\":{\"A\":{\"nonce\":\"!!\",\"ciphertext\":\"AAAA\"}}}",
               0600);
    get_fails(s, "A", TACTUS_ESYSTEM, "bad nonce or ciphertext");
    get_fails(s, "A", TACTUS_ESYSTEM, store_path);
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_store_size_cap)
{
    tx_secrets *s = open_ok();
    int fd = open(store_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, TX_SECRETS_STORE_MAX + 1), 0);
    close(fd);
    get_fails(s, "A", TACTUS_ESYSTEM, "larger than 16 MiB");
    tx_secrets_close(s);
}
END_TEST

/* Opening one secret decrypts only that entry: a damaged other entry does not matter (the
 * broker relies on this to leave secrets no tool of the run names sealed). */
START_TEST(test_one_entry_alone)
{
    tx_secrets *s = open_ok();
    set_ok(s, "A", "value-of-a");
    set_ok(s, "B", "value-of-b");
    flip("ciphertext", 0); /* damages A */
    get_is(s, "B", "value-of-b");
    get_fails(s, "A", TACTUS_ESYSTEM, "secret A failed to decrypt (wrong key or tampered store)");
    tx_secrets_close(s);
}
END_TEST

/* ---- CLI --------------------------------------------------------------------------------- */

typedef struct cli_result {
    int code;
    char out[4096];
    char err[4096];
} cli_result;

/* Reads a whole small file into buf. */
static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/*
 * Runs tx_cmd_secrets(argv) in a child whose stdin is a pipe fed with `input` (len bytes,
 * input NULL = /dev/null) and whose stdout and stderr go to files. */
static cli_result run_cli(const char *const *argv, const char *input, size_t len)
{
    cli_result res;
    char outp[400], errp[400];
    int argc = 0, pfd[2];
    snprintf(outp, sizeof outp, "%s/cli.out", thome);
    snprintf(errp, sizeof errp, "%s/cli.err", thome);
    while (argv[argc] != NULL)
        argc++;
    ck_assert_int_eq(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[1]);
        dup2(pfd[0], STDIN_FILENO);
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        int code = tx_cmd_secrets(argc, (char **)argv);
        fflush(NULL);
        _exit(code);
    }
    close(pfd[0]);
    if (input != NULL && len > 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(pfd[1], input + off, len - off);
            if (n <= 0)
                break; /* the child may stop reading early (value too long) */
            off += (size_t)n;
        }
    }
    close(pfd[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    res.code = WEXITSTATUS(status);
    slurp(outp, res.out, sizeof res.out);
    slurp(errp, res.err, sizeof res.err);
    unlink(outp);
    unlink(errp);
    return res;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_cli_set_list_rm)
{
    signal(SIGPIPE, SIG_IGN);
    cli_result r = run_cli(ARGS("secrets", "set", "API_KEY"), "line1\nline2\n\n", 13);
    ck_assert_msg(r.code == 0, "set failed: %s", r.err);
    r = run_cli(ARGS("secrets", "set", "OTHER"), "no-newline", 10);
    ck_assert_int_eq(r.code, 0);
    r = run_cli(ARGS("secrets", "list"), NULL, 0);
    ck_assert_int_eq(r.code, 0);
    ck_assert_str_eq(r.out, "API_KEY\nOTHER\n");

    tx_secrets *s = open_ok();
    get_is(s, "API_KEY", "line1\nline2\n"); /* exactly one trailing newline stripped */
    get_is(s, "OTHER", "no-newline");
    tx_secrets_close(s);

    r = run_cli(ARGS("secrets", "rm", "OTHER"), NULL, 0);
    ck_assert_int_eq(r.code, 0);
    r = run_cli(ARGS("secrets", "list"), NULL, 0);
    ck_assert_str_eq(r.out, "API_KEY\n");
    r = run_cli(ARGS("secrets", "rm", "OTHER"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_str_eq(r.err, "tactus secrets: no secret named OTHER\n");
}
END_TEST

/* Short values are stored, with a warning that says why they are weak. */
START_TEST(test_cli_short_value_warning)
{
    signal(SIGPIPE, SIG_IGN);
    cli_result r = run_cli(ARGS("secrets", "set", "PIN"), "123456", 6);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "tactus secrets: warning: PIN is only 6 bytes long"));
    ck_assert_ptr_null(strstr(r.err, "not redacted at all"));
    ck_assert_ptr_null(strstr(r.err, "123456")); /* the value is never echoed */
    r = run_cli(ARGS("secrets", "set", "TINY"), "abc", 3);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "values under 4 bytes are not redacted at all"));
    r = run_cli(ARGS("secrets", "set", "OK_LEN"), "abcdefgh", 8);
    ck_assert_int_eq(r.code, 0);
    ck_assert_str_eq(r.err, "");
    tx_secrets *s = open_ok();
    get_is(s, "PIN", "123456");
    get_is(s, "TINY", "abc");
    tx_secrets_close(s);
}
END_TEST

START_TEST(test_cli_refuses_argv_value)
{
    cli_result r = run_cli(ARGS("secrets", "set", "API_KEY", "hunter2-value"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "tactus secrets: "));
    ck_assert_ptr_nonnull(strstr(r.err, "command line"));
    ck_assert_ptr_nonnull(strstr(r.err, "stdin"));
    ck_assert_ptr_null(strstr(r.err, "hunter2-value")); /* never echo the value */
    r = run_cli(ARGS("secrets", "set", "API_KEY", "--value=hunter2-value"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_null(strstr(r.err, "hunter2-value"));
    ck_assert_int_eq(access(store_path, F_OK), -1);
}
END_TEST

START_TEST(test_cli_usage_errors)
{
    cli_result r = run_cli(ARGS("secrets"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "Usage"));
    r = run_cli(ARGS("secrets", "frobnicate"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "tactus secrets: unknown command \"frobnicate\""));
    r = run_cli(ARGS("secrets", "set"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "missing NAME"));
    r = run_cli(ARGS("secrets", "rm"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    r = run_cli(ARGS("secrets", "list", "X"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    r = run_cli(ARGS("secrets", "set", "lower"), "value", 5);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "tactus secrets: invalid secret name \"lower\""));
    r = run_cli(ARGS("secrets", "set", "EMPTY"), "\n", 1);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "empty"));
    r = run_cli(ARGS("secrets", "set", "EMPTY"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    r = run_cli(ARGS("secrets", "rm", "-x"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    setenv("TACTUS_SECRETS_KEY", "nothex", 1);
    r = run_cli(ARGS("secrets", "list"), NULL, 0);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "TACTUS_SECRETS_KEY"));
}
END_TEST

START_TEST(test_cli_value_size)
{
    signal(SIGPIPE, SIG_IGN);
    size_t n = TX_SECRET_VALUE_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'v', n + 1);
    /* 64 KiB plus the one stripped newline is fine. */
    big[TX_SECRET_VALUE_MAX] = '\n';
    cli_result r = run_cli(ARGS("secrets", "set", "BIG"), big, n);
    ck_assert_msg(r.code == 0, "64 KiB + newline refused: %s", r.err);
    /* 64 KiB + 1 value bytes is not. */
    memset(big, 'v', n + 1);
    r = run_cli(ARGS("secrets", "set", "BIGGER"), big, n);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "longer than 65536"));
    r = run_cli(ARGS("secrets", "set", "BIGGER"), big, n + 1);
    ck_assert_int_eq(r.code, 2);
    free(big);
    r = run_cli(ARGS("secrets", "list"), NULL, 0);
    ck_assert_str_eq(r.out, "BIG\n");
}
END_TEST

START_TEST(test_cli_help_and_system_errors)
{
    const char *const *helps[] = {ARGS("secrets", "--help"), ARGS("secrets", "-h"),
                                  ARGS("secrets", "set", "--help"), ARGS("secrets", "list", "-h"),
                                  ARGS("secrets", "rm", "--help")};
    for (size_t i = 0; i < sizeof helps / sizeof *helps; i++) {
        cli_result r = run_cli(helps[i], NULL, 0);
        ck_assert_int_eq(r.code, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "Usage: tactus secrets"));
        ck_assert_str_eq(r.err, "");
    }
    ck_assert_int_eq(access(key_path, F_OK), -1); /* help touches nothing */

    cli_result r = run_cli(ARGS("secrets", "set", "A"), "value-a", 7);
    ck_assert_int_eq(r.code, 0);
    ck_assert_int_eq(chmod(key_path, 0644), 0);
    r = run_cli(ARGS("secrets", "list"), NULL, 0);
    ck_assert_int_eq(r.code, 7);
    ck_assert_ptr_nonnull(strstr(r.err, "tactus secrets: key file"));
    ck_assert_ptr_nonnull(strstr(r.err, "chmod 600"));
    ck_assert_int_eq(chmod(key_path, 0600), 0);
    write_file(store_path, "{broken", 0600);
    r = run_cli(ARGS("secrets", "rm", "A"), NULL, 0);
    ck_assert_int_eq(r.code, 7);
    ck_assert_ptr_nonnull(strstr(r.err, "malformed secrets store"));
}
END_TEST

static Suite *secrets_suite(void)
{
    Suite *s = suite_create("secrets");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_home_dir);
    tcase_add_test(tc, test_home_ensure);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_empty_store);
    tcase_add_test(tc, test_binary_and_size_limits);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_file_modes);
    tcase_add_test(tc, test_refuse_open_key_file);
    tcase_add_test(tc, test_refuse_open_store);
    tcase_add_test(tc, test_refuse_symlinks);
    tcase_add_test(tc, test_env_key);
    tcase_add_test(tc, test_wrong_key_file);
    tcase_add_test(tc, test_damaged_key_file);
    tcase_add_test(tc, test_missing_key_with_secrets);
    tcase_add_test(tc, test_swapped_ciphertexts);
    tcase_add_test(tc, test_tampered_bytes);
    tcase_add_test(tc, test_one_entry_alone);
    tcase_add_test(tc, test_malformed_store);
    tcase_add_test(tc, test_store_size_cap);
    suite_add_tcase(s, tc);

    TCase *cli = tcase_create("cli");
    tcase_add_checked_fixture(cli, setup, teardown);
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, test_cli_set_list_rm);
    tcase_add_test(cli, test_cli_short_value_warning);
    tcase_add_test(cli, test_cli_refuses_argv_value);
    tcase_add_test(cli, test_cli_usage_errors);
    tcase_add_test(cli, test_cli_value_size);
    tcase_add_test(cli, test_cli_help_and_system_errors);
    suite_add_tcase(s, cli);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(secrets_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
