/*
 * secrets.h - the encrypted secrets store under TACTUS_HOME.
 *
 * Layout (see docs/secrets.md):
 *   <home>/secrets.key   32 random bytes, mode 0600, created on first use
 *   <home>/secrets.json  {"version":1,"secrets":{"NAME":{"nonce":"<b64>","ciphertext":"<b64>"}}}
 * Each value is sealed with XChaCha20-Poly1305 (IETF AEAD) under the key, with a fresh random
 * 24-byte nonce and the secret's name as associated data, so a ciphertext copied under another
 * name fails to open. Both files must be regular files owned by the current (effective) uid with
 * no group/other permission bits; that is checked every time either is read. The key may come
 * from the environment instead: TACTUS_SECRETS_KEY = 64 hex characters.
 *
 * Only the broker opens the store. Decrypted values live in sodium_malloc'd (guarded, mlock'd)
 * memory and are wiped when freed. Error statuses: TACTUS_EUSAGE for bad names, bad values, a
 * bad TACTUS_SECRETS_KEY and unknown secrets; TACTUS_ESYSTEM for I/O, permissions, a malformed
 * store and failed decryption.
 *
 * A tx_secrets handle is not thread-safe; writers in different processes serialise through an
 * flock on the home directory, and the store file is replaced atomically, so readers always
 * see either the old or the new store.
 */
#ifndef TX_SECRETS_H
#define TX_SECRETS_H

#include <stddef.h>

#include "tx_error.h"

#define TX_SECRET_NAME_MAX 128                  /* longest name, in bytes */
#define TX_SECRET_VALUE_MAX (64 * 1024)         /* longest value, in bytes */
#define TX_SECRETS_STORE_MAX (16 * 1024 * 1024) /* largest secrets.json read or written */
#define TX_SECRET_WEAK_LEN 8 /* `tactus secrets set` warns about shorter values (guessable) */

typedef struct tx_secrets tx_secrets;

/*
 * Returns 0 if name matches [A-Z_][A-Z0-9_]{0,127}; otherwise -1 with err (TACTUS_EUSAGE)
 * saying what is wrong with it. NULL is invalid.
 */
int tx_secrets_name_valid(const char *name, tx_error *err);

/*
 * Opens the store in directory `home` (created 0700 if missing) and loads the key: from env
 * TACTUS_SECRETS_KEY when set (it must then be exactly 64 hex characters; the key file is not
 * touched), else from <home>/secrets.key, which is created (32 random bytes, 0600) if missing.
 * A missing key file is not recreated while secrets.json still holds secrets: that would
 * silently orphan them, so it is an error instead. The store file itself is read by each call
 * below, not here. On success *out is a handle to free with tx_secrets_close. Returns 0, or -1
 * with err filled and *out NULL.
 */
int tx_secrets_open(const char *home, tx_secrets **out, tx_error *err);

/*
 * Encrypts value (len bytes, 1..TX_SECRET_VALUE_MAX, may contain any bytes) and stores it under
 * name, replacing any earlier value, then rewrites secrets.json atomically (temp file 0600 in
 * the same directory, fsync, rename, fsync of the directory). The caller keeps ownership of
 * value. Returns 0, or -1 with err filled; on failure the store on disk is unchanged.
 */
int tx_secrets_set(tx_secrets *s, const char *name, const unsigned char *value, size_t len,
                   tx_error *err);

/*
 * Decrypts the secret `name`. On success *value points to len+1 bytes of sodium_malloc'd
 * memory (the value plus a NUL added for convenience; the value itself may contain NULs),
 * *len is the value's length, and the caller must release it with tx_secret_free(*value, *len).
 * Errors: "no secret named NAME" (TACTUS_EUSAGE); "secret NAME failed to decrypt (wrong key or
 * tampered store)" (TACTUS_ESYSTEM); malformed store, I/O or permission errors (TACTUS_ESYSTEM).
 * On failure *value is NULL and *len 0.
 */
int tx_secrets_get(tx_secrets *s, const char *name, unsigned char **value, size_t *len,
                   tx_error *err);

/* Wipes and frees a value returned by tx_secrets_get. NULL is allowed. */
void tx_secret_free(unsigned char *value, size_t len);

/*
 * Lists the stored names, sorted (byte order). On success *names is a malloc'd array of *count
 * malloc'd strings (NULL when *count is 0); free it with tx_secrets_list_free. Needs no
 * decryption. Returns 0, or -1 with err filled, *names NULL and *count 0.
 */
int tx_secrets_list(tx_secrets *s, char ***names, size_t *count, tx_error *err);

/* Frees a list returned by tx_secrets_list. NULL is allowed. */
void tx_secrets_list_free(char **names, size_t count);

/*
 * Removes the secret `name` and rewrites secrets.json atomically. "no secret named NAME"
 * (TACTUS_EUSAGE) if there is none. Returns 0, or -1 with err filled (store unchanged).
 */
int tx_secrets_remove(tx_secrets *s, const char *name, tx_error *err);

/* Wipes the key and frees the handle. NULL is allowed. */
void tx_secrets_close(tx_secrets *s);

#endif
