/*
 * engine.h: what the load engine's files share, and nothing outside them sees.
 * Private to src/load/ (tests/unit may look inside).
 *
 * load.c owns the schedule, the worker loop, the bookkeeping and the public API. The HTTP work
 * of a request sits behind struct load_engine, a small table of function pointers (the way wrk
 * swaps plain and TLS sockets): curl.c drives libcurl multi (HTTP/2, anything), and
 * h1.c is a native HTTP/1.1 client for http:// and https:// URLs, several times cheaper per
 * request than libcurl (see the comment at its top and the README's bench section).
 *
 * The native engine's sockets are a second, smaller table, struct load_sockops, again as wrk
 * does: net.c is plain TCP (send/recv), tls.c is OpenSSL over the same non-blocking socket. h1.c
 * calls handshake/read/write/close through it and never asks which one it has.
 *
 * Life of a request: the worker loop takes a free slot, stamps its intended time and hands it to
 * engine->send(); the engine runs it on its connections and, when it is over, calls
 * load_slot_done() (slot.c) with the outcome, which records it and frees the slot. An engine never
 * touches the schedule, the timeline's bookkeeping or another worker.
 */
#ifndef ZD_LOAD_INT_H
#define ZD_LOAD_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "base/util.h"
#include "load/load.h"

#define LOAD_NEVER UINT64_MAX
/* epoll data of the worker's wake-up eventfd: no engine uses this value (not an fd, not a
 * pointer) */
#define LOAD_EV_WAKE          UINT64_MAX
#define LOAD_BODY_MATCH_MAX   (64u << 10) /* the expected-body regex sees at most this much */
#define LOAD_SETUP_UNRESOLVED (-2)

struct worker;
struct h1conn;

/* An intrusive doubly-linked list (h1.c's connection states and request queues). */
struct load_link {
    struct load_link *prev, *next;
};
struct load_list {
    struct load_link *head, *tail;
};

/* One request in flight, reused. Which slots a worker has is fixed: the in-flight cap. */
struct slot {
    struct worker *w;
    uint64_t sched_us; /* intended send time, us since the start of the load */
    uint32_t opened;   /* sockets opened for this request */
    bool retried;      /* re-sent on a fresh connection after a reused one died */
    bool busy;
    int next_free;
    char *body; /* the first LOAD_BODY_MATCH_MAX bytes, only with an expected-body regex */
    size_t body_len, body_cap;
    union {
        struct {
            void *easy;       /* CURL * */
            char *errbuf;     /* CURLOPT_ERRORBUFFER: why a TLS handshake failed */
            uint32_t prereqs; /* attempts that reached "connection ready, about to send" */
        } c;
        struct {
            struct h1conn *conn;     /* the connection carrying it; NULL while it waits for one */
            struct load_link flight; /* every request in flight, in start order */
            struct load_link wait;   /* requests waiting for a connection */
            uint64_t deadline;       /* absolute monotonic us: the request timeout */
            bool queued;
        } h;
    } e;
};

struct load_engine {
    const char *name;
    /* Once per load, before the workers: parse what the engine needs. -1 with *err, or
     * LOAD_SETUP_UNRESOLVED when the host does not resolve now (auto then takes libcurl). */
    int (*setup)(struct load *l, char **err);
    void (*teardown)(struct load *l);
    /* Once per worker, after its slots exist and before its thread starts. -1 with *err. */
    int (*worker_init)(struct worker *w, char **err);
    /* After the thread ended (nothing in flight): close connections, free everything. */
    void (*worker_free)(struct worker *w);
    /* Starts the request in slot s (taken, stamped, counted in flight); `now` is the absolute
     * monotonic us of a clock read a few us old at most (the engine need not read it again). */
    void (*send)(struct worker *w, struct slot *s, uint64_t now);
    /* An epoll event on something the engine registered in w->epfd. */
    void (*event)(struct worker *w, const struct epoll_event *ev);
    /* The next absolute monotonic us at which expire() has work; LOAD_NEVER = none. */
    uint64_t (*deadline)(struct worker *w);
    /* Runs what is due at `now` and hands finished requests to load_slot_done(). */
    void (*expire)(struct worker *w, uint64_t now);
};

