/*
 * channel.h - the runner's only way out of the VM.
 *
 * Everything a procedure does beyond pure computation (logging, Host.call, loading a module,
 * finishing the run) is a message through a tx_channel. The same VM code talks to an
 * in-process broker (tactus_isolation TACTUS_INPROCESS) or, through a socket and the frame
 * protocol of docs/protocol.md, to a broker in another process.
 */
#ifndef TX_CHANNEL_H
#define TX_CHANNEL_H

#include <jansson.h>

#include "tx_error.h"

/* The answer to a call: exactly one of data (success) or error_type/error_message is set. */
typedef struct tx_reply {
    json_t *data;        /* new reference on success, NULL on a refused call */
    char error_type[64]; /* "ToolNotAllowed", "BadRequest", ... */
    char error_message[1024];
} tx_reply;

typedef struct tx_channel {
    void *ud;
    /* One-way message (a notification: no reply), e.g. events.emit. `params` is borrowed.
     * Returns 0, or -1 when the channel is broken (err set); the run cannot continue then. */
    int (*notify)(void *ud, const char *method, json_t *params, tx_error *err);
    /* Request/response. `params` is borrowed. Returns 0 with *reply filled (success or a refusal
     * by the broker), or -1 when the channel is broken (err set). */
    int (*call)(void *ud, const char *method, json_t *params, tx_reply *reply, tx_error *err);
} tx_channel;

/* A channel over a connected stream socket speaking the frame protocol. */
typedef struct tx_socket_channel tx_socket_channel;

/* Wraps fd (not owned; the caller closes it). Returns NULL when out of memory. */
tx_socket_channel *tx_socket_channel_new(int fd);
void tx_socket_channel_free(tx_socket_channel *sc);
/* The tx_channel view of sc, valid as long as sc. */
tx_channel tx_socket_channel_get(tx_socket_channel *sc);

#endif
