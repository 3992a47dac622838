/*
 * config.c - reads the trusted configuration of a run (sidecar `proc.tac.yml`,
 * `.tactus/config.yml`, `--policy` files; schema in docs/sidecar.md) and merges it onto a
 * tx_config.
 *
 * Three steps, so that a bad file never changes the caller's config:
 *  1. build_tree: libyaml's event parser feeds a small tree of nodes. It refuses what the schema
 *     never needs and what makes YAML surprising or costly: aliases, anchors, tags, a second
 *     document, nesting deeper than CONFIG_MAX_DEPTH, non-scalar keys, NUL characters.
 *  2. parse_top and friends: check the tree against the schema into a cfg_delta (a scratch
 *     tx_config plus "which scalars were given" bits). Every error names file, line and key path.
 *  3. merge: reserve room in the caller's arrays (the only step that can fail), then move the
 *     delta's values over.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#define CONFIG_MAX_BYTES (1024u * 1024u) /* larger configuration text is refused */
#define CONFIG_MAX_DEPTH 16              /* nested lists and mappings */
#define CONFIG_MAX_ITEMS 4096            /* entries in one list or mapping */
#define CONFIG_MAX_NODES 65536           /* values in one document: bounds memory */
#define CONFIG_MAX_PATH 4096             /* bytes in a path value (cwd, mount source/target) */
#define CONFIG_MAX_SECONDS 31536000ULL   /* one year: longest timeout a file may ask for */
#define TOOL_NAME_MAX 128
#define SECRET_NAME_MAX 128
#define DEFAULT_TOOL_TIMEOUT_MS 30000
#define DEFAULT_TOOL_MAX_OUTPUT (1024u * 1024u)

/* ---------------------------------------------------------------------------------------- */
/* The node tree                                                                             */

typedef enum node_kind { NODE_SCALAR, NODE_LIST, NODE_MAP } node_kind;

typedef struct node {
    node_kind kind;
    size_t line;         /* 1-based line where the node starts */
    char *text;          /* NODE_SCALAR: the value, NUL-terminated, no NUL inside */
    int plain;           /* NODE_SCALAR: unquoted, so "", ~ and null mean "no value" */
    struct node **items; /* NODE_LIST: the items; NODE_MAP: key, value, key, value, ... */
    size_t nitems;
    size_t cap;
} node;

/* State of one load: where messages go and the key path of the value being checked. */
typedef struct ctx {
    const char *name; /* file name used in messages */
    tx_error *err;
    char path[384]; /* "sandbox.limits.memory"; cut (never overflowed) if a key is huge */
    size_t pathlen;
    size_t nnodes; /* nodes built so far, against CONFIG_MAX_NODES */
} ctx;

/* Frees n and everything below it. NULL is allowed. Recursion is bounded by CONFIG_MAX_DEPTH. */
static void node_free(node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nitems; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n->text);
    free(n);
}

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */

/*
 * Sets c->err to status TACTUS_EUSAGE and the message "NAME:LINE: PATH: what". line 0 leaves
 * out the line, an empty key path leaves out the path.
 */
