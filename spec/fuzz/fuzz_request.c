/*
 * fuzz_request.c - runs tx_request_parse and tx_response_parse (broker/protocol.c) on
 * arbitrary bytes. An accepted request must satisfy every documented invariant and survive a
 * rebuild-encode-parse round trip; anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless an accepted request keeps the promises of protocol.h. */
static void check_request(const tx_request *q)
{
    if (q->root == NULL || q->method == NULL || !json_is_object(q->params))
        abort();
    size_t n = strlen(q->method);
    if (n == 0 || n > TX_METHOD_MAX || strspn(q->method, "abcdefghijklmnopqrstuvwxyz_.") != n)
        abort();
    if (q->id != NULL) {
        if (json_is_string(q->id)) {
            size_t l = json_string_length(q->id);
            if (l == 0 || l > TX_ID_MAX)
                abort();
        } else if (!json_is_integer(q->id)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_request q;
    tx_error err;
    if (tx_request_parse((const char *)data, size, &q, &err) == 0) {
        check_request(&q);
        json_t *m = tx_msg_request(q.id, q.method, json_incref(q.params));
        if (m == NULL)
            abort();
        char *text = json_dumps(m, JSON_COMPACT);
        if (text == NULL)
            abort();
        tx_request again;
        if (tx_request_parse(text, strlen(text), &again, &err) != 0)
            abort();
        if (strcmp(again.method, q.method) != 0 || !json_equal(again.params, q.params) ||
            (q.id == NULL) != (again.id == NULL) || (q.id != NULL && !json_equal(q.id, again.id)))
            abort();
        tx_request_free(&again);
        free(text);
        json_decref(m);
    } else if (err.message[0] == '\0') {
        abort(); /* a refusal must say why */
    }
    tx_request_free(&q);

    tx_response resp;
    if (tx_response_parse((const char *)data, size, &resp, &err) == 0) {
        if (resp.id == NULL ||
            (resp.is_error && (resp.error_type == NULL || resp.error_message == NULL)) ||
            (!resp.is_error && resp.data == NULL))
            abort();
    }
    tx_response_free(&resp);
    return 0;
}
