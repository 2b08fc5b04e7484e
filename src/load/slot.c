/*
 * slot: what every engine calls when a request ends: the response's outcome class (status
 * expected, body regex), the body kept for matching, and the slot handed back with its result
 * recorded in the timeline. Its own unit so the engines (h1.c, curl.c) depend on it and load.c
 * depends on the engines, never the other way round.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "load/engine.h"

#include "base/util.h"

#include "base/banned.h"

static bool status_expected(const struct load *l, long code)
{
    if (l->nexp == 0)
        return code >= 200 && code <= 399;
    for (size_t i = 0; i < l->nexp; i++)
        if (code >= l->exp_lo[i] && code <= l->exp_hi[i])
            return true;
    return false;
}

enum tl_outcome load_response_outcome(struct worker *w, struct slot *s, long code)
{
    struct load *l = w->l;
    if (code >= 100 && code <= 599)
        atomic_fetch_add_explicit(&w->status[code / 100], 1, memory_order_relaxed);
    if (!status_expected(l, code)) {
        if (code >= 400 && code <= 499)
            return TL_HTTP_4XX;
        if (code >= 500 && code <= 599)
            return TL_HTTP_5XX;
        return TL_OTHER;
    }
    if (l->re && pcre2_match(l->re, (PCRE2_SPTR)(s->body ? s->body : ""), s->body_len, 0, 0, w->md,
                             NULL) < 0)
        return TL_BODY_MISMATCH;
    return TL_OK;
}

void load_body_append(struct slot *s, const char *data, size_t n)
{
    if (!s->w->l->re || s->body_len >= LOAD_BODY_MATCH_MAX)
        return;
    size_t take = LOAD_BODY_MATCH_MAX - s->body_len;
    if (take > n)
        take = n;
    if (s->body_len + take > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap : 1024;
        while (cap < s->body_len + take)
            cap *= 2;
        if (cap > LOAD_BODY_MATCH_MAX)
            cap = LOAD_BODY_MATCH_MAX;
        s->body = xrealloc(s->body, cap);
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, data, take);
    s->body_len += take;
}

void load_slot_done(struct worker *w, struct slot *s, enum tl_outcome o, uint64_t bytes)
{
    struct load *l = w->l;
    uint64_t now = zd_now_us() - l->t0;
    w->done_rel = now;
    w->ndone++;
    tl_record(l->tl, s->sched_us, o, now > s->sched_us ? now - s->sched_us : 0);
    if (s->opened || s->retried)
        tl_record_conn(l->tl, now, s->opened, s->retried);
    if (bytes)
        atomic_fetch_add_explicit(&w->bytes, bytes, memory_order_relaxed);
    s->busy = false;
    s->next_free = w->free_head;
    w->free_head = (int)(s - w->slots);
    w->inflight--;
}

void load_conn_timed(struct worker *w, uint64_t connect_us, uint64_t hs_us)
{
    pthread_mutex_lock(&w->mu);
    if (!hs_us)
        hist_record(w->connect_us, connect_us);
    else
        hist_record(w->handshake_us, hs_us);
    pthread_mutex_unlock(&w->mu);
}

void load_tls_note_error(struct load *l, const char *fmt, ...)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&l->tls_err_state, &expect, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->tls_err, sizeof(l->tls_err), fmt, ap);
    va_end(ap);
    atomic_store(&l->tls_err_state, 2);
}
