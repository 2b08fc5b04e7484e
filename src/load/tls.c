/*
 * tls: the native engine's TLS socket (struct load_sockops, engine.h), OpenSSL over the same
 * non-blocking TCP socket h1.c connects; the counterpart of net.c, swapped in through the table
 * the way wrk's ssl.c is.
 *
 * The handshake runs inside the worker's event loop: SSL_do_handshake until it stops asking for
 * the socket to be readable or writable; h1.c keeps the connection in its connecting state (and
 * under the connect timeout) until then. What a connection offers: SNI (for a name, not an IP
 * literal), ALPN "http/1.1", TLS 1.2 or 1.3, and the last session this worker was given, so a
 * replaced connection resumes instead of paying a full handshake (a reconnect storm during an
 * outage is not a full-handshake storm). The certificate is checked against the system CA store
 * (or ca_file) and the URL's host name or IP address unless the load is insecure.
 *
 * A handshake that fails is counted as its own outcome (tls_error); its first reason is kept
 * once in the load (a certificate refused by 2,000 connections is one clear line, not 2,000).
 *
 * Costs: read-ahead is on, so a record costs one recv() instead of two (header, then body) and
 * h1.c reads on while OpenSSL still holds bytes (pending); closing a connection sends no
 * close_notify (one syscall less; the session is marked shut down cleanly so it stays
 * resumable).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/engine.h"
#include "base/util.h"

#include "base/banned.h"

struct tlsload {
    SSL_CTX *ctx;
    char *host; /* checked against the certificate, and sent as SNI unless an IP literal */
    bool ip;
    bool verify;
};

/* OpenSSL hands the client every session (TLS 1.3: each ticket) here; the worker keeps the
 * newest for its next connection. 1: the reference is ours. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct worker *w = SSL_get_app_data(ssl);
    if (!w || !SSL_SESSION_is_resumable(sess))
        return 0;
    if (w->tls_sess)
        SSL_SESSION_free(w->tls_sess);
    w->tls_sess = sess;
    return 1;
}

static void handshake_failed(struct worker *w, SSL *ssl, int rc, int e)
{
    struct load *l = w->l;
    struct tlsload *t = l->tls;
    long v = SSL_get_verify_result(ssl);
    unsigned long code = ERR_peek_last_error();
    if (t->verify && v != X509_V_OK)
        load_tls_note_error(l, "TLS handshake with '%s' failed: certificate refused: %s", t->host,
                            X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SYSCALL && errno == ECONNRESET)
        load_tls_note_error(l, "TLS handshake with '%s' failed: connection reset by the server",
                            t->host);
    else if (e == SSL_ERROR_SYSCALL || (e == SSL_ERROR_ZERO_RETURN) || (rc == 0 && !code))
        load_tls_note_error(l, "TLS handshake with '%s' failed: the server closed the connection",
                            t->host);
    else
        load_tls_note_error(l, "TLS handshake with '%s' failed: %s", t->host,
                            code ? ERR_reason_error_string(code) : "unknown error");
    ERR_clear_error();
    atomic_fetch_add_explicit(&w->tls_failed, 1, memory_order_relaxed);
}

static enum load_io tls_handshake(struct worker *w, struct load_sock *s)
{
    struct tlsload *t = w->l->tls;
    SSL *ssl = s->ssl;
    if (!ssl) {
        ssl = SSL_new(t->ctx);
        if (!ssl || SSL_set_fd(ssl, s->fd) != 1) {
            load_tls_note_error(w->l, "cannot create a TLS session: %s",
                                ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            SSL_free(ssl);
            atomic_fetch_add_explicit(&w->tls_failed, 1, memory_order_relaxed);
            return LOAD_IO_ERROR;
        }
        SSL_set_app_data(ssl, w);
        if (!t->ip)
            SSL_set_tlsext_host_name(ssl, t->host);
        if (t->verify) {
            if (t->ip)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host);
            else
                SSL_set1_host(ssl, t->host);
        }
        if (w->tls_sess)
            SSL_set_session(ssl, w->tls_sess);
        SSL_set_connect_state(ssl);
        s->ssl = ssl;
    }
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        atomic_fetch_add_explicit(&w->tls_handshakes, 1, memory_order_relaxed);
        if (SSL_session_reused(ssl))
            atomic_fetch_add_explicit(&w->tls_resumed, 1, memory_order_relaxed);
        return LOAD_IO_OK;
    }
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return LOAD_IO_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return LOAD_IO_WANT_WRITE;
    handshake_failed(w, ssl, rc, e);
    return LOAD_IO_ERROR;
}

static enum load_io io_error(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ: return LOAD_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return LOAD_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return LOAD_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (errno == 0 && ERR_peek_error() == 0)
            return LOAD_IO_EOF; /* an EOF without close_notify */
        ERR_clear_error();
        return LOAD_IO_ERROR;
    default: ERR_clear_error(); return LOAD_IO_ERROR;
    }
}

