/*
 * test_protocol.c - protocol messages (broker/protocol.c): strict request and response
 * parsing with the exact BadRequest texts, the message builders and their compact encoding,
 * and a full request / response exchange over a socketpair.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "protocol.h"

/* Parses text as a request, expecting failure with a message containing want. */
static void expect_bad(const char *text, size_t len, const char *want)
{
    tx_request r;
    tx_error err;
    tx_error_clear(&err);
    int rc = tx_request_parse(text, len, &r, &err);
    ck_assert_msg(rc == -1, "accepted: %s", text);
    ck_assert_int_eq(err.status, TACTUS_EPROC);
    ck_assert_msg(strstr(err.message, want) != NULL, "input %s: message \"%s\" lacks \"%s\"", text,
                  err.message, want);
    tx_request_free(&r);
}

static void expect_bad_str(const char *text, const char *want)
{
    expect_bad(text, strlen(text), want);
}

/* Parses text as a response, expecting failure with a message containing want. */
static void expect_bad_response(const char *text, const char *want)
{
    tx_response r;
    tx_error err;
    int rc = tx_response_parse(text, strlen(text), &r, &err);
    ck_assert_msg(rc == -1, "accepted: %s", text);
    ck_assert_msg(strstr(err.message, want) != NULL, "input %s: message \"%s\" lacks \"%s\"", text,
                  err.message, want);
    tx_response_free(&r);
}

START_TEST(test_parse_valid_requests)
{
    tx_request r;
    tx_error err;
    const char *a = "{\"id\":\"a1\",\"method\":\"tool.call\",\"params\":{\"name\":\"host.ping\","
                    "\"args\":{\"x\":1}}}";
    ck_assert_int_eq(tx_request_parse(a, strlen(a), &r, &err), 0);
    ck_assert_str_eq(json_string_value(r.id), "a1");
    ck_assert_str_eq(r.method, TX_METHOD_TOOL_CALL);
    ck_assert_str_eq(json_string_value(json_object_get(r.params, "name")), "host.ping");
    tx_request_free(&r);
    tx_request_free(&r); /* idempotent */

    /* Integer id, params absent: an empty object appears. */
    const char *b = "{\"method\":\"run.finish\",\"id\":42}";
    ck_assert_int_eq(tx_request_parse(b, strlen(b), &r, &err), 0);
    ck_assert(json_is_integer(r.id));
    ck_assert_int_eq(json_integer_value(r.id), 42);
    ck_assert(json_is_object(r.params));
    ck_assert_uint_eq(json_object_size(r.params), 0);
    tx_request_free(&r);

    /* Notification: no id. Whitespace around is fine. */
    const char *c = " \n{\"method\":\"events.emit\",\"params\":{\"event\":{\"k\":\"log\"}}}\n ";
    ck_assert_int_eq(tx_request_parse(c, strlen(c), &r, &err), 0);
    ck_assert_ptr_null(r.id);
    ck_assert_str_eq(r.method, TX_METHOD_EVENTS_EMIT);
    tx_request_free(&r);

    /* Boundaries: a 128-byte id and a 64-byte method pass; negative integer ids pass. */
    char buf[512];
    char id128[129], m64[65];
    memset(id128, 'i', 128);
    id128[128] = '\0';
    memset(m64, 'm', 64);
    m64[64] = '\0';
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"method\":\"%s\"}", id128, m64);
    ck_assert_int_eq(tx_request_parse(buf, strlen(buf), &r, &err), 0);
    ck_assert_uint_eq(strlen(r.method), 64);
    tx_request_free(&r);
    const char *d = "{\"id\":-9007199254740993,\"method\":\"a_b.c\"}";
    ck_assert_int_eq(tx_request_parse(d, strlen(d), &r, &err), 0);
    tx_request_free(&r);

    /* The payload need not be NUL-terminated: only len bytes are read. */
    const char e[] = "{\"method\":\"x\"}GARBAGE";
    ck_assert_int_eq(tx_request_parse(e, 14, &r, &err), 0);
    tx_request_free(&r);
    tx_request_free(NULL);
}
END_TEST

