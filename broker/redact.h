/*
 * redact.h - masking known secret values in text and JSON before it leaves the broker.
 *
 * A tx_redactor holds a set of secret values. Each value is registered in several forms: the
 * raw bytes, lower- and upper-case hex, and base64 in the standard and URL-safe alphabets, each
 * with and without '=' padding. Any occurrence of any form in a text is replaced by
 * "[REDACTED:NAME]". Where matches overlap, the longest match starting at the leftmost position
 * wins; the replacement text is never scanned again. Text is also matched with JSON string
 * escapes decoded (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs), so a form written
 * inside a JSON text, in any mix of escaped and plain bytes, is caught too; in parsed JSON
 * values, strings, object keys and numbers (by their usual decimal spellings) are redacted.
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
 * The most text bytes one match can cover (a form with every byte written as "\u00XX"), 0 when
 * nothing is registered. A window cut out of a longer text can hold a secret cut in two only
 * within its first (and last) max_span - 1 bytes.
 */
size_t tx_redactor_max_span(const tx_redactor *r);

/*
 * Like tx_redact, for a window whose first `skip` bytes are context only: they are scanned, so
 * a match that starts there and runs past them still becomes its marker, but nothing else of
 * them is returned. A caller keeping the tail of a longer output keeps max_span - 1 bytes more
 * than it needs and skips them, so a secret cut at the window's start never leaves its
 * remainder behind (the returned text may then be cut anywhere: it holds no secret). *hits
 * (may be NULL) is the number of matches. NULL only if out of memory.
 */
char *tx_redact_tail(const tx_redactor *r, const char *text, size_t len, size_t skip,
                     size_t *out_len, size_t *hits);

/* Number of matches in text (as tx_redact would replace), or SIZE_MAX if out of memory. */
size_t tx_redact_count(const tx_redactor *r, const char *text, size_t len);

/*
 * Redaction of a text that arrives in chunks (a tool's or a model's streamed output): each feed
 * returns the redacted text that is now final, holding back the last max_span - 1 bytes, where
 * a secret split across chunks could still start; tx_redact_stream_end returns the rest. The
 * concatenated outputs equal tx_redact of the concatenated input. Outputs are malloc'd and
 * NUL-terminated (length in *out_len, may be NULL); NULL means out of memory (the stream must
 * then be freed). The redactor is borrowed and must outlive the stream.
 */
typedef struct tx_redact_stream tx_redact_stream;
tx_redact_stream *tx_redact_stream_new(const tx_redactor *r);
char *tx_redact_stream_feed(tx_redact_stream *st, const char *chunk, size_t len, size_t *out_len);
char *tx_redact_stream_end(tx_redact_stream *st, size_t *out_len);
/* Wipes the held-back text and frees the stream. NULL is allowed. */
void tx_redact_stream_free(tx_redact_stream *st);

/*
 * Redacts, in place, every string inside value: string values at any depth and object keys;
 * a number holding a secret becomes a string with the marker. value itself must be an array,
 * object or string: a bare number that needs redacting cannot change in place, so that is -1
 * (use tx_redact_json_ref).
 * If a redacted key collides with a key already in the same object, "~2", "~3", ... is appended
 * so no member is lost. Returns 0, or -1 on allocation failure or nesting deeper than 2048
 * levels (jansson's own parser limit; it also stops cycles); after -1 the value may be partly
 * redacted and must not be emitted.
 */
int tx_redact_json(const tx_redactor *r, json_t *value);

/* tx_redact_json for any value: *value may be replaced (a bare number becomes a string; the old
 * reference is dropped). *hits (may be NULL) counts the replacements. */
int tx_redact_json_ref(const tx_redactor *r, json_t **value, size_t *hits);

/* Wipes the stored values and frees the redactor. NULL is allowed. */
void tx_redactor_free(tx_redactor *r);

#endif
