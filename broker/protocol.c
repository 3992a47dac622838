/*
 * protocol.c - parsing, validating and building protocol messages (see protocol.h).
 *
 * Requests come from the untrusted runner, so every key, type and size is checked, and any
 * piece of the input quoted back in an error message is escaped and cut short first: the
 * message travels back to the runner and into the run's logs.
 */
#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Encodings up to this size are built on the stack; larger ones on the heap. */
#define TX_MSG_STACK_BUF ((size_t)64 << 10)

/* Longest piece of hostile input quoted in an error message. */
#define TX_QUOTE_MAX 64

/* The JSON type of v as a word for error messages. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/*
 * Copies at most TX_QUOTE_MAX bytes of s (n bytes) into out (size outsz >= 4*TX_QUOTE_MAX+4) as
 * printable ASCII: other bytes become \xNN, and a cut is marked with "...". Always terminates.
 */
static void quote(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    size_t i;
    for (i = 0; i < n && i < TX_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 5 >= outsz)
            break;
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
    }
    if (i < n && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Parses payload as JSON (duplicate keys refused), or fails with an "Invalid JSON" message. */
static json_t *load(const char *payload, size_t len, const char *what, tx_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (root == NULL) {
        char text[4 * sizeof je.text + 8];
        size_t tlen = strnlen(je.text, sizeof je.text);
        /* jansson's text quotes the offending token: escape it like any other input. */
        size_t o = 0;
        for (size_t i = 0; i < tlen && o + 5 < sizeof text; i++) {
            unsigned char c = (unsigned char)je.text[i];
            if (c >= 0x20 && c < 0x7f)
                text[o++] = (char)c;
            else
                o += (size_t)snprintf(text + o, sizeof text - o, "\\x%02x", c);
        }
        text[o] = '\0';
        tx_fail(err, TACTUS_EPROC, "Invalid JSON in %s: %s (at byte %d)", what, text, je.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        tx_fail(err, TACTUS_EPROC, "%s must be a JSON object, got %s", what, type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Fails unless every key of obj is one of the NULL-terminated list allowed. */
static int only_keys(json_t *obj, const char *const *allowed, const char *where,
                     const char *allowed_text, tx_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(key, *a) == 0)
                ok = 1;
        if (!ok) {
            char q[4 * TX_QUOTE_MAX + 8];
            quote(key, strlen(key), q, sizeof q);
            return tx_fail(err, TACTUS_EPROC, "unknown key \"%s\" in %s (allowed: %s)", q, where,
                           allowed_text);
        }
    }
    return 0;
}

/* Checks an id: an integer, or a string of 1..TX_ID_MAX bytes; JSON null only if allow_null. */
static int check_id(const json_t *id, int allow_null, tx_error *err)
{
    if (json_is_integer(id) || (allow_null && json_is_null(id)))
        return 0;
    if (!json_is_string(id))
        return tx_fail(err, TACTUS_EPROC, "id must be a string or an integer, got %s",
                       type_name(id));
    size_t n = json_string_length(id);
    if (n == 0)
        return tx_fail(err, TACTUS_EPROC, "id must not be an empty string");
    if (n > TX_ID_MAX)
        return tx_fail(err, TACTUS_EPROC, "id is too long (%zu bytes, max %d)", n, TX_ID_MAX);
    return 0;
}

/* Checks a method name: a non-empty string of at most TX_METHOD_MAX bytes of [a-z_.]. */
static int check_method(const json_t *m, tx_error *err)
{
    if (!json_is_string(m))
        return tx_fail(err, TACTUS_EPROC, "method must be a string, got %s", type_name(m));
    const char *s = json_string_value(m);
    size_t n = json_string_length(m);
    if (n == 0)
        return tx_fail(err, TACTUS_EPROC, "method must not be empty");
    if (n > TX_METHOD_MAX)
        return tx_fail(err, TACTUS_EPROC, "method is too long (%zu bytes, max %d)", n,
                       TX_METHOD_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.')) {
            char q[4 * TX_QUOTE_MAX + 8];
            quote(s, n, q, sizeof q);
            return tx_fail(err, TACTUS_EPROC,
                           "method \"%s\" has a character outside [a-z_.] at byte %zu", q, i);
        }
    }
    return 0;
}

int tx_request_parse(const char *payload, size_t len, tx_request *out, tx_error *err)
{
    static const char *const keys[] = {"id", "method", "params", NULL};
    memset(out, 0, sizeof *out);
    json_t *root = load(payload, len, "request", err);
    if (root == NULL)
        return -1;
    out->root = root;
    /* The id first, so that a BadRequest about anything else can still be addressed to it. */
    json_t *id = json_object_get(root, "id");
    if (id != NULL) {
        if (check_id(id, 0, err) < 0)
            return -1;
        out->id = id;
    }
    if (only_keys(root, keys, "request", "id, method, params", err) < 0)
        return -1;
    json_t *method = json_object_get(root, "method");
    if (method == NULL)
        return tx_fail(err, TACTUS_EPROC, "Missing id/method: the request has no \"method\"");
    if (check_method(method, err) < 0)
        return -1;
    json_t *params = json_object_get(root, "params");
    if (params == NULL) {
        /* Give handlers an object to read from; root owns it like the rest. */
        params = json_object();
        if (params == NULL || json_object_set_new(root, "params", params) != 0)
            return tx_fail(err, TACTUS_ESYSTEM, "out of memory building empty params");
    } else if (!json_is_object(params)) {
        return tx_fail(err, TACTUS_EPROC, "params must be an object, got %s", type_name(params));
    }
    out->method = json_string_value(method);
    out->params = params;
    return 0;
}

void tx_request_free(tx_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

int tx_request_wants_reply(const tx_request *r)
{
    return r->root == NULL || json_object_get(r->root, "id") != NULL;
}

/* Validates the "error" member of an error response and fills out's error fields. */
static int parse_error_member(json_t *e, tx_response *out, tx_error *err)
{
    static const char *const keys[] = {"type", "message", NULL};
    if (e == NULL)
        return tx_fail(err, TACTUS_EPROC, "error response has no \"error\"");
    if (!json_is_object(e))
        return tx_fail(err, TACTUS_EPROC, "error must be an object, got %s", type_name(e));
    if (only_keys(e, keys, "error", "type, message", err) < 0)
        return -1;
    json_t *type = json_object_get(e, "type");
    json_t *msg = json_object_get(e, "message");
    if (type == NULL || !json_is_string(type))
        return tx_fail(err, TACTUS_EPROC, "error.type must be a string, got %s",
                       type == NULL ? "nothing" : type_name(type));
    size_t n = json_string_length(type);
    if (n == 0 || n > TX_ERROR_TYPE_MAX)
        return tx_fail(err, TACTUS_EPROC, "error.type must be 1 to %d bytes, got %zu",
                       TX_ERROR_TYPE_MAX, n);
    if (msg == NULL || !json_is_string(msg))
        return tx_fail(err, TACTUS_EPROC, "error.message must be a string, got %s",
                       msg == NULL ? "nothing" : type_name(msg));
    out->error_type = json_string_value(type);
    out->error_message = json_string_value(msg);
    return 0;
}

int tx_response_parse(const char *payload, size_t len, tx_response *out, tx_error *err)
{
    static const char *const keys[] = {"id", "event", "data", "error", NULL};
    memset(out, 0, sizeof *out);
    json_t *root = load(payload, len, "response", err);
    if (root == NULL)
        return -1;
    out->root = root;
    if (only_keys(root, keys, "response", "id, event, data, error", err) < 0)
        return -1;
    json_t *id = json_object_get(root, "id");
    if (id == NULL)
        return tx_fail(err, TACTUS_EPROC, "response has no \"id\"");
    if (check_id(id, 1, err) < 0)
        return -1;
    json_t *event = json_object_get(root, "event");
    if (event == NULL || !json_is_string(event))
        return tx_fail(err, TACTUS_EPROC, "response event must be a string, got %s",
                       event == NULL ? "nothing" : type_name(event));
    const char *ev = json_string_value(event);
    json_t *data = json_object_get(root, "data");
    json_t *e = json_object_get(root, "error");
    if (strcmp(ev, "done") == 0) {
        if (json_is_null(id))
            return tx_fail(err, TACTUS_EPROC, "a done response must have a non-null id");
        if (data == NULL)
            return tx_fail(err, TACTUS_EPROC, "done response has no \"data\"");
        if (e != NULL)
            return tx_fail(err, TACTUS_EPROC, "done response must not carry \"error\"");
        out->id = id;
        out->data = data;
        return 0;
    }
    if (strcmp(ev, "error") == 0) {
        if (data != NULL)
            return tx_fail(err, TACTUS_EPROC, "error response must not carry \"data\"");
        if (parse_error_member(e, out, err) < 0)
            return -1;
        out->id = id;
        out->is_error = 1;
        return 0;
    }
    char q[4 * TX_QUOTE_MAX + 8];
    quote(ev, json_string_length(event), q, sizeof q);
    return tx_fail(err, TACTUS_EPROC, "response event must be \"done\" or \"error\", got \"%s\"",
                   q);
}

void tx_response_free(tx_response *r)
{
    if (r == NULL)
        return;
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

json_t *tx_msg_request(json_t *id_or_null, const char *method, json_t *params)
{
    if (params == NULL)
        params = json_object();
    json_t *m = json_object();
    if (m == NULL || params == NULL)
        goto fail;
    if (id_or_null != NULL && json_object_set(m, "id", id_or_null) != 0)
        goto fail;
    if (json_object_set_new(m, "method", json_string(method)) != 0)
        goto fail;
    if (json_object_set_new(m, "params", params) != 0) {
        params = NULL; /* json_object_set_new releases it even on failure */
        goto fail;
    }
    return m;
fail:
    json_decref(params);
    json_decref(m);
    return NULL;
}

json_t *tx_msg_done(json_t *id, json_t *data)
{
    if (data == NULL)
        data = json_object();
    json_t *m = json_object();
    if (m == NULL || data == NULL)
        goto fail;
    if (json_object_set_new(m, "id", id != NULL ? json_incref(id) : json_null()) != 0 ||
        json_object_set_new(m, "event", json_string("done")) != 0)
        goto fail;
    if (json_object_set_new(m, "data", data) != 0) {
        data = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(data);
    json_decref(m);
    return NULL;
}

json_t *tx_msg_error(json_t *id, const char *type, const char *message)
{
    json_t *m = json_object();
    json_t *e = json_object();
    if (m == NULL || e == NULL)
        goto fail;
    if (json_object_set_new(e, "type", json_string(type)) != 0 ||
        json_object_set_new(e, "message", json_string(message)) != 0)
        goto fail;
    if (json_object_set_new(m, "id", id != NULL ? json_incref(id) : json_null()) != 0 ||
        json_object_set_new(m, "event", json_string("error")) != 0)
        goto fail;
    if (json_object_set_new(m, "error", e) != 0) {
        e = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(e);
    json_decref(m);
    return NULL;
}

int tx_msg_send(int fd, const json_t *msg, tx_error *err)
{
    if (!json_is_object(msg))
        return tx_fail(err, TACTUS_EUSAGE, "send message: a message must be a JSON object");
    char stack[TX_MSG_STACK_BUF];
    size_t n = json_dumpb(msg, stack, sizeof stack, JSON_COMPACT);
    if (n == 0)
        return tx_fail(err, TACTUS_EUSAGE, "send message: the message could not be encoded");
    if (n <= sizeof stack)
        return tx_frame_send(fd, stack, n, err);
    if (n > TX_FRAME_MAX)
        return tx_fail(err, TACTUS_EUSAGE,
                       "send message: encoded message of %zu bytes exceeds the frame maximum %zu",
                       n, TX_FRAME_MAX);
    char *heap = malloc(n);
    if (heap == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "send message: out of memory for %zu bytes", n);
    size_t m = json_dumpb(msg, heap, n, JSON_COMPACT);
    int rc = m == n ? tx_frame_send(fd, heap, n, err)
                    : tx_fail(err, TACTUS_EUSAGE,
                              "send message: the message changed size while "
                              "being encoded");
    free(heap);
    return rc;
}
