/*
 * load: open-loop HTTP load: a native HTTP/1.1 client for http:// and https://, libcurl multi for
 * the rest (HTTP/2, URLs with credentials).
 *
 * Requests go out on a schedule set by the target rate, not by how fast answers come back;
 * latency is measured from the *intended* send time (no coordinated omission). What the schedule
 * wanted but could not send is counted as not_sent. Worker threads each run their own multi
 * handle; the results land in one timeline. The library never prints.
 *
 * Files (src/load/): load.c the schedule, workers and public API; engine.h the engine table
 * and the socket table (private to the folder); h1.c the native HTTP/1.1 engine, over net.c
 * (plain TCP) or tls.c (OpenSSL), swapped through the socket table; resp.c its quick scan of the
 * common response head (http-parser for the rest); curl.c the libcurl engine; slot.c what both
 * engines call when a request ends; timeline.c the per-interval results; hist.c the latency
 * histogram.
 * May use: base, libcurl, OpenSSL, http-parser, pcre2, pthreads.
 * Used by: run (the runner drives it, journal and measure read its timeline), cmd/load.c, and
 * report (timeline and histogram types only). Never uses scenario, target or run: the runner
 * translates a scenario's load section into struct load_opts.
 */
#ifndef ZD_LOAD_H
#define ZD_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/hist.h"
#include "load/timeline.h"

struct load_header {
    const char *name;
    const char *value;
};

enum load_engine_kind {
    LOAD_ENGINE_AUTO,   /* native for http:// and https:// (no HTTP/2, no credentials), else curl */
    LOAD_ENGINE_NATIVE, /* load_start fails for a URL it cannot serve */
    LOAD_ENGINE_CURL,
};

/* The engines by name, in enum order, NULL-terminated: "auto", "native", "curl". */
extern const char *const load_engine_names[];
/* The engine called `name` into *out: 0, or -1 for a name that is none of them. */
int load_engine_parse(const char *name, enum load_engine_kind *out);

struct load_opts {
    const char *url;
    const char *method; /* NULL = GET */
    const struct load_header *headers;
    size_t nheaders;
    const char *body; /* NULL = none */
    size_t body_len;
    double rate;                 /* requests/s; 0 = closed loop (as fast as connections allow) */
    uint64_t ramp_us;            /* linear ramp from 0 to rate */
    uint64_t duration_us;        /* stop scheduling after this; 0 = until load_stop() */
    uint32_t connections;        /* total across threads; default 64 */
    uint32_t threads;            /* 0 = one per core */
    uint32_t max_in_flight;      /* 0 = connections */
    uint64_t timeout_us;         /* per request; default 2s */
    uint64_t connect_timeout_us; /* default 1s */
    const int *expect_lo;        /* expected status ranges (inclusive); none = 200..399 */
    const int *expect_hi;
    size_t nexpect;
    const char *expect_body; /* pcre2 regex on the body; NULL = any */
    bool http2;
    bool insecure;       /* TLS: no certificate verification */
    const char *ca_file; /* TLS: verify against the certificates in this PEM file; NULL = the
                            system CA store */
    enum load_engine_kind engine;
    uint64_t interval_us; /* timeline interval; default 100ms */
    size_t max_intervals; /* default: duration / interval + slack, or 10 min worth */
};

struct load;

/* Validates the options (bad URL, bad regex: -1 with *err) and starts the workers.
 * The clock of the timeline starts now. */
struct load *load_start(const struct load_opts *o, char **err);
/* Changes the target rate from now on, ramping linearly over ramp_us (0 = at once).
 * Thread-safe; used by the runner for traffic spikes. Ignored by a closed-loop load (one started
 * with rate 0); in an open-loop load, rate 0 pauses sending. */
void load_set_rate(struct load *l, double rate, uint64_t ramp_us);
double load_rate(const struct load *l);
/* "native" or "curl": the engine the load runs on. */
const char *load_engine_name(const struct load *l);
/* Why that engine, for people: "auto: native for https:// over HTTP/1.1", "asked for". */
const char *load_engine_why(const struct load *l);
/* The worker threads the load runs on (load_opts.threads, or one per core, at most one per
 * connection). */
unsigned load_threads(const struct load *l);
/* The first TLS handshake failure's reason (every later one is only counted, as tls_error), or
 * NULL when none failed. Owned by the load; no URL credentials in it. */
const char *load_tls_error(const struct load *l);
/* The live timeline (owned by the load; valid until load_free). */
struct timeline *load_timeline(struct load *l);
/* Microseconds since the load started (the timeline's clock). */
uint64_t load_elapsed_us(const struct load *l);
/* True once duration_us has passed and every request has finished. */
bool load_done(const struct load *l);
/* Stops scheduling, waits for requests in flight (at most the request timeout), joins the
 * workers and completes the timeline. Safe to call twice. */
void load_stop(struct load *l);
void load_free(struct load *l);

/* Whole-run totals (after load_stop; before, a snapshot). */
struct load_totals {
    uint64_t counts[TL_OUTCOME__COUNT];
    uint64_t total, errors;
    uint64_t status[6]; /* responses by class: [1]=1xx ... [5]=5xx */
    uint64_t conns_opened, retried;
    uint64_t bytes_received;
    uint64_t elapsed_us;
    double achieved_rate;     /* requests sent per second */
    uint64_t lateness_p99_us; /* how late sends left compared with the schedule */
    uint64_t lateness_max_us;
    /* native engine: TCP connect and TLS handshake times of the connections opened */
    uint64_t connects, connect_p50_us, connect_p99_us;
    uint64_t handshake_p50_us, handshake_p99_us;
    uint64_t tls_handshakes, tls_resumed, tls_failed; /* completed, of them resumed; failed */
};
void load_totals(const struct load *l, struct load_totals *out);
/* Latency of the whole run (a copy the caller frees with hist_free). */
struct hist *load_latency(const struct load *l);

#endif