static void report(ctx *c, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(ctx *c, size_t line, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char where[32] = "";
    if (line > 0)
        snprintf(where, sizeof where, ":%zu", line);
    if (c->pathlen > 0)
        tx_fail(c->err, TACTUS_EUSAGE, "%s%s: %s: %s", c->name, where, c->path, what);
    else
        tx_fail(c->err, TACTUS_EUSAGE, "%s%s: %s", c->name, where, what);
}

/* report() and evaluate to -1, for `return fail_at(...)`. A macro rather than a function so the
 * -1 is visible at each call site (static analysers do not follow variadic calls). */
#define fail_at(c, line, ...) (report((c), (line), __VA_ARGS__), -1)

/* Out of memory is the system's fault, not the file's: status TACTUS_ESYSTEM. Returns -1. */
static int fail_oom(ctx *c)
{
    tx_fail(c->err, TACTUS_ESYSTEM, "%s: out of memory while reading the configuration", c->name);
    return -1;
}

/* Replaces control characters in the NUL-terminated s by '?' so messages stay one clean line. */
static void scrub(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Length of a prefix of text (of length len) at most max bytes long that does not split a UTF-8
 * sequence. */
static size_t utf8_cut(const char *text, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/*
 * A short printable description of n for "got ..." messages: 'text' for a scalar (cut to 48
 * bytes), "nothing" for an empty value, "null", "a list", "an empty list" or "a mapping". The
 * result is a string literal or buf (which should hold 64 bytes).
 */
static const char *describe(const node *n, char *buf, size_t size)
{
    if (n->kind == NODE_LIST)
        return n->nitems > 0 ? "a list" : "an empty list";
    if (n->kind == NODE_MAP)
        return "a mapping";
    if (n->plain && n->text[0] == '\0')
        return "nothing";
    if (n->plain && (strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
                     strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0))
        return "null";
    size_t len = strlen(n->text);
    size_t cut = utf8_cut(n->text, len, 48);
    snprintf(buf, size, "'%.*s%s'", (int)cut, n->text, cut < len ? "..." : "");
    scrub(buf);
    return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* Key paths                                                                                 */

/* Appends text to the key path, cutting it to fit. */
static void path_append(ctx *c, const char *text, size_t len)
{
    size_t room = sizeof c->path - 1 - c->pathlen;
    if (len > room)
        len = utf8_cut(text, len, room);
    memcpy(c->path + c->pathlen, text, len);
    c->pathlen += len;
    c->path[c->pathlen] = '\0';
}

/* Appends ".key" (just "key" at the top) to the key path; returns the old length for path_pop.
 * Keys come from the file, so they are cut to 64 bytes and scrubbed of control characters. */
static size_t path_key(ctx *c, const char *key)
{
    size_t old = c->pathlen;
    if (old > 0)
        path_append(c, ".", 1);
    size_t len = strlen(key);
    size_t cut = utf8_cut(key, len, 64);
    path_append(c, key, cut);
    if (cut < len)
        path_append(c, "...", 3);
    scrub(c->path + old);
    return old;
}

/* Appends "[i]" to the key path; returns the old length for path_pop. */
static size_t path_index(ctx *c, size_t i)
{
    size_t old = c->pathlen;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "[%zu]", i);
    if (n > 0)
        path_append(c, buf, (size_t)n);
    return old;
}

/* Restores the key path to the length path_key or path_index returned. */
static void path_pop(ctx *c, size_t old)
{
    c->pathlen = old;
    c->path[old] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Step 1: YAML events to a node tree                                                        */

typedef struct builder {
    node *root;
    node *open[CONFIG_MAX_DEPTH]; /* lists and mappings not yet closed, outermost first */
    size_t depth;
    int documents;
    int done;
} builder;

/* Adds child to parent's items. Returns 0, or -1 (child not added) if parent is full. */
static int node_append(ctx *c, node *parent, node *child)
{
    size_t max = parent->kind == NODE_MAP ? 2 * CONFIG_MAX_ITEMS : CONFIG_MAX_ITEMS;
    if (parent->nitems >= max)
        return fail_at(c, child->line, "more than %d entries in one list or mapping",
                       CONFIG_MAX_ITEMS);
    if (parent->nitems == parent->cap) {
        size_t cap = parent->cap == 0 ? 8 : 2 * parent->cap;
        node **items = realloc(parent->items, cap * sizeof *items);
        if (items == NULL)
            return fail_oom(c);
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->nitems++] = child;
    return 0;
}

/* Makes a node for a scalar, sequence-start or mapping-start event and hangs it into the tree.
 * Returns 0 or -1. */
static int add_node(ctx *c, builder *b, const yaml_event_t *ev, size_t line)
{
    const yaml_char_t *anchor, *tag;
    node_kind kind;
    if (ev->type == YAML_SCALAR_EVENT) {
        kind = NODE_SCALAR;
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        kind = NODE_LIST;
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else {
        kind = NODE_MAP;
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }
    /* Anchors and aliases let a small file expand into a huge one and make a value mean two
     * things; tags could smuggle in types the schema does not know. None is needed here. */
    if (anchor != NULL)
        return fail_at(c, line, "anchors (&%.40s) and aliases are not allowed: write the value out",
                       (const char *)anchor);
    if (tag != NULL)
        return fail_at(c, line, "YAML tags (%.40s) are not allowed", (const char *)tag);
    if (kind != NODE_SCALAR && b->depth >= CONFIG_MAX_DEPTH)
        return fail_at(c, line, "lists and mappings nested deeper than %d levels",
                       CONFIG_MAX_DEPTH);
    if (++c->nnodes > CONFIG_MAX_NODES)
        return fail_at(c, line, "more than %d values in one file", CONFIG_MAX_NODES);
    if (b->depth > 0) {
        const node *parent = b->open[b->depth - 1];
        if (parent->kind == NODE_MAP && parent->nitems % 2 == 0 && kind != NODE_SCALAR)
            return fail_at(c, line, "mapping keys must be plain strings, not lists or mappings");
    }
    if (kind == NODE_SCALAR && memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
        return fail_at(c, line, "NUL characters are not allowed in values");

    node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return fail_oom(c);
    n->kind = kind;
    n->line = line;
    if (kind == NODE_SCALAR) {
        size_t len = ev->data.scalar.length;
        n->text = malloc(len + 1);
        if (n->text == NULL) {
            free(n);
            return fail_oom(c);
        }
        memcpy(n->text, ev->data.scalar.value, len);
        n->text[len] = '\0';
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    }
    if (b->depth == 0) {
        if (b->root != NULL) { /* libyaml gives one root per document; never trust, still */
            node_free(n);
            return fail_at(c, line, "more than one value at the top of the document");
        }
        b->root = n;
    } else if (node_append(c, b->open[b->depth - 1], n) != 0) {
        node_free(n);
        return -1;
    }
    if (kind != NODE_SCALAR)
        b->open[b->depth++] = n;
    return 0;
}

/* Handles one parser event. Returns 0 or -1. */
static int on_event(ctx *c, builder *b, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        b->done = 1;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0)
            return fail_at(c, line, "only one YAML document is allowed, a second one starts here");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_at(c, line, "aliases (*%.40s) are not allowed: write the value out",
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return add_node(c, b, ev, line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0) /* libyaml pairs them; the check keeps a surprise from underflowing */
            b->depth--;
        return 0;
    default:
        return 0;
    }
}

/* Turns a libyaml parser error into a message with the file's line. Returns -1. */
static int yaml_fail(ctx *c, const yaml_parser_t *p, const unsigned char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fail_oom(c);
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark: count the lines up to it. */
        size_t line = 1;
        size_t end = p->problem_offset < len ? p->problem_offset : len;
        for (size_t i = 0; i < end; i++)
            if (text[i] == '\n')
                line++;
        return fail_at(c, line, "not valid UTF-8 text: %s (byte offset %zu)", problem,
                       p->problem_offset);
    }
    size_t line = p->problem_mark.line + 1;
    if (p->context != NULL)
        return fail_at(c, line, "YAML syntax error: %s (%s at line %zu)", problem, p->context,
                       p->context_mark.line + 1);
    return fail_at(c, line, "YAML syntax error: %s", problem);
}

/*
 * Parses len bytes of UTF-8 YAML into a tree. On success *root is the document's root (NULL
 * for an empty stream) and the caller frees it with node_free. Returns 0 or -1.
 */
static int build_tree(ctx *c, const unsigned char *text, size_t len, node **root)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return fail_oom(c);
    yaml_parser_set_input_string(&parser, text, len);
    /* Never guess UTF-16 from a byte-order mark: configuration files are UTF-8. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    builder b;
    memset(&b, 0, sizeof b);
    int rc = 0;
    while (rc == 0 && !b.done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_fail(c, &parser, text, len);
            break;
        }
        rc = on_event(c, &b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        node_free(b.root);
        return -1;
    }
    *root = b.root;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 2: the schema                                                                        */

/* Bits of cfg_delta.set: the scalars this file gave, which merge() copies over. */
enum {
    SET_DURABILITY = 1u << 0,
    SET_SANDBOX_ENABLED = 1u << 1,
    SET_NETWORK = 1u << 2,
    SET_MOUNT_CURRENT_DIR = 1u << 3,
    SET_WORKSPACE = 1u << 4,
    SET_PROFILE = 1u << 5,
    SET_STRICT = 1u << 6
};

/* What one file says. v owns its values until merge() moves them out. Limits given are in
 * v.limits_set. */
typedef struct cfg_delta {
    tx_config v;
    unsigned set;
} cfg_delta;

/* True for an unquoted empty value, ~ or null. */
static int is_null(const node *n)
{
    return n->kind == NODE_SCALAR && n->plain &&
           (n->text[0] == '\0' || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

/* Fails with "expected <what>, got <describe(n)>" at n's line. Returns -1. */
static int fail_expected(ctx *c, const node *n, const char *what)
{
    char buf[64];
    return fail_at(c, n->line, "expected %s, got %s", what, describe(n, buf, sizeof buf));
}

typedef struct key_ref {
    const node *key;
    size_t order; /* position in the mapping, so the later duplicate is the one reported */
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int d = strcmp(x->key->text, y->key->text);
    if (d != 0)
        return d;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Fails if a key appears twice in the mapping n (sorting keeps this n log n for big maps). */
static int check_duplicate_keys(ctx *c, const node *n)
{
    size_t count = n->nitems / 2;
    if (count < 2)
        return 0;
    key_ref *refs = malloc(count * sizeof *refs);
    if (refs == NULL)
        return fail_oom(c);
    for (size_t i = 0; i < count; i++) {
        refs[i].key = n->items[2 * i];
        refs[i].order = i;
    }
    qsort(refs, count, sizeof *refs, key_ref_cmp);
    int rc = 0;
    for (size_t i = 1; i < count && rc == 0; i++) {
        if (strcmp(refs[i - 1].key->text, refs[i].key->text) == 0) {
            size_t old = path_key(c, refs[i].key->text);
            rc = fail_at(c, refs[i].key->line, "duplicate key (first given at line %zu)",
                         refs[i - 1].key->line);
            path_pop(c, old);
        }
    }
    free(refs);
    return rc;
}

/* Checks that n is a mapping without duplicate keys; what describes the expected value. */
static int expect_map(ctx *c, const node *n, const char *what)
{
    if (n->kind != NODE_MAP)
        return fail_expected(c, n, what);
    return check_duplicate_keys(c, n);
}

/* Checks that n is a list; what describes the expected value. */
static int expect_list(ctx *c, const node *n, const char *what)
{
    return n->kind == NODE_LIST ? 0 : fail_expected(c, n, what);
}

/*
 * The index of key's text in the NULL-terminated list names. For any other key fails with
 * "unknown key (allowed: ...)" (the key path must already end in the key) and returns -1.
 */
static int key_index(ctx *c, const node *key, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(key->text, names[i]) == 0)
            return i;
    char allowed[256] = "";
    size_t used = 0;
    for (int i = 0; names[i] != NULL && used < sizeof allowed; i++) {
        int n =
            snprintf(allowed + used, sizeof allowed - used, "%s%s", i > 0 ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return fail_at(c, key->line, "unknown key (allowed: %s)", allowed);
}

/* Sets *out to the text of scalar n (borrowed from the tree). Fails for lists, mappings and
 * empty values; what describes the expected value. */
static int get_text(ctx *c, const node *n, const char *what, const char **out)
{
    if (n->kind != NODE_SCALAR || is_null(n))
        return fail_expected(c, n, what);
    *out = n->text;
    return 0;
}

/* Sets *out to 1 for true, 0 for false. Other YAML spellings (yes, on, True) are refused so a
 * file means the same to every reader. */
static int get_bool(ctx *c, const node *n, int *out)
{
    const char *t;
    if (get_text(c, n, "true or false", &t) != 0)
        return -1;
    if (strcmp(t, "true") == 0)
        *out = 1;
    else if (strcmp(t, "false") == 0)
        *out = 0;
    else
        return fail_expected(c, n, "true or false (only these two spellings are accepted)");
    return 0;
}

/* Sets *out to the index of n's text in the NULL-terminated list names. */
static int get_enum(ctx *c, const node *n, const char *const *names, int *out)
{
    char what[160] = "one of ";
    size_t used = strlen(what);
    for (int i = 0; names[i] != NULL && used < sizeof what; i++) {
        int k = snprintf(what + used, sizeof what - used, "%s%s", i > 0 ? ", " : "", names[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    const char *t;
    if (get_text(c, n, what, &t) != 0)
        return -1;
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(t, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail_expected(c, n, what);
}

/* Parses a whole number made only of decimal digits (no sign) into *out. Returns 0 or -1
 * (also on overflow). */
static int parse_count(const char *s, uint64_t *out)
{
    if (*s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Sets *out to a count (0 = unlimited). */
static int get_count(ctx *c, const node *n, uint64_t *out)
{
    const char *t;
    if (get_text(c, n, "a whole number (0 = unlimited)", &t) != 0)
        return -1;
    if (parse_count(t, out) != 0)
        return fail_expected(c, n, "a whole number (0 = unlimited)");
    return 0;
}

/* Sets *out to a byte size such as 256m, 64k, 1g or 1024 (see tx_parse_size). */
static int get_size(ctx *c, const node *n, uint64_t *out)
{
    const char *t;
    if (get_text(c, n, "a size like 256m", &t) != 0)
        return -1;
    if (tx_parse_size(t, out) != 0)
        return fail_expected(c, n, "a size like 256m");
    return 0;
}

/*
 * Parses seconds such as "30", "0.5" or "1.25" (digits, at most one '.', no sign or exponent;
 * digits finer than a millisecond are dropped) into milliseconds. Returns 0, -1 for bad text,
 * -2 for more than CONFIG_MAX_SECONDS.
 */
static int parse_seconds_ms(const char *s, uint64_t *ms)
{
    uint64_t whole = 0, frac = 0;
    size_t digits = 0, fdigits = 0;
    int too_big = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (whole > CONFIG_MAX_SECONDS)
            too_big = 1; /* keep scanning so junk later on is still reported as junk */
        else
            whole = whole * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, fdigits++)
            if (fdigits < 3)
                frac = frac * 10 + (uint64_t)(*s - '0');
    }
    if (*s != '\0' || digits + fdigits == 0)
        return -1;
    for (size_t i = fdigits; i < 3; i++)
        frac *= 10;
    if (too_big || whole > CONFIG_MAX_SECONDS || (whole == CONFIG_MAX_SECONDS && frac > 0))
        return -2;
    *ms = whole * 1000 + frac;
    return 0;
}

/* Sets *ms from a timeout in seconds, which must be at least 1 ms and at most one year. */
static int get_seconds(ctx *c, const node *n, uint64_t *ms)
{
    static const char what[] = "a number of seconds greater than 0, like 30 or 0.5";
    const char *t;
    if (get_text(c, n, what, &t) != 0)
        return -1;
    int rc = parse_seconds_ms(t, ms);
    if (rc == -2)
        return fail_at(c, n->line, "too long: at most %llu seconds (one year)",
                       (unsigned long long)CONFIG_MAX_SECONDS);
    if (rc != 0)
        return fail_expected(c, n, what);
    if (*ms == 0)
        return fail_at(c, n->line, "must be greater than 0 (at least 0.001 seconds)");
    return 0;
}

/* Sets *out to a malloc'd copy of a non-empty path of at most CONFIG_MAX_PATH bytes. */
static int get_path(ctx *c, const node *n, char **out)
{
    const char *t;
    if (get_text(c, n, "a path", &t) != 0)
        return -1;
    if (t[0] == '\0')
        return fail_expected(c, n, "a path");
    if (strlen(t) > CONFIG_MAX_PATH)
        return fail_at(c, n->line, "path longer than %d bytes", CONFIG_MAX_PATH);
    char *copy = strdup(t);
    if (copy == NULL)
        return fail_oom(c);
    *out = copy;
    return 0;
}

/* True if s matches [A-Za-z0-9_.-]{1,128}. */
static int valid_tool_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > TOOL_NAME_MAX)
        return 0;
    for (; *s != '\0'; s++) {
        char ch = *s;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

/* True if s matches [A-Z_][A-Z0-9_]{0,127}: an environment variable name. */
static int valid_secret_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SECRET_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static const char tool_name_rule[] = "a tool name (1 to 128 letters, digits, '_', '.' or '-')";

/* True if name is among the n strings in list. */
static int in_list(char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* `tools: [a, b]`: appends each name once to d->v.tools. */
static int parse_tools(ctx *c, const node *n, cfg_delta *d)
{
    if (expect_list(c, n, "a list of tool names like [host.ping, repo.diff]") != 0)
        return -1;
    if (n->nitems == 0)
        return 0;
    d->v.tools = calloc(n->nitems, sizeof *d->v.tools);
    if (d->v.tools == NULL)
        return fail_oom(c);
    /* count mirrors d->v.ntools; a local keeps the loop's bounds obvious */
    for (size_t i = 0, count = 0; i < n->nitems; i++) {
        const node *item = n->items[i];
        size_t old = path_index(c, i);
        const char *name;
        if (get_text(c, item, tool_name_rule, &name) != 0)
            return -1;
        if (!valid_tool_name(name))
            return fail_expected(c, item, tool_name_rule);
        path_pop(c, old);
        if (in_list(d->v.tools, count, name))
            continue;
        d->v.tools[count] = strdup(name);
        if (d->v.tools[count] == NULL)
            return fail_oom(c);
        d->v.ntools = ++count;
    }
    return 0;
}

/* `command: [git, diff]`: the tool's argv, a non-empty list of non-empty words. */
static int parse_command(ctx *c, const node *n, tx_host_tool *t)
{
    static const char what[] =
        "a list of words like [git, diff, --stat] (commands are not run through a shell)";
    if (expect_list(c, n, what) != 0)
        return -1;
    if (n->nitems == 0)
        return fail_expected(c, n, what);
    t->argv = calloc(n->nitems + 1, sizeof *t->argv);
    if (t->argv == NULL)
        return fail_oom(c);
    for (size_t i = 0; i < n->nitems; i++) {
        const node *item = n->items[i];
        size_t old = path_index(c, i);
        const char *word;
        if (get_text(c, item, "a word of the command", &word) != 0)
            return -1;
        if (word[0] == '\0')
            return fail_at(c, item->line, "command words must not be empty");
        path_pop(c, old);
        t->argv[t->argc] = strdup(word);
        if (t->argv[t->argc] == NULL)
            return fail_oom(c);
        t->argc++;
    }
    return 0;
}

/* `secrets: [GITHUB_TOKEN]`: names of secrets the tool receives, each once. */
static int parse_secrets(ctx *c, const node *n, tx_host_tool *t)
{
    static const char what[] = "a secret name like GITHUB_TOKEN (A-Z, 0-9, '_'; not starting "
                               "with a digit; at most 128)";
    if (expect_list(c, n, "a list of secret names like [GITHUB_TOKEN]") != 0)
        return -1;
    if (n->nitems == 0)
        return 0;
    t->secrets = calloc(n->nitems, sizeof *t->secrets);
    if (t->secrets == NULL)
        return fail_oom(c);
    /* count mirrors t->nsecrets; a local keeps the loop's bounds obvious */
    for (size_t i = 0, count = 0; i < n->nitems; i++) {
        const node *item = n->items[i];
        size_t old = path_index(c, i);
        const char *name;
        if (get_text(c, item, what, &name) != 0)
            return -1;
        if (!valid_secret_name(name))
            return fail_expected(c, item, what);
        /* These names are the tool's own environment; a secret must not replace them. */
        if (strcmp(name, "PATH") == 0 || strcmp(name, "LANG") == 0 || strcmp(name, "HOME") == 0 ||
            strncmp(name, "TACTUS_", 7) == 0)
            return fail_expected(c, item, "a secret name other than PATH, LANG, HOME or TACTUS_*");
        path_pop(c, old);
        if (in_list(t->secrets, count, name))
            continue;
        t->secrets[count] = strdup(name);
        if (t->secrets[count] == NULL)
            return fail_oom(c);
        t->nsecrets = ++count;
    }
    return 0;
}

/* One `host_tools` entry: {command, timeout, secrets, cwd, max_output, sandbox}. t is zeroed
 * and already owned by the delta, so whatever is filled in is freed on failure too. */
static int parse_host_tool(ctx *c, const node *key, const node *n, tx_host_tool *t)
{
    static const char *const keys[] = {"command", "cwd",     "max_output", "sandbox",
                                       "secrets", "timeout", NULL};
    t->name = strdup(key->text);
    if (t->name == NULL)
        return fail_oom(c);
    t->timeout_ms = DEFAULT_TOOL_TIMEOUT_MS;
    t->max_output = DEFAULT_TOOL_MAX_OUTPUT;
    if (expect_map(c, n, "a mapping like {command: [git, diff], timeout: 10}") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        int rc = -1;
        switch (key_index(c, k, keys)) {
        case 0:
            rc = parse_command(c, v, t);
            break;
        case 1:
            rc = get_path(c, v, &t->cwd);
            break;
        case 2:
            rc = get_size(c, v, &t->max_output);
            if (rc == 0 && t->max_output == 0)
                rc = fail_at(c, v->line, "must be greater than 0");
            break;
        case 3:
            rc = get_bool(c, v, &t->sandboxed);
            /* Refused here, before anything runs: such a tool would get the workspace
             * read-write with none of File's protections
             * (docs/host-tools.md#tools-that-run-workspace-code). */
            if (rc == 0 && t->sandboxed)
                rc = fail_at(c, v->line,
                             "'sandbox: true' is not supported by this build: a sandboxed tool "
                             "would get the workspace read-write without File's protections; "
                             "run the command under `tactus sandbox` yourself with the "
                             "workspace read-only, or drop the key");
            break;
        case 4:
            rc = parse_secrets(c, v, t);
            break;
        case 5:
            rc = get_seconds(c, v, &t->timeout_ms);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
        path_pop(c, old);
    }
    if (t->argv == NULL)
        return fail_at(c, n->line,
                       "missing key 'command' (the program to run, as a list like [git, diff])");
    if (t->sandboxed && t->nsecrets > 0)
        return fail_at(c, n->line,
                       "a tool with 'sandbox: true' cannot receive secrets (the "
                       "sandbox starts programs with an empty environment)");
    return 0;
}

/* `host_tools: {name: {...}, ...}`. */
static int parse_host_tools(ctx *c, const node *n, cfg_delta *d)
{
    if (expect_map(c, n, "a mapping of tool names to {command: [...], ...}") != 0)
        return -1;
    if (n->nitems == 0)
        return 0;
    d->v.host_tools = calloc(n->nitems / 2, sizeof *d->v.host_tools);
    if (d->v.host_tools == NULL)
        return fail_oom(c);
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        if (!valid_tool_name(k->text))
            return fail_expected(c, k, tool_name_rule);
        if (parse_host_tool(c, k, v, &d->v.host_tools[d->v.nhost_tools++]) != 0)
            return -1;
        path_pop(c, old);
    }
    return 0;
}

/* `checkpoint: {durability: fsync|batch|none}`. */
static int parse_checkpoint(ctx *c, const node *n, cfg_delta *d)
{
    static const char *const keys[] = {"durability", NULL};
    static const char *const durability[] = {"fsync", "batch", "none", NULL};
    if (expect_map(c, n, "a mapping like {durability: fsync}") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        int value;
        if (key_index(c, k, keys) != 0 || get_enum(c, v, durability, &value) != 0)
            return -1;
        /* the names are listed in the order of the enum */
        d->v.durability = (tx_durability)value;
        d->set |= SET_DURABILITY;
        path_pop(c, old);
    }
    return 0;
}

/* True if path has a ".." component. */
static int has_dotdot(const char *path)
{
    for (const char *p = path; *p != '\0';) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* One `sandbox.mounts` entry: {source, target, mode}. m is zeroed and owned by the delta. */
static int parse_mount(ctx *c, const node *n, tx_mount *m)
{
    static const char *const keys[] = {"source", "target", "mode", NULL};
    static const char *const modes[] = {"ro", "rw", NULL};
    m->read_only = 1;
    if (expect_map(c, n, "a mapping like {source: ./data, target: /data, mode: ro}") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        int rc = -1, mode;
        switch (key_index(c, k, keys)) {
        case 0:
            rc = get_path(c, v, &m->source);
            break;
        case 1:
            rc = get_path(c, v, &m->target);
            if (rc == 0 && m->target[0] != '/')
                rc = fail_expected(c, v, "an absolute path inside the sandbox, like /data");
            else if (rc == 0 && has_dotdot(m->target))
                rc = fail_at(c, v->line, "must not contain '..' components");
            else if (rc == 0 && m->target[strspn(m->target, "/")] == '\0')
                rc = fail_at(c, v->line, "cannot mount over the sandbox's root directory");
            break;
        case 2:
            rc = get_enum(c, v, modes, &mode);
            if (rc == 0)
                m->read_only = mode == 0;
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
        path_pop(c, old);
    }
    if (m->source == NULL)
        return fail_at(c, n->line, "missing key 'source' (the host directory to mount)");
    if (m->target == NULL)
        return fail_at(c, n->line, "missing key 'target' (where it appears in the sandbox)");
    return 0;
}

/* `sandbox.mounts: [{...}, ...]`. */
static int parse_mounts(ctx *c, const node *n, cfg_delta *d)
{
    if (expect_list(c, n, "a list of mounts like [{source: ./data, target: /data}]") != 0)
        return -1;
    if (n->nitems == 0)
        return 0;
    d->v.mounts = calloc(n->nitems, sizeof *d->v.mounts);
    if (d->v.mounts == NULL)
        return fail_oom(c);
    for (size_t i = 0; i < n->nitems; i++) {
        size_t old = path_index(c, i);
        if (parse_mount(c, n->items[i], &d->v.mounts[d->v.nmounts++]) != 0)
            return -1;
        path_pop(c, old);
    }
    return 0;
}

/* `sandbox.limits: {memory: 256m, pids: 32, ...}`: every named limit except timeout. */
static int parse_limits(ctx *c, const node *n, cfg_delta *d)
{
    const char *names[TX_LIMIT__COUNT + 1];
    size_t count = 0;
    for (int id = 0; id < TX_LIMIT__COUNT; id++)
        if (id != TX_LIMIT_TIMEOUT)
            names[count++] = tx_limit_name((tx_limit_id)id);
    names[count] = NULL;
    if (expect_map(c, n, "a mapping like {memory: 256m, pids: 32}") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        if (strcmp(k->text, "timeout") == 0)
            return fail_at(c, k->line,
                           "not allowed here: the wall-clock timeout is "
                           "sandbox.timeout (in seconds), not a sandbox.limits entry");
        if (key_index(c, k, names) < 0)
            return -1;
        tx_limit_id id = (tx_limit_id)tx_limit_by_name(k->text);
        uint64_t value;
        int rc = tx_limit_is_size(id) ? get_size(c, v, &value) : get_count(c, v, &value);
        if (rc != 0)
            return -1;
        d->v.limits.allowed[id] = value;
        d->v.limits_set |= 1u << id;
        path_pop(c, old);
    }
    return 0;
}

/* `sandbox: {...}`. */
static int parse_sandbox(ctx *c, const node *n, cfg_delta *d)
{
    static const char *const keys[] = {"enabled",           "timeout",   "network",
                                       "mount_current_dir", "workspace", "mounts",
                                       "profile",           "limits",    NULL};
    static const char *const workspace[] = {"rw", "ro", NULL};
    /* in the order of tx_profile, after TX_PROFILE_NONE */
    static const char *const profiles[] = {"offline", "repo-read", "repo-write", NULL};
    if (expect_map(c, n, "a mapping of sandbox settings (enabled:, timeout:, limits:, ...)") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        int rc = -1, value;
        const char *text;
        switch (key_index(c, k, keys)) {
        case 0:
            rc = get_bool(c, v, &d->v.sandbox_enabled);
            d->set |= SET_SANDBOX_ENABLED;
            break;
        case 1:
            rc = get_seconds(c, v, &d->v.limits.allowed[TX_LIMIT_TIMEOUT]);
            d->v.limits_set |= 1u << TX_LIMIT_TIMEOUT;
            break;
        case 2:
            rc = get_text(c, v, "none", &text);
            if (rc == 0 && strcmp(text, "none") != 0) {
                char buf[64];
                rc = fail_at(c, v->line,
                             "networking is not supported: the only accepted value is none, "
                             "got %s",
                             describe(v, buf, sizeof buf));
            }
            if (rc == 0 && d->v.network == NULL && (d->v.network = strdup("none")) == NULL)
                rc = fail_oom(c);
            d->set |= SET_NETWORK;
            break;
        case 3:
            rc = get_bool(c, v, &d->v.mount_current_dir);
            d->set |= SET_MOUNT_CURRENT_DIR;
            break;
        case 4:
            rc = get_enum(c, v, workspace, &value);
            if (rc == 0)
                d->v.workspace_read_only = value == 1;
            d->set |= SET_WORKSPACE;
            break;
        case 5:
            rc = parse_mounts(c, v, d);
            break;
        case 6:
            rc = get_enum(c, v, profiles, &value);
            if (rc == 0)
                d->v.profile = (tx_profile)(TX_PROFILE_OFFLINE + value);
            d->set |= SET_PROFILE;
            break;
        case 7:
            rc = parse_limits(c, v, d);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
        path_pop(c, old);
    }
    return 0;
}

/* `files: {read_credentials: [.npmrc, sub/.netrc]}`: credential files File may read, each a
 * relative path inside the workspace without "..". */
static int parse_files(ctx *c, const node *n, cfg_delta *d)
{
    static const char *const keys[] = {"read_credentials", NULL};
    static const char what[] = "a relative path inside the workspace, like .npmrc";
    if (expect_map(c, n, "a mapping like {read_credentials: [.npmrc]}") != 0)
        return -1;
    for (size_t i = 0; i + 1 < n->nitems; i += 2) {
        const node *k = n->items[i], *v = n->items[i + 1];
        size_t old = path_key(c, k->text);
        if (key_index(c, k, keys) < 0)
            return -1;
        if (expect_list(c, v, "a list of paths like [.npmrc]") != 0)
            return -1;
        d->v.read_credentials = calloc(v->nitems + 1, sizeof *d->v.read_credentials);
        if (d->v.read_credentials == NULL)
            return fail_oom(c);
        for (size_t j = 0; j < v->nitems; j++) {
            size_t old_item = path_index(c, j);
            char *p = NULL;
            if (get_path(c, v->items[j], &p) != 0)
                return -1;
            d->v.read_credentials[d->v.nread_credentials++] = p;
            if (p[0] == '/' || has_dotdot(p))
                return fail_expected(c, v->items[j], what);
            path_pop(c, old_item);
        }
        path_pop(c, old);
    }
    return 0;
}

/* The whole document. An empty one (no document, or an empty value) says nothing. */
static int parse_top(ctx *c, const node *root, cfg_delta *d)
{
    static const char *const keys[] = {
        "tools", "host_tools", "checkpoint", "sandbox", "strict_determinism", "files", NULL};
    if (root == NULL || is_null(root))
        return 0;
    if (expect_map(c, root, "a mapping of settings (tools:, host_tools:, sandbox:, ...)") != 0)
        return -1;
    for (size_t i = 0; i + 1 < root->nitems; i += 2) {
        const node *k = root->items[i], *v = root->items[i + 1];
        size_t old = path_key(c, k->text);
        int rc = -1;
        switch (key_index(c, k, keys)) {
        case 0:
            rc = parse_tools(c, v, d);
            break;
        case 1:
            rc = parse_host_tools(c, v, d);
            break;
        case 2:
            rc = parse_checkpoint(c, v, d);
            break;
        case 3:
            rc = parse_sandbox(c, v, d);
            break;
        case 4:
            rc = get_bool(c, v, &d->v.strict_determinism);
            d->set |= SET_STRICT;
            break;
        case 5:
            rc = parse_files(c, v, d);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
        path_pop(c, old);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 3: merging                                                                           */

/* Frees what one host tool owns (not t itself). */
static void host_tool_free(tx_host_tool *t)
{
    free(t->name);
    for (size_t i = 0; i < t->argc; i++)
        free(t->argv[i]);
    free(t->argv);
    for (size_t i = 0; i < t->nsecrets; i++)
        free(t->secrets[i]);
    free(t->secrets);
    free(t->cwd);
    memset(t, 0, sizeof *t);
}

/* realloc for an array of n elements of size bytes; NULL (p untouched) on failure. */
static void *grow_array(void *p, size_t n, size_t size)
{
    if (n > SIZE_MAX / size)
        return NULL;
    return realloc(p, n * size);
}

/*
 * Moves d's values onto cfg by the rules in config.h. Room is reserved first; that is the only
 * step that can fail, and it leaves cfg holding the same values (in a larger array). Everything
 * moved out of d is cleared in d, so tx_config_free(&d->v) stays correct either way.
 */
static int merge(ctx *c, tx_config *cfg, cfg_delta *d)
{
    if (d->v.ntools > 0) {
        char **tools = grow_array(cfg->tools, cfg->ntools + d->v.ntools, sizeof *tools);
        if (tools == NULL)
            return fail_oom(c);
        cfg->tools = tools;
    }
    if (d->v.nhost_tools > 0) {
        tx_host_tool *host_tools =
            grow_array(cfg->host_tools, cfg->nhost_tools + d->v.nhost_tools, sizeof *host_tools);
        if (host_tools == NULL)
            return fail_oom(c);
        cfg->host_tools = host_tools;
    }
    if (d->v.nmounts > 0) {
        tx_mount *mounts = grow_array(cfg->mounts, cfg->nmounts + d->v.nmounts, sizeof *mounts);
        if (mounts == NULL)
            return fail_oom(c);
        cfg->mounts = mounts;
    }
    if (d->v.nread_credentials > 0) {
        char **creds = grow_array(cfg->read_credentials,
                                  cfg->nread_credentials + d->v.nread_credentials, sizeof *creds);
        if (creds == NULL)
            return fail_oom(c);
        cfg->read_credentials = creds;
    }

    for (size_t i = 0; i < d->v.ntools; i++) {
        if (tx_config_allows_tool(cfg, d->v.tools[i]))
            free(d->v.tools[i]);
        else
            cfg->tools[cfg->ntools++] = d->v.tools[i];
        d->v.tools[i] = NULL;
    }
    d->v.ntools = 0;

    for (size_t i = 0; i < d->v.nhost_tools; i++) {
        tx_host_tool *slot = NULL;
        for (size_t j = 0; j < cfg->nhost_tools && slot == NULL; j++)
            if (strcmp(cfg->host_tools[j].name, d->v.host_tools[i].name) == 0)
                slot = &cfg->host_tools[j];
        if (slot != NULL)
            host_tool_free(slot);
        else
            slot = &cfg->host_tools[cfg->nhost_tools++];
        *slot = d->v.host_tools[i];
        memset(&d->v.host_tools[i], 0, sizeof d->v.host_tools[i]);
    }
    d->v.nhost_tools = 0;

    for (size_t i = 0; i < d->v.nmounts; i++)
        cfg->mounts[cfg->nmounts++] = d->v.mounts[i];
    d->v.nmounts = 0;

    for (size_t i = 0; i < d->v.nread_credentials; i++) {
        if (in_list(cfg->read_credentials, cfg->nread_credentials, d->v.read_credentials[i]))
            free(d->v.read_credentials[i]);
        else
            cfg->read_credentials[cfg->nread_credentials++] = d->v.read_credentials[i];
        d->v.read_credentials[i] = NULL;
    }
    d->v.nread_credentials = 0;

    if (d->set & SET_DURABILITY)
        cfg->durability = d->v.durability;
    if (d->set & SET_SANDBOX_ENABLED)
        cfg->sandbox_enabled = d->v.sandbox_enabled;
    if (d->set & SET_NETWORK) {
        free(cfg->network);
        cfg->network = d->v.network;
        d->v.network = NULL;
    }
    if (d->set & SET_MOUNT_CURRENT_DIR)
        cfg->mount_current_dir = d->v.mount_current_dir;
    if (d->set & SET_WORKSPACE)
        cfg->workspace_read_only = d->v.workspace_read_only;
    if (d->set & SET_PROFILE)
        cfg->profile = d->v.profile;
    if (d->set & SET_STRICT)
        cfg->strict_determinism = d->v.strict_determinism;
    for (int id = 0; id < TX_LIMIT__COUNT; id++)
        if (d->v.limits_set & (1u << id))
            cfg->limits.allowed[id] = d->v.limits.allowed[id];
    cfg->limits_set |= d->v.limits_set;
    return 0;
}

/* Appends path (absolute when it resolves) to cfg->sources; 0 or -1 (out of memory). */
static int add_source(tx_config *cfg, const char *path)
{
    char real[4096];
    const char *name = realpath(path, real) != NULL ? real : path;
    char **grown = grow_array(cfg->sources, cfg->nsources + 1, sizeof *grown);
    if (grown == NULL)
        return -1;
    cfg->sources = grown;
    if ((grown[cfg->nsources] = strdup(name)) == NULL)
        return -1;
    cfg->nsources++;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Public functions                                                                          */

void tx_config_init(tx_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->durability = TX_DURABILITY_FSYNC;
    cfg->sandbox_enabled = -1;
    cfg->mount_current_dir = 1;
    cfg->profile = TX_PROFILE_NONE;
    tx_limits_default(&cfg->limits);
}

void tx_config_free(tx_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->ntools; i++)
        free(cfg->tools[i]);
    free(cfg->tools);
    for (size_t i = 0; i < cfg->nhost_tools; i++)
        host_tool_free(&cfg->host_tools[i]);
    free(cfg->host_tools);
    for (size_t i = 0; i < cfg->nmounts; i++) {
        free(cfg->mounts[i].source);
        free(cfg->mounts[i].target);
    }
    free(cfg->mounts);
    free(cfg->network);
    for (size_t i = 0; i < cfg->nread_credentials; i++)
        free(cfg->read_credentials[i]);
    free(cfg->read_credentials);
    for (size_t i = 0; i < cfg->nsources; i++)
        free(cfg->sources[i]);
    free(cfg->sources);
    tx_config_init(cfg);
}

int tx_config_load_string(tx_config *cfg, const char *name, const char *yaml, size_t len,
                          tx_error *err)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.name = name != NULL ? name : "<config>";
    c.err = err;
    if (cfg == NULL || (yaml == NULL && len > 0))
        return tx_fail(err, TACTUS_EUSAGE, "%s: no configuration given", c.name);
    if (yaml == NULL)
        yaml = "";
    if (len > CONFIG_MAX_BYTES)
        return tx_fail(err, TACTUS_EUSAGE,
                       "%s: larger than 1 MiB (%zu bytes); a configuration file may be at most "
                       "%u bytes",
                       c.name, len, CONFIG_MAX_BYTES);
    const unsigned char *text = (const unsigned char *)yaml;
    if (len >= 2 && ((text[0] == 0xFE && text[1] == 0xFF) || (text[0] == 0xFF && text[1] == 0xFE)))
        return fail_at(&c, 1, "not valid UTF-8 text: looks like UTF-16; save the file as UTF-8");
    if (len >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF) {
        text += 3; /* a UTF-8 byte-order mark, as some editors write: harmless */
        len -= 3;
    }

    node *root = NULL;
    if (build_tree(&c, text, len, &root) != 0)
        return -1;
    cfg_delta d;
    tx_config_init(&d.v);
    d.set = 0;
    int rc = parse_top(&c, root, &d);
    node_free(root);
    if (rc == 0)
        rc = merge(&c, cfg, &d);
    tx_config_free(&d.v);
    return rc;
}

/* Reads the configuration open on fd (which it closes) and merges it onto cfg as path. */
static int load_fd(tx_config *cfg, const char *path, int fd, tx_error *err);

int tx_config_load_file(tx_config *cfg, const char *path, tx_error *err)
{
    char ebuf[128];
    if (path == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "no configuration file named");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot open: %s", path,
                       strerror_r(errno, ebuf, sizeof ebuf));
    return load_fd(cfg, path, fd, err);
}

int tx_config_load_found(tx_config *cfg, const char *path, tx_error *err)
{
    char ebuf[128];
    /* O_NONBLOCK: opening a FIFO planted under a configuration file's name must not wait for
     * a writer; it is refused below, before anything is read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot open: %s", path,
                       strerror_r(errno, ebuf, sizeof ebuf));
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || flags < 0) {
        int e = errno;
        close(fd);
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot read: %s", path,
                       strerror_r(e, ebuf, sizeof ebuf));
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        close(fd);
        return tx_fail(err, TACTUS_EUSAGE,
                       "%s: not a regular file (a FIFO, socket or device is never read as "
                       "configuration)",
                       path);
    }
    if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot read: %s", path,
                       strerror_r(e, ebuf, sizeof ebuf));
    }
    return load_fd(cfg, path, fd, err);
}

static int load_fd(tx_config *cfg, const char *path, int fd, tx_error *err)
{
    char ebuf[128];
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tx_fail(err, TACTUS_EUSAGE, "%s: cannot read: %s", path,
                       strerror_r(e, ebuf, sizeof ebuf));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return tx_fail(err, TACTUS_EUSAGE, "%s: is a directory, not a configuration file", path);
    }
    /* Read one byte past the limit to tell "exactly 1 MiB" from "larger". Pipes are allowed
     * (--policy <(...)), so the size comes from reading, not from st_size. */
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        return tx_fail(err, TACTUS_ESYSTEM, "%s: out of memory", path);
    }
    size_t len = 0;
    while (len <= CONFIG_MAX_BYTES) {
        ssize_t n = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return tx_fail(err, TACTUS_EUSAGE, "%s: cannot read: %s", path,
                           strerror_r(e, ebuf, sizeof ebuf));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > CONFIG_MAX_BYTES) {
        free(buf);
        return tx_fail(err, TACTUS_EUSAGE,
                       "%s: larger than 1 MiB; a configuration file may be at most %u bytes", path,
                       CONFIG_MAX_BYTES);
    }
    int rc = tx_config_load_string(cfg, path, buf, len, err);
    free(buf);
    if (rc == 0 && add_source(cfg, path) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "%s: out of memory", path);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* --policy as a ceiling                                                                     */

/* Appends a copy of each of the n strings to *list (length *count); 0 or -1 (out of memory,
 * *list keeps what it had). */
static int append_strings(char ***list, size_t *count, char *const *add, size_t n)
{
    if (n == 0)
        return 0;
    char **grown = grow_array(*list, *count + n, sizeof **list);
    if (grown == NULL)
        return -1;
    *list = grown;
    for (size_t i = 0; i < n; i++) {
        grown[*count] = strdup(add[i]);
        if (grown[*count] == NULL)
            return -1;
        (*count)++;
    }
    return 0;
}

/* A deep copy of one host tool into *out (zeroed first); 0 or -1. */
static int host_tool_copy(tx_host_tool *out, const tx_host_tool *t)
{
    memset(out, 0, sizeof *out);
    out->timeout_ms = t->timeout_ms;
    out->max_output = t->max_output;
    out->sandboxed = t->sandboxed;
    out->name = strdup(t->name);
    out->argv = calloc(t->argc + 1, sizeof *out->argv);
    if (out->name == NULL || out->argv == NULL)
        return -1;
    for (; out->argc < t->argc; out->argc++)
        if ((out->argv[out->argc] = strdup(t->argv[out->argc])) == NULL)
            return -1;
    if (append_strings(&out->secrets, &out->nsecrets, t->secrets, t->nsecrets) != 0)
        return -1;
    if (t->cwd != NULL && (out->cwd = strdup(t->cwd)) == NULL)
        return -1;
    return 0;
}

/* The stricter of two profiles: offline < repo-read < repo-write; NONE says nothing. */
static tx_profile stricter_profile(tx_profile a, tx_profile b)
{
    if (a == TX_PROFILE_NONE)
        return b;
    if (b == TX_PROFILE_NONE)
        return a;
    return a < b ? a : b;
}

int tx_config_ceiling(tx_config *cfg, const tx_config *policy, tx_error *err)
{
    tx_config out;
    tx_config_init(&out);
    int rc = 0;
    /* tools: the policy's, narrowed by cfg's list when it gives one. */
    for (size_t i = 0; i < policy->ntools && rc == 0; i++)
        if (cfg->ntools == 0 || tx_config_allows_tool(cfg, policy->tools[i]))
            rc = append_strings(&out.tools, &out.ntools, &policy->tools[i], 1);
    if (rc == 0 && policy->nhost_tools > 0) {
        out.host_tools = calloc(policy->nhost_tools, sizeof *out.host_tools);
        rc = out.host_tools ? 0 : -1;
        for (size_t i = 0; i < policy->nhost_tools && rc == 0; i++) {
            rc = host_tool_copy(&out.host_tools[i], &policy->host_tools[i]);
            out.nhost_tools = i + 1;
        }
    }
    if (rc == 0 && policy->nmounts > 0) {
        out.mounts = calloc(policy->nmounts, sizeof *out.mounts);
        rc = out.mounts ? 0 : -1;
        for (size_t i = 0; i < policy->nmounts && rc == 0; i++) {
            out.mounts[i].read_only = policy->mounts[i].read_only;
            out.mounts[i].source = strdup(policy->mounts[i].source);
            out.mounts[i].target = strdup(policy->mounts[i].target);
            out.nmounts = i + 1;
            rc = out.mounts[i].source && out.mounts[i].target ? 0 : -1;
        }
    }
    if (rc == 0)
        rc = append_strings(&out.read_credentials, &out.nread_credentials, policy->read_credentials,
                            policy->nread_credentials);
    if (rc == 0)
        rc = append_strings(&out.sources, &out.nsources, cfg->sources, cfg->nsources);
    if (rc == 0)
        rc = append_strings(&out.sources, &out.nsources, policy->sources, policy->nsources);
    if (rc == 0 && policy->network != NULL)
        rc = (out.network = strdup(policy->network)) ? 0 : -1;
    if (rc != 0) {
        tx_config_free(&out);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory applying the policy");
    }
    out.durability = policy->durability;
    /* Isolation is never weakened: off only when the policy turns it off and cfg does not
     * turn it back on. */
    out.sandbox_enabled = policy->sandbox_enabled;
    if (cfg->sandbox_enabled == 1)
        out.sandbox_enabled = 1;
    out.mount_current_dir = policy->mount_current_dir && cfg->mount_current_dir;
    out.workspace_read_only = policy->workspace_read_only || cfg->workspace_read_only;
    out.profile = stricter_profile(policy->profile, cfg->profile);
    out.strict_determinism = policy->strict_determinism || cfg->strict_determinism;
    out.limits = policy->limits;
    out.limits_set = policy->limits_set | cfg->limits_set;
    for (int id = 0; id < TX_LIMIT__COUNT; id++) {
        uint64_t p = policy->limits.allowed[id], u = cfg->limits.allowed[id];
        if ((cfg->limits_set & (1u << id)) && u != 0 && (p == 0 || u < p))
            out.limits.allowed[id] = u;
    }
    tx_config_free(cfg);
    *cfg = out;
    return 0;
}

int tx_config_allows_tool(const tx_config *cfg, const char *tool)
{
    if (cfg == NULL || tool == NULL)
        return 0;
    for (size_t i = 0; i < cfg->ntools; i++)
        if (strcmp(cfg->tools[i], tool) == 0)
            return 1;
    return 0;
}

const tx_host_tool *tx_config_host_tool(const tx_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nhost_tools; i++)
        if (strcmp(cfg->host_tools[i].name, name) == 0)
            return &cfg->host_tools[i];
    return NULL;
}
