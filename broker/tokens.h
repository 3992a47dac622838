/*
 * tokens.h - single-use tokens that gate the phases of a run on the broker side.
 *
 * Each run gets three random tokens, one per phase: setup (the runner says hello), run (tool
 * calls, events, journal) and upload (the final result). The runner is handed the raw tokens in
 * memory when it starts; the broker keeps only their BLAKE2b hashes. A token is accepted once,
 * only in its own phase, only in order, and compared in constant time; accepting it moves the
 * run to the next phase. Tokens never touch the disk, argv, the environment or any log.
 */
#ifndef TX_TOKENS_H
#define TX_TOKENS_H

#include <stddef.h>

#include "tx_error.h"

#define TX_TOKEN_BYTES 32

typedef enum tx_phase {
    TX_PHASE_SETUP = 0, /* waiting for the setup token */
    TX_PHASE_RUN,       /* setup done: waiting for the run token */
    TX_PHASE_RUNNING,   /* run token accepted: tool calls, events and journal are allowed */
    TX_PHASE_DONE       /* upload token accepted: nothing more is allowed */
} tx_phase;

/* Which token a redeem call presents. */
typedef enum tx_token_kind { TX_TOKEN_SETUP = 0, TX_TOKEN_RUN, TX_TOKEN_UPLOAD } tx_token_kind;

typedef struct tx_tokens tx_tokens;

/*
 * Makes three fresh tokens; writes the raw values into raw[kind] for the caller to hand to the
 * runner (the caller wipes them with sodium_memzero once handed over). Returns NULL if out of
 * memory or libsodium cannot start.
 */
tx_tokens *tx_tokens_new(unsigned char raw[3][TX_TOKEN_BYTES]);

/*
 * Presents `token` (hex text, 64 characters) as the token of `kind`. Succeeds only if the run is
 * in that token's phase and the token matches; then the phase advances. A wrong, reused or
 * out-of-phase token is refused with an error that says which (never echoing the token) and
 * counted. Returns 0 or -1 (TACTUS_EPROC).
 */
int tx_tokens_redeem(tx_tokens *t, tx_token_kind kind, const char *token_hex, tx_error *err);

/* The current phase. */
tx_phase tx_tokens_phase(const tx_tokens *t);

/* Tokens refused so far. */
int tx_tokens_refused(const tx_tokens *t);

/* Writes a raw token as 64 hex characters plus NUL into out (at least 65 bytes). */
void tx_token_hex(const unsigned char raw[TX_TOKEN_BYTES], char *out, size_t cap);

/* Wipes and frees. NULL is allowed. */
void tx_tokens_free(tx_tokens *t);

#endif
