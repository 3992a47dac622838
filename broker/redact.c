/* redact.c - replacing known secret values (and their hex/base64 forms) with [REDACTED:NAME]. */
#include "redact.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 2048 /* same as jansson's parser limit; also stops cycles */
#define FORMS_MAX 7         /* raw, hex lower/upper, base64 x {standard, url} x {pad, no pad} */

/* One registered value: its name and one sodium_malloc'd arena holding all its forms. */
typedef struct secret_value {
    char *name;
    size_t name_len;
    unsigned char *arena;
    size_t arena_len;
} secret_value;

/* One form of one value; bytes point into the value's arena. */
typedef struct pattern {
    const unsigned char *bytes;
    size_t len;
    size_t value; /* index into values */
    size_t seq;   /* registration order, to keep sorting deterministic */
} pattern;

struct tx_redactor {
    secret_value *values;
    size_t nvalues, values_cap;
    pattern *pats; /* sorted by first byte, then longest first */
    size_t npats, pats_cap;
    size_t first[257]; /* pats[first[b] .. first[b+1]) start with byte b */
};

tx_redactor *tx_redactor_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    return calloc(1, sizeof(tx_redactor));
}

size_t tx_redactor_count(const tx_redactor *r)
{
    return r == NULL ? 0 : r->nvalues;
}

static int cmp_pattern(const void *a, const void *b)
{
    const pattern *x = a, *y = b;

    if (x->bytes[0] != y->bytes[0])
        return x->bytes[0] < y->bytes[0] ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Re-sorts the patterns and rebuilds the first-byte index. */
static void reindex(tx_redactor *r)
{
    size_t i = 0;

    qsort(r->pats, r->npats, sizeof *r->pats, cmp_pattern);
    for (int b = 0; b < 256; b++) {
        r->first[b] = i;
        while (i < r->npats && r->pats[i].bytes[0] == b)
            i++;
    }
    r->first[256] = r->npats;
}

/* True if some registered pattern already has exactly these bytes. */
static int known_pattern(const tx_redactor *r, const unsigned char *bytes, size_t len)
{
    for (size_t i = r->first[bytes[0]]; i < r->first[bytes[0] + 1]; i++)
        if (r->pats[i].len == len && memcmp(r->pats[i].bytes, bytes, len) == 0)
            return 1;
    return 0;
}

/* Grows *arr (of *cap elements of size sz) to hold at least need. Returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    size_t ncap = *cap ? *cap : 8;
    void *p;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return -1;
        ncap *= 2;
    }
    p = realloc(*arr, ncap * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tx_redactor_add(tx_redactor *r, const char *name, const unsigned char *val, size_t len)
{
    static const int b64_variants[4] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t offs[FORMS_MAX], lens[FORMS_MAX], nforms = 0, total, hexlen, b64cap;
    unsigned char *arena;
    char *name_copy;

    if (r == NULL || name == NULL || val == NULL)
        return -1;
    if (len < TX_REDACT_MIN_LEN)
        return 0;                   /* deliberately not registered, see redact.h */
    if (len > (SIZE_MAX - 64) / 16) /* keeps every size computed below from overflowing */
        return -1;
    hexlen = 2 * len;
    b64cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    /* raw + 2 hex (+NUL each) + 4 base64 (each with its NUL) */
    total = len + 2 * (hexlen + 1) + 4 * b64cap;
    arena = sodium_malloc(total);
    if (arena == NULL)
        return -1;

    unsigned char *p = arena;
    memcpy(p, val, len);
    offs[nforms] = 0, lens[nforms++] = len;
    p += len;
    sodium_bin2hex((char *)p, hexlen + 1, val, len);
    offs[nforms] = (size_t)(p - arena), lens[nforms++] = hexlen;
    memcpy(p + hexlen + 1, p, hexlen + 1);
    p += hexlen + 1;
    for (size_t i = 0; i < hexlen; i++)
        if (p[i] >= 'a' && p[i] <= 'f')
            p[i] = (unsigned char)(p[i] - 'a' + 'A');
    offs[nforms] = (size_t)(p - arena), lens[nforms++] = hexlen;
    p += hexlen + 1;
    for (int v = 0; v < 4; v++) {
        sodium_bin2base64((char *)p, b64cap, val, len, b64_variants[v]);
        offs[nforms] = (size_t)(p - arena), lens[nforms++] = strlen((char *)p);
        p += b64cap;
    }

    /* The forms are only read from now on; a stray write through a bad pointer will fault. */
    if (sodium_mprotect_readonly(arena) != 0) {
        sodium_free(arena);
        return -1;
    }
    name_copy = strdup(name);
    if (name_copy == NULL ||
        grow((void **)&r->values, &r->values_cap, r->nvalues + 1, sizeof *r->values) != 0 ||
        grow((void **)&r->pats, &r->pats_cap, r->npats + nforms, sizeof *r->pats) != 0) {
        free(name_copy);
        sodium_free(arena);
        return -1;
    }

    /* Commit: nothing below can fail. */
    size_t vi = r->nvalues, added = 0;
    for (size_t f = 0; f < nforms; f++) {
        const unsigned char *bytes = arena + offs[f];
        /* The same bytes twice (a value equal to another's, padding-free base64, hex without
         * letters) would only cost time; the first registration's name wins. */
        if (known_pattern(r, bytes, lens[f]))
            continue;
        int dup = 0;
        for (size_t g = 0; g < added; g++) {
            const pattern *q = &r->pats[r->npats + g];
            if (q->len == lens[f] && memcmp(q->bytes, bytes, lens[f]) == 0)
                dup = 1;
        }
        if (dup)
            continue;
        r->pats[r->npats + added] =
            (pattern){.bytes = bytes, .len = lens[f], .value = vi, .seq = r->npats + added};
        added++;
    }
    r->values[vi] = (secret_value){
        .name = name_copy, .name_len = strlen(name_copy), .arena = arena, .arena_len = total};
    r->nvalues++;
    r->npats += added;
    reindex(r);
    return 0;
}