extern const struct load_engine load_engine_curl;
extern const struct load_engine load_engine_h1;
/* Whether the native engine serves this URL: http:// or https://, no credentials, no HTTP/2. */
bool load_h1_supports(const char *url, bool http2);

/* ---- the native engine's sockets: plain (net.c) or TLS (tls.c) ---------------------------- */

enum load_io {
    LOAD_IO_OK,
    LOAD_IO_WANT_READ,  /* call again when the socket is readable */
    LOAD_IO_WANT_WRITE, /* call again when the socket is writable */
    LOAD_IO_EOF,        /* the peer closed the connection */
    LOAD_IO_ERROR,      /* broken: errno (plain) or a TLS error */
};

/* One connection's socket: the fd h1.c connected, and the TLS session on it (tls.c). */
struct load_sock {
    int fd;
    void *ssl; /* SSL *; NULL for plain sockets and before the handshake starts */
};

struct load_sockops {
    /* The TCP connection is up: make it a session. Plain: OK at once. TLS: OK when the
     * handshake is done, WANT_* while it runs, ERROR when it failed (the reason is kept once in
     * the load, see load_tls_error). */
    enum load_io (*handshake)(struct worker *w, struct load_sock *s);
    /* Up to n bytes: OK with *got > 0, WANT_*, EOF or ERROR. */
    enum load_io (*read)(struct load_sock *s, char *buf, size_t n, size_t *got);
    /* Up to n bytes: OK with *put > 0, WANT_* or ERROR. A write that wanted to be retried is
     * retried with the same bytes (the request buffer never moves). */
    enum load_io (*write)(struct load_sock *s, const char *buf, size_t n, size_t *put);
    /* Bytes already read from the socket and not yet handed out (TLS buffers records). */
    bool (*pending)(const struct load_sock *s);
    /* Frees what the session holds (the caller closes the fd); a TLS session whose handshake
     * completed stays resumable for the next connection. */
    void (*close)(struct load_sock *s);
};

/* resp.c: a complete, plain HTTP/1.1 response head at the start of buf[0..n) (the answer to a
 * HEAD request when head_req): true with *out filled in; false for anything it does not take,
 * which then goes to http-parser from its first byte (the comment at the top of resp.c). */
struct load_resp_head {
    int status;
    uint64_t body_len; /* the body bytes that follow the head */
    bool keep;         /* the connection may carry the next request */
    size_t head_len;   /* bytes of the head, the blank line included */
};
bool load_resp_scan(const char *buf, size_t n, bool head_req, struct load_resp_head *out);

/* The last head load_resp_scan took (one per worker). The scan's verdict depends on the head's
 * bytes alone, so an answer that starts with the same head_len bytes is the same head: a
 * memcmp instead of a scan (a server's answers differ, if at all, in their Date once a second). */
#define LOAD_RESP_CACHE_MAX 512
struct load_resp_cache {
    size_t len; /* bytes in head; 0 = empty */
    bool head_req;
    struct load_resp_head r;
    char head[LOAD_RESP_CACHE_MAX];
};
/* load_resp_scan, through the cache c (which it refreshes with every head it takes). */
bool load_resp_scan_cached(struct load_resp_cache *c, const char *buf, size_t n, bool head_req,
                           struct load_resp_head *out);

extern const struct load_sockops load_sock_plain; /* net.c */
extern const struct load_sockops load_sock_tls;   /* tls.c */

/* tls.c: the per-load TLS context (verification against the system store or ca_file, or none
 * with insecure; SNI and the name checked are `host`; ALPN http/1.1). -1 with *err. */
int load_tls_setup(struct load *l, const char *host, char **err);
void load_tls_teardown(struct load *l);
/* Frees the worker's session kept for resumption. */
void load_tls_worker_free(struct worker *w);

struct seg {
    uint64_t t0;
    double c0, ra, rb;
    uint64_t ramp_us;
};

struct profile {
    struct seg cur, prev;
    bool has_prev;
};

