/* term.c - text made safe for a person's terminal (term.h). */
#include "term.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) and its code point in *cp, or 0 when the
 * bytes there are not one (truncated, overlong, a surrogate, past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Code points a terminal acts on or that reorder what is shown. */
static int dangerous(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *tx_term_escape(const char *text, size_t len, int flags)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    /* At most 4 output bytes per input byte: \xNN for one, \u{XXXX} (8) for a 2- or 3-byte
     * sequence. */
    if (len > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = malloc(len * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == '\n' && (flags & TX_TERM_KEEP_NEWLINES)) {
            out[o++] = '\n';
            i++;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            i++;
        } else if (c < 0x80) {
            out[o++] = (char)c;
            i++;
        } else {
            uint32_t cp;
            size_t n = utf8_seq(s + i, len - i, &cp);
            if (n == 0) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
                i++;
            } else if (dangerous(cp)) {
                char buf[16];
                int w = snprintf(buf, sizeof buf, "\\u{%04x}", (unsigned)cp);
                memcpy(out + o, buf, (size_t)w);
                o += (size_t)w;
                i += n;
            } else {
                memcpy(out + o, s + i, n);
                o += n;
                i += n;
            }
        }
    }
    out[o] = '\0';
    return out;
}

void tx_term_put(FILE *fp, const char *text, int flags)
{
    if (text == NULL)
        text = "(null)";
    char *safe = tx_term_escape(text, strlen(text), flags);
    fputs(safe != NULL ? safe : "(text withheld: out of memory)", fp);
    free(safe);
}

void tx_term_line(FILE *fp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[1024];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("(unprintable message)\n", fp);
        return;
    }
    char *text = small;
    if ((size_t)n >= sizeof small) {
        text = malloc((size_t)n + 1);
        if (text == NULL) {
            fputs("(message withheld: out of memory)\n", fp);
            return;
        }
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    char *safe = tx_term_escape(text, (size_t)n, 0);
    if (text != small)
        free(text);
    fputs(safe != NULL ? safe : "(message withheld: out of memory)", fp);
    fputc('\n', fp);
    free(safe);
}