/* A growable output buffer. */
typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

/* Appends n bytes; returns 0 or -1 if out of memory (the buffer is then left as it was). */
static int out_put(outbuf *o, const void *src, size_t n)
{
    if (n > SIZE_MAX - 1 - o->len)
        return -1;
    if (o->len + n + 1 > o->cap) {
        size_t ncap = o->cap ? o->cap : 64;
        while (ncap < o->len + n + 1)
            ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        char *p = realloc(o->data, ncap);
        if (p == NULL)
            return -1;
        o->data = p;
        o->cap = ncap;
    }
    if (n > 0)
        memcpy(o->data + o->len, src, n);
    o->len += n;
    return 0;
}

/*
 * The longest pattern starting at text[pos], or NULL. Patterns sharing the first byte are
 * tried longest first; the last byte is compared before memcmp to reject most misses cheaply.
 */
static const pattern *match_at(const tx_redactor *r, const unsigned char *text, size_t len,
                               size_t pos)
{
    unsigned char b = text[pos];
    size_t left = len - pos;

    for (size_t i = r->first[b]; i < r->first[b + 1]; i++) {
        const pattern *p = &r->pats[i];
        if (p->len <= left && text[pos + p->len - 1] == p->bytes[p->len - 1] &&
            memcmp(text + pos, p->bytes, p->len) == 0)
            return p;
    }
    return NULL;
}

char *tx_redact(const tx_redactor *r, const char *text, size_t len, size_t *out_len)
{
    const unsigned char *t = (const unsigned char *)text;
    outbuf o = {0};
    size_t pos = 0, run = 0;

    if (text == NULL)
        len = 0;
    if (len == SIZE_MAX)
        return NULL;
    /* Reserve the common case (nothing to redact) up front. */
    o.data = malloc(len + 1);
    if (o.data == NULL)
        return NULL;
    o.cap = len + 1;
    while (r != NULL && r->npats > 0 && pos < len) {
        const pattern *m = match_at(r, t, len, pos);
        if (m == NULL) {
            pos++;
            continue;
        }
        const secret_value *v = &r->values[m->value];
        if (out_put(&o, t + run, pos - run) != 0 || out_put(&o, "[REDACTED:", 10) != 0 ||
            out_put(&o, v->name, v->name_len) != 0 || out_put(&o, "]", 1) != 0) {
            free(o.data);
            return NULL;
        }
        pos += m->len;
        run = pos;
    }
    if (out_put(&o, t + run, len - run) != 0) {
        free(o.data);
        return NULL;
    }
    o.data[o.len] = '\0';
    if (out_len != NULL)
        *out_len = o.len;
    return o.data;
}

