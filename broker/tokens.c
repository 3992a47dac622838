/* tokens.c - single-use phase tokens (see tokens.h). */
#include "tokens.h"

#include <sodium.h>
#include <string.h>

#define HASH_BYTES crypto_generichash_BYTES

struct tx_tokens {
    unsigned char hash[3][HASH_BYTES];
    int used[3];
    tx_phase phase;
    int refused;
};

static const char *const kind_names[] = {"setup", "run", "upload"};

/* The phase in which each kind of token is accepted. */
static const tx_phase accepted_in[] = {TX_PHASE_SETUP, TX_PHASE_RUN, TX_PHASE_RUNNING};

tx_tokens *tx_tokens_new(unsigned char raw[3][TX_TOKEN_BYTES])
{
    if (sodium_init() < 0)
        return NULL;
    tx_tokens *t = sodium_malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    for (int k = 0; k < 3; k++) {
        randombytes_buf(raw[k], TX_TOKEN_BYTES);
        crypto_generichash(t->hash[k], HASH_BYTES, raw[k], TX_TOKEN_BYTES, NULL, 0);
    }
    t->phase = TX_PHASE_SETUP;
    return t;
}

void tx_token_hex(const unsigned char raw[TX_TOKEN_BYTES], char *out, size_t cap)
{
    if (cap < TX_TOKEN_BYTES * 2 + 1) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    sodium_bin2hex(out, cap, raw, TX_TOKEN_BYTES);
}

static int refuse(tx_tokens *t, tx_error *err, const char *fmt, const char *kind)
{
    t->refused++;
    return tx_fail(err, TACTUS_EPROC, fmt, kind);
}

int tx_tokens_redeem(tx_tokens *t, tx_token_kind kind, const char *token_hex, tx_error *err)
{
    if ((int)kind < 0 || kind > TX_TOKEN_UPLOAD)
        return refuse(t, err, "unknown token kind%s", "");
    const char *name = kind_names[kind];
    unsigned char raw[TX_TOKEN_BYTES], hash[HASH_BYTES];
    size_t raw_len = 0;
    if (token_hex == NULL || strlen(token_hex) != TX_TOKEN_BYTES * 2 ||
        sodium_hex2bin(raw, sizeof raw, token_hex, TX_TOKEN_BYTES * 2, NULL, &raw_len, NULL) != 0 ||
        raw_len != TX_TOKEN_BYTES)
        return refuse(t, err, "malformed %s token", name);
    crypto_generichash(hash, sizeof hash, raw, sizeof raw, NULL, 0);
    sodium_memzero(raw, sizeof raw);
    int match = sodium_memcmp(hash, t->hash[kind], HASH_BYTES) == 0;
    if (!match)
        return refuse(t, err, "wrong %s token", name);
    if (t->used[kind])
        return refuse(t, err, "%s token already used", name);
    if (t->phase != accepted_in[kind])
        return refuse(t, err, "%s token presented out of phase", name);
    /* Consume before acting, so a concurrent or repeated presentation cannot pass twice. */
    t->used[kind] = 1;
    t->phase = (tx_phase)(t->phase + 1);
    return 0;
}

tx_phase tx_tokens_phase(const tx_tokens *t)
{
    return t->phase;
}

int tx_tokens_refused(const tx_tokens *t)
{
    return t->refused;
}

void tx_tokens_free(tx_tokens *t)
{
    if (t != NULL)
        sodium_free(t); /* sodium_free wipes the memory */
}