struct worker {
    struct load *l;
    unsigned id;
    pthread_t th;
    bool started;
    int epfd, efd;
    bool no_pwait2; /* epoll_pwait2 missing: millisecond waits */
    /* closed loop only: before a blocking wait, look at the epoll set without sleeping while
     * that has been paying off (load.c, spin()) */
    bool spin;
    bool nap;           /* ... after a nap on its own timer, not spinning (a thread per core) */
    int spin_credit;    /* looks that found events, minus two for each that gave up */
    unsigned spin_idle; /* blocking waits since spinning stopped paying off */
    void *eng;          /* the engine's per-worker state */
    struct slot *slots;
    unsigned nslots, inflight;
    int free_head;
    uint64_t ndone;      /* requests load_slot_done() has recorded */
    uint64_t done_rel;   /* when the last of them was (us since start): the clock read it took */
    unsigned conns;      /* this worker's share of the connections */
    uint64_t k;          /* the next global request index this worker sends */
    uint64_t next_sched; /* its intended time (us since start); LOAD_NEVER = none (yet) */
    unsigned prof_ver;
    struct profile prof;
    uint64_t next_rate_at; /* worker 0: next interval boundary whose rate goes to the timeline */
    uint64_t next_tick;
    pcre2_match_data *md;
    void *tls_sess;             /* SSL_SESSION * the next TLS connection resumes (tls.c) */
    _Atomic uint64_t watermark; /* nothing before this is still to be recorded by this worker */
    _Atomic bool finished;
    /* snapshot-readable stats */
    pthread_mutex_t mu;
    struct hist *lateness;
    struct hist *connect_us;   /* TCP connect times (native engine) */
    struct hist *handshake_us; /* TLS handshake times, from TCP up to the session ready */
    _Atomic uint64_t status[6];
    _Atomic uint64_t bytes;
    _Atomic uint64_t tls_handshakes, tls_resumed, tls_failed;
};

struct load {
    const struct load_engine *eng;
    void *eng_state; /* the engine's per-load state (setup/teardown) */
    char *url, *method, *body;
    size_t body_len;
    bool nobody;                       /* HEAD */
    const struct load_header *headers; /* valid during setup only */
    size_t nheaders;
    int *exp_lo, *exp_hi;
    size_t nexp;
    pcre2_code *re;
    bool http2, insecure;
    char *ca_file; /* NULL = the system CA store */
    void *tls;     /* tls.c's per-load state (SSL_CTX ...) */
    /* the first TLS handshake failure's reason: 0 none, 1 being written, 2 there (read-only) */
    _Atomic int tls_err_state;
    char tls_err[256];
    const char *why; /* why this engine: "auto: ..." (a string constant) */
    uint64_t timeout_us, connect_timeout_us, duration_us;
    bool closed_loop;
    struct timeline *tl;
    uint64_t t0;
    pthread_mutex_t prof_mu;
    struct profile prof;
    _Atomic unsigned prof_ver;
    _Atomic bool stop;
    _Atomic uint64_t end_us; /* when scheduling ended (us since start); 0 = still going */
    unsigned nworkers;
    struct worker *w;
    bool joined;
    /* start line: workers get ready, then the clock starts for all at once */
    pthread_mutex_t start_mu;
    pthread_cond_t start_cv;
    unsigned ready;
    bool go;
};

/* The outcome of a complete response with status `code` to the request in s: ok, http_4xx,
 * http_5xx, other (an unexpected 1xx-3xx) or body_mismatch; counts the status class. */
enum tl_outcome load_response_outcome(struct worker *w, struct slot *s, long code);
/* Keeps the start of a response body for the expected-body regex (no-op without one). */
void load_body_append(struct slot *s, const char *data, size_t n);
/* A request is over: records it (outcome, latency from its intended time, connections opened,
 * re-send, body bytes) and gives the slot back. */
void load_slot_done(struct worker *w, struct slot *s, enum tl_outcome o, uint64_t bytes);
/* Keeps the first TLS handshake failure's reason in the load (later ones: no-op). */
void load_tls_note_error(struct load *l, const char *fmt, ...) ZD_PRINTF(2, 3);
/* Records a connection's TCP connect time (hs_us 0) or, separately, its TLS handshake time. */
void load_conn_timed(struct worker *w, uint64_t connect_us, uint64_t hs_us);

#endif