START_TEST(test_malformed_requests)
{
    expect_bad_str("not json", "Invalid JSON in request");
    expect_bad("", 0, "Invalid JSON in request");
    expect_bad_str("[1,2]", "request must be a JSON object, got array");
    /* A bare scalar is not a JSON text jansson accepts at top level. */
    expect_bad_str("\"tool.call\"", "Invalid JSON in request");
    expect_bad_str("{\"id\":1.5,\"method\":\"a\"}", "id must be a string or an integer, got real");
    expect_bad_str("{\"id\":true,\"method\":\"a\"}",
                   "id must be a string or an integer, got boolean");
    expect_bad_str("{\"id\":null,\"method\":\"a\"}", "id must be a string or an integer, got null");
    expect_bad_str("{\"id\":{},\"method\":\"a\"}", "id must be a string or an integer, got object");
    expect_bad_str("{\"id\":\"\",\"method\":\"a\"}", "id must not be an empty string");
    char buf[512];
    char id129[130];
    memset(id129, 'i', 129);
    id129[129] = '\0';
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"method\":\"a\"}", id129);
    expect_bad_str(buf, "id is too long (129 bytes, max 128)");
    expect_bad_str("{\"id\":1}", "Missing id/method: the request has no \"method\"");
    expect_bad_str("{}", "Missing id/method");
    expect_bad_str("{\"id\":1,\"method\":5}", "method must be a string, got integer");
    expect_bad_str("{\"id\":1,\"method\":\"\"}", "method must not be empty");
    expect_bad_str("{\"id\":1,\"method\":\"Tool.call\"}",
                   "method \"Tool.call\" has a character outside [a-z_.] at byte 0");
    expect_bad_str("{\"id\":1,\"method\":\"tool-call\"}", "outside [a-z_.] at byte 4");
    expect_bad_str("{\"id\":1,\"method\":\"tool call\"}", "outside [a-z_.] at byte 4");
    expect_bad_str("{\"id\":1,\"method\":\"tool9\"}", "outside [a-z_.] at byte 4");
    /* Control bytes and quotes from the input are escaped in the message. */
    expect_bad_str("{\"id\":1,\"method\":\"a\\u0001\\\"b\"}",
                   "method \"a\\x01\\x22b\" has a character outside");
    expect_bad_str("{\"id\":1,\"method\":\"caf\xc3\xa9\"}", "method \"caf\\xc3\\xa9\"");
    char m65[66];
    memset(m65, 'm', 65);
    m65[65] = '\0';
    snprintf(buf, sizeof buf, "{\"id\":1,\"method\":\"%s\"}", m65);
    expect_bad_str(buf, "method is too long (65 bytes, max 64)");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"params\":[]}",
                   "params must be an object, got array");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"params\":null}",
                   "params must be an object, got null");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"params\":\"{}\"}",
                   "params must be an object, got string");
    expect_bad_str("{\"id\":1,\"id\":2,\"method\":\"a\"}", "duplicate object key");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"params\":{\"k\":1,\"k\":2}}",
                   "duplicate object key");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"extra\":1}",
                   "unknown key \"extra\" in request (allowed: id, method, params)");
    expect_bad_str("{\"id\":1,\"method\":\"a\",\"ev\\nil\":1}", "unknown key \"ev\\x0ail\"");
    expect_bad_str("{\"id\":1,\"method\":\"a\"} x", "Invalid JSON in request");
    expect_bad_str("{\"id\":1,\"method\":\"a\"}{}", "Invalid JSON in request");
    /* Invalid UTF-8, an escaped NUL, a truncated document. */
    expect_bad_str("{\"id\":\"\xff\",\"method\":\"a\"}", "Invalid JSON in request");
    expect_bad_str("{\"id\":1,\"method\":\"a\\u0000b\"}", "has a character outside [a-z_.]");
    expect_bad_str("{\"id\":1,\"method\":", "Invalid JSON in request");
    /* A raw NUL byte inside the payload. */
    expect_bad("{\"id\":1,\0\"method\":\"a\"}", 22, "Invalid JSON in request");
    /* Integers beyond 64 bits. */
    expect_bad_str("{\"id\":99999999999999999999,\"method\":\"a\"}", "Invalid JSON in request");
}
END_TEST

