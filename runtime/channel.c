/* channel.c - the runner's side of the frame protocol over a socket (see channel.h). */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "protocol.h"

struct tx_socket_channel {
    int fd;
    json_int_t next_id;
    tx_frame_reader reader;
};

tx_socket_channel *tx_socket_channel_new(int fd)
{
    tx_socket_channel *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return NULL;
    sc->fd = fd;
    sc->next_id = 1;
    if (tx_frame_reader_init(&sc->reader, TX_FRAME_MAX, NULL) != 0) {
        free(sc);
        return NULL;
    }
    return sc;
}

void tx_socket_channel_free(tx_socket_channel *sc)
{
    if (sc == NULL)
        return;
    tx_frame_reader_free(&sc->reader);
    free(sc);
}

static int socket_notify(void *ud, const char *method, json_t *params, tx_error *err)
{
    tx_socket_channel *sc = ud;
    json_t *msg = tx_msg_request(NULL, method, json_incref(params));
    if (msg == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    int rc = tx_msg_send(sc->fd, msg, err);
    json_decref(msg);
    return rc;
}

static int socket_call(void *ud, const char *method, json_t *params, tx_reply *reply, tx_error *err)
{
    tx_socket_channel *sc = ud;
    json_int_t id = sc->next_id++;
    json_t *idv = json_integer(id);
    json_t *msg = idv ? tx_msg_request(idv, method, json_incref(params)) : NULL;
    json_decref(idv);
    if (msg == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    int rc = tx_msg_send(sc->fd, msg, err);
    json_decref(msg);
    if (rc != 0)
        return -1;
    const char *payload = NULL;
    size_t len = 0;
    rc = tx_frame_recv(sc->fd, &sc->reader, &payload, &len, -1, err);
    if (rc == 0)
        return tx_fail(err, TACTUS_ESYSTEM, "the broker closed the connection");
    if (rc < 0)
        return -1;
    tx_response resp;
    if (tx_response_parse(payload, len, &resp, err) != 0)
        return -1;
    if (!json_is_integer(resp.id) || json_integer_value(resp.id) != id) {
        tx_response_free(&resp);
        return tx_fail(err, TACTUS_ESYSTEM, "the broker answered out of order");
    }
    if (resp.is_error) {
        snprintf(reply->error_type, sizeof reply->error_type, "%s", resp.error_type);
        snprintf(reply->error_message, sizeof reply->error_message, "%s", resp.error_message);
        reply->data = NULL;
    } else {
        reply->data = json_incref(resp.data);
    }
    tx_response_free(&resp);
    return 0;
}

tx_channel tx_socket_channel_get(tx_socket_channel *sc)
{
    tx_channel ch = {sc, socket_notify, socket_call};
    return ch;
}
