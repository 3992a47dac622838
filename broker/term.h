/*
 * term.h - text made safe for a person's terminal (docs/security.md, "Exhaustion, the terminal
 * and a compromised runner").
 *
 * Whatever a procedure controls (log messages, error messages, tool names, run ids, a human
 * prompt) may hold escape sequences that move the cursor, erase lines or retitle the window,
 * and newlines that start a line of its own: printed raw, a procedure could print a fake
 * "tactus: ok" and hide the real outcome. Every such text goes through tx_term_escape before it
 * reaches the terminal; the evidence files keep the exact text (JSON-escaped).
 */
#ifndef TX_TERM_H
#define TX_TERM_H

#include <stdio.h>

/* Keep '\n' as a line break (for multi-line text we formatted ourselves, such as indented
 * JSON); everything else below is still escaped. */
#define TX_TERM_KEEP_NEWLINES 1

/*
 * Returns a malloc'd copy of text[0..len) in which every byte or character a terminal would
 * act on is spelled out: newline, carriage return and tab as \n \r \t, other C0 controls
 * (ESC included) and DEL as \xNN, C1 controls (U+0080..U+009F), the line and paragraph
 * separators and the bidirectional overrides and isolates (U+2028, U+2029, U+202A..U+202E,
 * U+2066..U+2069) as \u{XXXX}, and each byte of invalid UTF-8 as \xNN. Printable text,
 * backslashes included, is unchanged. NULL only when out of memory.
 */
char *tx_term_escape(const char *text, size_t len, int flags);

/* fputs of tx_term_escape(text, strlen(text), flags); NULL prints "(null)". On a failed
 * allocation prints a placeholder rather than the raw text. */
void tx_term_put(FILE *fp, const char *text, int flags);

/* Prints one line for people: the printf-formatted text, escaped as a whole (so no argument can
 * end the line or start another), then '\n'. */
void tx_term_line(FILE *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