START_TEST(test_deep_nesting_refused)
{
    /* 100000 nested arrays: refused by the parser's depth limit, without exhausting the stack. */
    size_t depth = 100000;
    size_t n = depth + 64;
    char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    size_t off = (size_t)snprintf(buf, n, "{\"method\":\"a\",\"params\":{\"x\":");
    memset(buf + off, '[', depth);
    expect_bad(buf, off + depth, "Invalid JSON in request");
    free(buf);
}
END_TEST

START_TEST(test_id_kept_after_failure)
{
    /* When the id is readable, it survives a failed parse so the error can be addressed. */
    const char *t = "{\"id\":\"q7\",\"method\":\"a\",\"params\":[]}";
    tx_request r;
    tx_error err;
    ck_assert_int_eq(tx_request_parse(t, strlen(t), &r, &err), -1);
    ck_assert_ptr_nonnull(r.id);
    ck_assert_str_eq(json_string_value(r.id), "q7");
    tx_request_free(&r);
    const char *u = "{\"id\":[1],\"method\":\"a\"}";
    ck_assert_int_eq(tx_request_parse(u, strlen(u), &r, &err), -1);
    ck_assert_ptr_null(r.id);
    tx_request_free(&r);
    ck_assert_int_eq(tx_request_parse("nope", 4, &r, &err), -1);
    ck_assert_ptr_null(r.id);
    ck_assert_ptr_null(r.root);
    tx_request_free(&r);
}
END_TEST

START_TEST(test_wants_reply)
{
    static const struct {
        const char *text;
        int ok;
        int reply;
    } cases[] = {
        {"{\"id\":1,\"method\":\"a\"}", 1, 1},
        {"{\"method\":\"events.emit\"}", 1, 0},
        /* a bad notification is still a notification: never answered */
        {"{\"method\":\"Events\"}", 0, 0},
        {"{\"params\":1}", 0, 0},
        /* an unusable id is answered with id null */
        {"{\"id\":1.5,\"method\":\"a\"}", 0, 1},
        {"{\"id\":null,\"method\":\"a\"}", 0, 1},
        /* unreadable: answered */
        {"garbage", 0, 1},
        {"[]", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tx_request r;
        tx_error err;
        int rc = tx_request_parse(cases[i].text, strlen(cases[i].text), &r, &err);
        ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "%s", cases[i].text);
        ck_assert_msg(tx_request_wants_reply(&r) == cases[i].reply, "%s", cases[i].text);
        tx_request_free(&r);
    }
}
END_TEST

/* Compact encoding of m (for comparing against expected text). */
static void expect_encoding(json_t *m, const char *want)
{
    ck_assert_ptr_nonnull(m);
    char *s = json_dumps(m, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, want);
    free(s);
    json_decref(m);
}

START_TEST(test_builders)
{
    json_t *id = json_integer(7);
    json_t *params = json_pack("{s:s, s:{}}", "name", "host.ping", "args");
    expect_encoding(tx_msg_request(id, TX_METHOD_TOOL_CALL, params),
                    "{\"id\":7,\"method\":\"tool.call\",\"params\":{\"name\":\"host.ping\","
                    "\"args\":{}}}");
    expect_encoding(tx_msg_request(NULL, TX_METHOD_EVENTS_EMIT, NULL),
                    "{\"method\":\"events.emit\",\"params\":{}}");
    expect_encoding(tx_msg_done(id, json_pack("{s:b}", "ok", 1)),
                    "{\"id\":7,\"event\":\"done\",\"data\":{\"ok\":true}}");
    expect_encoding(tx_msg_done(id, NULL), "{\"id\":7,\"event\":\"done\",\"data\":{}}");
    expect_encoding(tx_msg_error(id, TX_ERR_TOOL_NOT_ALLOWED, "Tool not allowlisted: x"),
                    "{\"id\":7,\"event\":\"error\",\"error\":{\"type\":\"ToolNotAllowed\","
                    "\"message\":\"Tool not allowlisted: x\"}}");
    expect_encoding(tx_msg_error(NULL, TX_ERR_BAD_REQUEST, "bad"),
                    "{\"id\":null,\"event\":\"error\",\"error\":{\"type\":\"BadRequest\","
                    "\"message\":\"bad\"}}");
    /* Borrowed id: still ours, with one reference. */
    ck_assert_int_eq(id->refcount, 1);
    json_decref(id);
    /* Invalid UTF-8 in a message cannot be encoded: NULL, no leak. */
    ck_assert_ptr_null(tx_msg_error(NULL, TX_ERR_BAD_REQUEST, "\xff"));
}
END_TEST

