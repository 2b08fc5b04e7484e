/*
 * net: the native engine's plain TCP socket (struct load_sockops, engine.h), the counterpart of
 * tls.c: no handshake, one send() or recv() per call, nothing buffered. As in wrk's net.c, h1.c
 * never asks whether a connection is plain or TLS; it calls through the table.
 */
#include <errno.h>
#include <sys/socket.h>

#include "load/engine.h"

#include "base/banned.h"

static enum load_io plain_handshake(struct worker *w, struct load_sock *s)
{
    (void)w, (void)s;
    return LOAD_IO_OK;
}

static enum load_io plain_read(struct load_sock *s, char *buf, size_t n, size_t *got)
{
    for (;;) {
        ssize_t r = recv(s->fd, buf, n, 0);
        if (r > 0) {
            *got = (size_t)r;
            return LOAD_IO_OK;
        }
        if (r == 0)
            return LOAD_IO_EOF;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? LOAD_IO_WANT_READ : LOAD_IO_ERROR;
    }
}

static enum load_io plain_write(struct load_sock *s, const char *buf, size_t n, size_t *put)
{
    for (;;) {
        ssize_t r = send(s->fd, buf, n, MSG_NOSIGNAL);
        if (r > 0) {
            *put = (size_t)r;
            return LOAD_IO_OK;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return LOAD_IO_WANT_WRITE;
        return LOAD_IO_ERROR;
    }
}

static bool plain_pending(const struct load_sock *s)
{
    (void)s;
    return false;
}

static void plain_close(struct load_sock *s)
{
    (void)s;
}

const struct load_sockops load_sock_plain = {
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .pending = plain_pending,
    .close = plain_close,
};