static enum load_io tls_read(struct load_sock *s, char *buf, size_t n, size_t *got)
{
    errno = 0;
    int rc = SSL_read(s->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (rc > 0) {
        *got = (size_t)rc;
        return LOAD_IO_OK;
    }
    return io_error(s->ssl, rc);
}

static enum load_io tls_write(struct load_sock *s, const char *buf, size_t n, size_t *put)
{
    errno = 0;
    int rc = SSL_write(s->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (rc > 0) {
        *put = (size_t)rc;
        return LOAD_IO_OK;
    }
    return io_error(s->ssl, rc);
}

static bool tls_pending(const struct load_sock *s)
{
    return s->ssl && SSL_has_pending(s->ssl);
}

static void tls_close(struct load_sock *s)
{
    if (!s->ssl)
        return;
    /* no close_notify on the wire, but a session OpenSSL would otherwise mark unresumable
     * (freed without a shutdown) stays good for the next connection */
    if (SSL_is_init_finished(s->ssl))
        SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(s->ssl);
    s->ssl = NULL;
}

const struct load_sockops load_sock_tls = {
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .close = tls_close,
};

int load_tls_setup(struct load *l, const char *host, char **err)
{
    struct tlsload *t = xcalloc(1, sizeof(*t));
    l->tls = t;
    size_t hlen = strlen(host);
    t->host = host[0] == '[' && hlen > 2 ? xstrndup(host + 1, hlen - 2) : xstrdup(host);
    unsigned char bin[16];
    t->ip = inet_pton(AF_INET, t->host, bin) == 1 || inet_pton(AF_INET6, t->host, bin) == 1;
    t->verify = !l->insecure;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx)
        goto ssl_fail;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a server that closes without close_notify ends a response that runs to the close */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_read_ahead(t->ctx, 1);
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(t->ctx, alpn, sizeof(alpn) - 1) != 0)
        goto ssl_fail;
    SSL_CTX_set_session_cache_mode(t->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(t->ctx, on_new_session);
    if (!t->verify) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (l->ca_file) {
        if (SSL_CTX_load_verify_locations(t->ctx, l->ca_file, NULL) != 1) {
            unsigned long code = ERR_peek_last_error();
            zd_err(err, "cannot use '%s' as CA file: %s", l->ca_file,
                   code ? ERR_reason_error_string(code) : "no certificate in it");
            ERR_clear_error();
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        goto ssl_fail;
    }
    return 0;
ssl_fail:
    zd_err(err, "cannot set up TLS: %s", ERR_reason_error_string(ERR_peek_last_error()));
    ERR_clear_error();
    return -1;
}

void load_tls_teardown(struct load *l)
{
    struct tlsload *t = l->tls;
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->host);
    free(t);
    l->tls = NULL;
}

void load_tls_worker_free(struct worker *w)
{
    if (w->tls_sess)
        SSL_SESSION_free(w->tls_sess);
    w->tls_sess = NULL;
}