START_TEST(test_parse_responses)
{
    tx_response r;
    tx_error err;
    const char *a = "{\"id\":7,\"event\":\"done\",\"data\":{\"result\":[1,2]}}";
    ck_assert_int_eq(tx_response_parse(a, strlen(a), &r, &err), 0);
    ck_assert_int_eq(r.is_error, 0);
    ck_assert_int_eq(json_integer_value(r.id), 7);
    ck_assert(json_is_array(json_object_get(r.data, "result")));
    tx_response_free(&r);
    const char *b = "{\"id\":\"x\",\"event\":\"error\",\"error\":{\"type\":\"MethodNotFound\","
                    "\"message\":\"Unknown method: a\"}}";
    ck_assert_int_eq(tx_response_parse(b, strlen(b), &r, &err), 0);
    ck_assert_int_eq(r.is_error, 1);
    ck_assert_ptr_null(r.data);
    ck_assert_str_eq(r.error_type, "MethodNotFound");
    ck_assert_str_eq(r.error_message, "Unknown method: a");
    tx_response_free(&r);
    const char *c = "{\"id\":null,\"event\":\"error\",\"error\":{\"type\":\"BadRequest\","
                    "\"message\":\"\"}}";
    ck_assert_int_eq(tx_response_parse(c, strlen(c), &r, &err), 0);
    ck_assert(json_is_null(r.id));
    tx_response_free(&r);
    const char *d = "{\"id\":1,\"event\":\"done\",\"data\":null}";
    ck_assert_int_eq(tx_response_parse(d, strlen(d), &r, &err), 0);
    ck_assert(json_is_null(r.data));
    tx_response_free(&r);

    expect_bad_response("[]", "response must be a JSON object, got array");
    expect_bad_response("{\"id\":1,\"event\":\"done\"}x", "Invalid JSON in response");
    expect_bad_response("{\"event\":\"done\",\"data\":{}}", "response has no \"id\"");
    expect_bad_response("{\"id\":1.0,\"event\":\"done\",\"data\":{}}",
                        "id must be a string or an integer, got real");
    expect_bad_response("{\"id\":null,\"event\":\"done\",\"data\":{}}",
                        "a done response must have a non-null id");
    expect_bad_response("{\"id\":1,\"data\":{}}", "response event must be a string, got nothing");
    expect_bad_response("{\"id\":1,\"event\":\"delta\",\"data\":{}}",
                        "response event must be \"done\" or \"error\", got \"delta\"");
    expect_bad_response("{\"id\":1,\"event\":\"done\"}", "done response has no \"data\"");
    expect_bad_response(
        "{\"id\":1,\"event\":\"done\",\"data\":{},\"error\":{\"type\":\"X\",\"message\":\"\"}}",
        "done response must not carry \"error\"");
    expect_bad_response("{\"id\":1,\"event\":\"error\"}", "error response has no \"error\"");
    expect_bad_response("{\"id\":1,\"event\":\"error\",\"error\":\"boom\"}",
                        "error must be an object, got string");
    expect_bad_response("{\"id\":1,\"event\":\"error\",\"error\":{\"message\":\"m\"}}",
                        "error.type must be a string, got nothing");
    expect_bad_response(
        "{\"id\":1,\"event\":\"error\",\"error\":{\"type\":\"\",\"message\":\"m\"}}",
        "error.type must be 1 to 64 bytes, got 0");
    expect_bad_response("{\"id\":1,\"event\":\"error\",\"error\":{\"type\":\"T\"}}",
                        "error.message must be a string, got nothing");
    expect_bad_response(
        "{\"id\":1,\"event\":\"error\",\"error\":{\"type\":\"T\",\"message\":\"m\",\"x\":1}}",
        "unknown key \"x\" in error (allowed: type, message)");
    expect_bad_response(
        "{\"id\":1,\"event\":\"error\",\"data\":{},\"error\":{\"type\":\"T\",\"message\":\"m\"}}",
        "error response must not carry \"data\"");
    expect_bad_response("{\"id\":1,\"event\":\"done\",\"data\":{},\"more\":1}",
                        "unknown key \"more\" in response");
}
END_TEST

