/*
 * redact.h - masking known secret values in text and JSON before it leaves the broker.
 *
 * A tx_redactor holds a set of secret values. Each value is registered in several forms: the
 * raw bytes, lower- and upper-case hex, and base64 in the standard and URL-safe alphabets, each
 * with and without '=' padding. Any occurrence of any form in a text is replaced by
 * "[REDACTED:NAME]". Where matches overlap, the longest match starting at the leftmost position
 * wins; the replacement text is never scanned again.
 *
 * Values shorter than TX_REDACT_MIN_LEN bytes are not registered: masking every "ab" or "42" in
 * every log line would destroy the evidence and gain nothing. Redaction cannot catch a value
 * that was transformed in any other way (split, reversed, re-encoded, hashed, base64 at an
 * offset inside a longer base64 text, ...); see docs/secrets.md.
 *
 * The stored copies live in sodium_malloc'd memory (guarded and locked) and are wiped on free.
 * No globals: every redactor is independent. Not thread-safe for concurrent add; concurrent
 * tx_redact / tx_redact_json calls on a redactor nobody is adding to are fine.
 */
#ifndef TX_REDACT_H
#define TX_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define TX_REDACT_MIN_LEN 4 /* shortest value that is registered, in bytes */

typedef struct tx_redactor tx_redactor;

/* A new empty redactor, or NULL if out of memory or libsodium cannot initialise. */
tx_redactor *tx_redactor_new(void);

/*
 * Registers value (len bytes, copied) under name (copied; used in "[REDACTED:name]").
 * A value shorter than TX_REDACT_MIN_LEN bytes is deliberately ignored and still returns 0.
 * Registering the same value twice is harmless (the first name is reported). Returns 0, or -1
 * on allocation failure or a NULL argument (r is then unchanged).
 */
int tx_redactor_add(tx_redactor *r, const char *name, const unsigned char *value, size_t len);

/* Number of values registered (ignoring those skipped as too short). */
size_t tx_redactor_count(const tx_redactor *r);

/*
 * Returns a malloc'd copy of text (len bytes; text may be NULL when len is 0) with every
 * registered form replaced by "[REDACTED:NAME]", NUL-terminated, and its length in *out_len
 * (out_len may be NULL). Text without secrets comes back unchanged. Returns NULL only if out of
 * memory. Time is linear in len times the number of forms sharing a first byte.
 */
char *tx_redact(const tx_redactor *r, const char *text, size_t len, size_t *out_len);

/*
 * Redacts, in place, every string inside value: string values at any depth and object keys.
 * If a redacted key collides with a key already in the same object, "~2", "~3", ... is appended
 * so no member is lost. Returns 0, or -1 on allocation failure or nesting deeper than 2048
 * levels (jansson's own parser limit; it also stops cycles); after -1 the value may be partly
 * redacted and must not be emitted.
 */
int tx_redact_json(const tx_redactor *r, json_t *value);

/* Wipes the stored values and frees the redactor. NULL is allowed. */
void tx_redactor_free(tx_redactor *r);

#endif
