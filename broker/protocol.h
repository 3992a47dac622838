/*
 * protocol.h - the messages of the runner <-> broker protocol, on top of frame.h.
 *
 * Every frame carries one JSON object (see docs/protocol.md):
 *   request       {"id": ID, "method": "tool.call", "params": {...}}
 *   notification  {"method": "events.emit", "params": {...}}            (no id: no response)
 *   response      {"id": ID, "event": "done", "data": ...}
 *              or {"id": ID, "event": "error", "error": {"type": "BadRequest", "message": "..."}}
 * ID is a string of at most TX_ID_MAX bytes or an integer. A response to a request whose id
 * could not be read carries "id": null (always an error).
 *
 * Parsers here are strict because their input comes from the untrusted side: unknown keys,
 * duplicate keys, wrong types and trailing bytes are refused, and the error message is the
 * text of the BadRequest the broker sends back.
 */
#ifndef TX_PROTOCOL_H
#define TX_PROTOCOL_H

#include <stddef.h>

#include <jansson.h>

#include "tx_error.h"

/* Methods. */
#define TX_METHOD_TOOL_CALL "tool.call"           /* params {name, args}  -> done {result} */
#define TX_METHOD_EVENTS_EMIT "events.emit"       /* params {event}; usually a notification */
#define TX_METHOD_RUN_FINISH "run.finish"         /* params {result} */
#define TX_METHOD_JOURNAL_APPEND "journal.append" /* reserved: journal records */
#define TX_METHOD_JOURNAL_READ "journal.read"     /* reserved: journal replay */

/* Error types carried in {"event": "error", "error": {"type": ...}}. */
#define TX_ERR_BAD_REQUEST "BadRequest"          /* malformed frame, JSON, or params */
#define TX_ERR_METHOD_NOT_FOUND "MethodNotFound" /* "Unknown method: <m>" */
#define TX_ERR_TOOL_NOT_ALLOWED "ToolNotAllowed" /* "Tool not allowlisted: <name>" */
#define TX_ERR_TOOL_FAILED "ToolFailed"          /* an allowed host tool ran and failed */
#define TX_ERR_INTERNAL "InternalError"          /* the broker itself failed */

/* Limits on the request envelope (bytes). */
#define TX_ID_MAX 128
#define TX_METHOD_MAX 64
#define TX_ERROR_TYPE_MAX 64

/* A parsed request. All pointers point into root; tx_request_free releases them together. */
typedef struct tx_request {
    json_t *root;       /* the whole message (owned) */
    json_t *id;         /* NULL for notifications; else a string or an integer */
    const char *method; /* non-empty, [a-z_.]+, at most TX_METHOD_MAX bytes */
    json_t *params;     /* an object, never NULL after a successful parse ({} if absent) */
} tx_request;

/* A parsed response (runner side). All pointers point into root. */
typedef struct tx_response {
    json_t *root;              /* the whole message (owned) */
    json_t *id;                /* string or integer; JSON null only for an error */
    int is_error;              /* 0: "done", 1: "error" */
    json_t *data;              /* "done": the data value (any JSON value); NULL for an error */
    const char *error_type;    /* "error": e.g. "ToolNotAllowed"; NULL for done */
    const char *error_message; /* "error": the message; NULL for done */
} tx_response;

/*
 * Parses and validates one request payload (len bytes, not necessarily NUL-terminated).
 * Returns 0 with *out filled, or -1 with err set (TACTUS_EPROC) to the BadRequest message.
 * Either way *out is left in a state tx_request_free accepts, and after a failure out->id is
 * the request's id if it was readable and valid (so the error can be addressed to it), else
 * NULL.
 */
int tx_request_parse(const char *payload, size_t len, tx_request *out, tx_error *err);

/* Releases r's JSON and clears r (a second call is harmless). Safe on NULL. */
void tx_request_free(tx_request *r);

/*
 * After tx_request_parse, successful or not: 1 if the message must be answered, 0 if it was a
 * notification. A message is a notification only if it was a JSON object without an "id" key;
 * anything unreadable is answered (with "id": null when out->id is NULL), and a notification
 * is never answered, not even with an error.
 */
int tx_request_wants_reply(const tx_request *r);

/*
 * Parses and validates one response payload: {id, event: "done", data} or
 * {id, event: "error", error: {type, message}}, nothing else. Returns 0 with *out filled, or -1
 * with err set (TACTUS_EPROC). *out is always left for tx_response_free. The caller checks that
 * out->id matches the id it sent (json_equal).
 */
int tx_response_parse(const char *payload, size_t len, tx_response *out, tx_error *err);

/* Releases r's JSON and clears r (a second call is harmless). Safe on NULL. */
void tx_response_free(tx_response *r);

/*
 * Builds {"id": id, "method": method, "params": params}, omitting "id" when id_or_null is NULL
 * (a notification). id is borrowed (a reference is taken); params is stolen, and NULL means {}.
 * Returns a new reference, or NULL if memory runs out (params is released even then).
 */
json_t *tx_msg_request(json_t *id_or_null, const char *method, json_t *params);

/*
 * Builds {"id": id, "event": "done", "data": data}. id is borrowed (NULL gives JSON null);
 * data is stolen, and NULL means {}. Returns a new reference, or NULL if memory runs out.
 */
json_t *tx_msg_done(json_t *id, json_t *data);

/*
 * Builds {"id": id, "event": "error", "error": {"type": type, "message": message}}. id is
 * borrowed; NULL gives JSON null (the request's id was unreadable). Returns a new reference, or
 * NULL if memory runs out or type / message is not valid UTF-8.
 */
json_t *tx_msg_error(json_t *id, const char *type, const char *message);

/*
 * Encodes msg compactly (JSON_COMPACT, keys in insertion order) and sends it as one frame.
 * msg stays the caller's. Encodes into a stack buffer when the text fits in 64 KiB, else into
 * a heap buffer freed before return. Returns 0, or -1 with err set: TACTUS_EUSAGE if msg is not
 * an object or encodes to more than TX_FRAME_MAX bytes, else as tx_frame_send.
 */
int tx_msg_send(int fd, const json_t *msg, tx_error *err);

#endif