/*
 * Redacts s (n bytes) into a new malloc'd NUL-terminated string; *changed says whether anything
 * was replaced. NULL if out of memory.
 */
static char *redact_str(const tx_redactor *r, const char *s, size_t n, size_t *out_n, int *changed)
{
    char *out = tx_redact(r, s, n, out_n);

    if (out != NULL)
        *changed = *out_n != n || memcmp(out, s, n) != 0;
    return out;
}

static int redact_json_at(const tx_redactor *r, json_t *v, int depth);

/* Redacts an object's values, then renames the keys that hold secrets. */
static int redact_object(const tx_redactor *r, json_t *obj, int depth)
{
    const char *key;
    json_t *member;
    char **old = NULL;
    size_t nold = 0, cap = 0;
    int rc = -1;

    json_object_foreach(obj, key, member)
    {
        size_t outn;
        int changed;
        if (redact_json_at(r, member, depth + 1) != 0)
            goto out;
        char *red = redact_str(r, key, strlen(key), &outn, &changed);
        if (red == NULL)
            goto out;
        free(red);
        if (!changed)
            continue;
        /* Keys cannot change while iterating; remember them and rename afterwards. */
        if (grow((void **)&old, &cap, nold + 1, sizeof *old) != 0 ||
            (old[nold] = strdup(key)) == NULL)
            goto out;
        nold++;
    }
    for (size_t i = 0; i < nold; i++) {
        size_t outn;
        int changed;
        json_t *val = json_incref(json_object_get(obj, old[i]));
        char *red = redact_str(r, old[i], strlen(old[i]), &outn, &changed);
        if (red == NULL || json_object_del(obj, old[i]) != 0) {
            free(red);
            json_decref(val);
            goto out;
        }
        /* Another member may already have this name: add "~2", "~3", ... rather than lose
         * one. If red is not UTF-8 (a non-UTF-8 secret cut a character), jansson refuses it
         * and every suffix; then the key is masked whole as "[REDACTED]" (plus a suffix). */
        int placed = json_object_get(obj, red) == NULL && json_object_set(obj, red, val) == 0;
        size_t blen = outn + 32;
        char *cand = placed ? NULL : malloc(blen);
        if (cand != NULL) {
            for (size_t k = 2; k < json_object_size(obj) + 3 && !placed; k++) {
                snprintf(cand, blen, "%s~%zu", red, k);
                placed = json_object_get(obj, cand) == NULL && json_object_set(obj, cand, val) == 0;
            }
            for (size_t k = 1; k < json_object_size(obj) + 3 && !placed; k++) {
                if (k == 1)
                    snprintf(cand, blen, "[REDACTED]");
                else
                    snprintf(cand, blen, "[REDACTED]~%zu", k);
                placed = json_object_get(obj, cand) == NULL && json_object_set(obj, cand, val) == 0;
            }
        }
        free(cand);
        free(red);
        json_decref(val);
        if (!placed)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nold; i++)
        free(old[i]);
    free(old);
    return rc;
}

static int redact_json_at(const tx_redactor *r, json_t *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t outn;
        int changed;
        char *red = redact_str(r, json_string_value(v), json_string_length(v), &outn, &changed);
        if (red == NULL)
            return -1;
        int rc = 0;
        /* json_string_setn rejects invalid UTF-8 (possible only if a secret is not UTF-8 and
         * cut a character); over-redact rather than emit a broken or unredacted string. */
        if (changed && json_string_setn(v, red, outn) != 0)
            rc = json_string_set(v, "[REDACTED]");
        free(red);
        return rc;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            if (redact_json_at(r, json_array_get(v, i), depth + 1) != 0)
                return -1;
        return 0;
    case JSON_OBJECT:
        return redact_object(r, v, depth);
    default:
        return 0;
    }
}

int tx_redact_json(const tx_redactor *r, json_t *value)
{
    if (value == NULL)
        return -1;
    if (r == NULL || r->npats == 0)
        return 0;
    return redact_json_at(r, value, 0);
}

void tx_redactor_free(tx_redactor *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nvalues; i++) {
        sodium_mprotect_readwrite(r->values[i].arena);
        sodium_memzero(r->values[i].arena, r->values[i].arena_len);
        sodium_free(r->values[i].arena);
        free(r->values[i].name);
    }
    free(r->values);
    free(r->pats);
    free(r);
}