static void make_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

START_TEST(test_send_exact_bytes)
{
    /* tx_msg_send puts exactly the compact encoding in one frame. */
    int sv[2];
    make_pair(sv);
    tx_error err;
    json_t *m =
        tx_msg_request(NULL, TX_METHOD_EVENTS_EMIT, json_pack("{s:{s:s}}", "event", "k", "v"));
    ck_assert_int_eq(tx_msg_send(sv[1], m, &err), 0);
    json_decref(m);
    const char want[] = "{\"method\":\"events.emit\",\"params\":{\"event\":{\"k\":\"v\"}}}";
    unsigned char got[256];
    ssize_t n = recv(sv[0], got, sizeof got, MSG_DONTWAIT);
    ck_assert_int_eq(n, 4 + (ssize_t)sizeof want - 1);
    ck_assert_int_eq(got[0], 0);
    ck_assert_int_eq(got[1], 0);
    ck_assert_int_eq(got[2], 0);
    ck_assert_int_eq(got[3], sizeof want - 1);
    ck_assert_int_eq(memcmp(got + 4, want, sizeof want - 1), 0);

    /* Not an object: refused, nothing sent. */
    json_t *arr = json_array();
    ck_assert_int_eq(tx_msg_send(sv[1], arr, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    json_decref(arr);
    ck_assert_int_eq(recv(sv[0], got, sizeof got, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_send_large_messages)
{
    int sv[2];
    make_pair(sv);
    tx_error err;
    /* 200 KiB: encoded on the heap, received whole. */
    size_t n = 200 * 1024;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'z', n);
    s[n] = '\0';
    json_t *m = tx_msg_done(NULL, json_pack("{s:s}", "blob", s));
    json_object_set_new(m, "id", json_integer(3));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tx_error e;
        _exit(tx_msg_send(sv[1], m, &e) == 0 ? 0 : 1);
    }
    tx_frame_reader r;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 10000, &err), 1);
    tx_response resp;
    ck_assert_int_eq(tx_response_parse(p, len, &resp, &err), 0);
    ck_assert_uint_eq(json_string_length(json_object_get(resp.data, "blob")), n);
    tx_response_free(&resp);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    json_decref(m);
    free(s);

    /* Over the frame maximum: refused before anything is sent. */
    n = TX_FRAME_MAX + 10;
    s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'z', n);
    s[n] = '\0';
    m = tx_msg_done(NULL, json_pack("{s:s}", "blob", s));
    ck_assert_int_eq(tx_msg_send(sv[1], m, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds the frame maximum"));
    char b;
    ck_assert_int_eq(recv(sv[0], &b, 1, MSG_DONTWAIT), -1);
    json_decref(m);
    free(s);
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_exchange_over_socketpair)
{
    /* A broker child answers tool.call with done, unknown methods with MethodNotFound, bad
     * requests with BadRequest, and notifications with nothing. */
    int sv[2];
    make_pair(sv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(sv[0]);
        tx_frame_reader rd;
        tx_error e;
        if (tx_frame_reader_init(&rd, 0, &e) != 0)
            _exit(2);
        int notes = 0;
        for (;;) {
            const char *p;
            size_t len;
            int rc = tx_frame_recv(sv[1], &rd, &p, &len, 10000, &e);
            if (rc == 0)
                break;
            if (rc < 0)
                _exit(3);
            tx_request q;
            json_t *reply = NULL;
            if (tx_request_parse(p, len, &q, &e) != 0) {
                if (tx_request_wants_reply(&q))
                    reply = tx_msg_error(q.id, TX_ERR_BAD_REQUEST, e.message);
                else
                    notes += 100; /* a bad notification: must not be answered */
            } else if (q.id == NULL)
                notes++;
            else if (strcmp(q.method, TX_METHOD_TOOL_CALL) == 0)
                reply = tx_msg_done(q.id, json_pack("{s:O}", "result", q.params));
            else {
                char msg[128];
                snprintf(msg, sizeof msg, "Unknown method: %s", q.method);
                reply = tx_msg_error(q.id, TX_ERR_METHOD_NOT_FOUND, msg);
            }
            if (reply != NULL && tx_msg_send(sv[1], reply, &e) != 0)
                _exit(4);
            json_decref(reply);
            tx_request_free(&q);
        }
        tx_frame_reader_free(&rd);
        _exit(notes == 101 ? 0 : 5); /* one good and one bad notification seen */
    }
    close(sv[1]);
    tx_frame_reader r;
    tx_error err;
    const char *p;
    size_t len;
    tx_response resp;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);

    json_t *id = json_string("req-1");
    json_t *m = tx_msg_request(id, TX_METHOD_TOOL_CALL,
                               json_pack("{s:s,s:{s:i}}", "name", "host.ping", "args", "n", 5));
    ck_assert_int_eq(tx_msg_send(sv[0], m, &err), 0);
    json_decref(m);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 10000, &err), 1);
    ck_assert_int_eq(tx_response_parse(p, len, &resp, &err), 0);
    ck_assert(json_equal(resp.id, id));
    ck_assert_int_eq(resp.is_error, 0);
    json_t *args = json_object_get(json_object_get(resp.data, "result"), "args");
    ck_assert_int_eq(json_integer_value(json_object_get(args, "n")), 5);
    tx_response_free(&resp);

    /* A notification gets no answer: the next frame back belongs to the next request. */
    m = tx_msg_request(NULL, TX_METHOD_EVENTS_EMIT, json_pack("{s:{}}", "event"));
    ck_assert_int_eq(tx_msg_send(sv[0], m, &err), 0);
    json_decref(m);
    const char bad_note[] = "{\"method\":\"Events.Emit\"}";
    ck_assert_int_eq(tx_frame_send(sv[0], bad_note, sizeof bad_note - 1, &err), 0);

    json_t *id2 = json_integer(2);
    m = tx_msg_request(id2, "no.such", NULL);
    ck_assert_int_eq(tx_msg_send(sv[0], m, &err), 0);
    json_decref(m);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 10000, &err), 1);
    ck_assert_int_eq(tx_response_parse(p, len, &resp, &err), 0);
    ck_assert(json_equal(resp.id, id2));
    ck_assert_int_eq(resp.is_error, 1);
    ck_assert_str_eq(resp.error_type, "MethodNotFound");
    ck_assert_str_eq(resp.error_message, "Unknown method: no.such");
    tx_response_free(&resp);

    const char bad[] = "{\"id\":9,\"method\":\"tool.call\",\"params\":[]}";
    ck_assert_int_eq(tx_frame_send(sv[0], bad, sizeof bad - 1, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 10000, &err), 1);
    ck_assert_int_eq(tx_response_parse(p, len, &resp, &err), 0);
    ck_assert_int_eq(json_integer_value(resp.id), 9);
    ck_assert_str_eq(resp.error_type, "BadRequest");
    ck_assert_str_eq(resp.error_message, "params must be an object, got array");
    tx_response_free(&resp);

    ck_assert_int_eq(tx_frame_send(sv[0], "{oops", 5, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 10000, &err), 1);
    ck_assert_int_eq(tx_response_parse(p, len, &resp, &err), 0);
    ck_assert(json_is_null(resp.id));
    ck_assert_str_eq(resp.error_type, "BadRequest");
    tx_response_free(&resp);

    shutdown(sv[0], SHUT_WR);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    json_decref(id);
    json_decref(id2);
    tx_frame_reader_free(&r);
    close(sv[0]);
}
END_TEST

static Suite *protocol_suite(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parse_valid_requests);
    tcase_add_test(tc, test_malformed_requests);
    tcase_add_test(tc, test_deep_nesting_refused);
    tcase_add_test(tc, test_id_kept_after_failure);
    tcase_add_test(tc, test_wants_reply);
    tcase_add_test(tc, test_builders);
    tcase_add_test(tc, test_parse_responses);
    tcase_add_test(tc, test_send_exact_bytes);
    tcase_add_test(tc, test_send_large_messages);
    tcase_add_test(tc, test_exchange_over_socketpair);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(protocol_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
