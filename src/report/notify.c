/*
 * notify: webhook notifications while a run goes (run started, fault applied and undone, guard
 * fired, run finished with the score), for a team channel or an events stream.
 *
 * A notification must never slow, block or fail the run: rp_notify only copies the event into a
 * bounded queue (a full queue drops it and counts the drop) and one thread of our own posts the
 * queue with libcurl, each post bounded (2 s to connect, 4 s in all). At the end the caller
 * gives the queue a bounded time to drain. Bodies: our own JSON, a Slack incoming-webhook body
 * ({"text": ...}) or a Datadog event (title, text, alert_type, tags). Webhook URLs carry secrets
 * (a Slack URL's path is its key), so they are only ever shown as scheme://host/….
 */
#include "report/report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/banned.h"

#define NF_QUEUE      64u
#define NF_MAX_URLS   16u
#define NF_CONNECT_MS 2000L
#define NF_TIMEOUT_MS 4000L
#define NF_BODY_LIMIT (64u << 10)

struct nf_url {
    enum rp_notify_fmt fmt;
    char *url;
    char *shown;
};

struct nf_msg {
    char *event, *text, *step, *status;
    uint64_t t_us, wall_us;
    double score;
};

struct rp_notifier {
    struct nf_url urls[NF_MAX_URLS];
    size_t nurls;
    char *scenario, *run_dir;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct nf_msg q[NF_QUEUE];
    size_t head, len;
    bool stop, busy;
    uint64_t deadline_us; /* once stopping: give up on what is left after this */
    size_t posted, failed, dropped;
    char *last_error;
};

static void msg_free(struct nf_msg *m)
{
    free(m->event);
    free(m->text);
    free(m->step);
    free(m->status);
}

static const char *alert_type(const char *event, const char *status)
{
    if (strcmp(event, "guard_fired") == 0)
        return "error";
    if (strcmp(event, "fault_applied") == 0)
        return "warning";
    if (strcmp(event, "run_finished") == 0)
        return status && strcmp(status, "passed") == 0 ? "success" : "error";
    return "info";
}

static char *body_of(const struct rp_notifier *nf, enum rp_notify_fmt fmt, const struct nf_msg *m)
{
    struct sbuf b = SBUF_INIT;
    char *text = zd_text_redact(m->text ? m->text : "");
    char *line = xasprintf("zonedef %s: %s", nf->scenario, text);
    if (fmt == RP_NOTIFY_SLACK) {
        sbuf_adds(&b, "{\"text\":");
        sbuf_add_json_str(&b, line);
        sbuf_adds(&b, "}");
    } else if (fmt == RP_NOTIFY_DATADOG) {
        char *title = xasprintf("zonedef %s: %s", nf->scenario, m->event);
        sbuf_adds(&b, "{\"title\":");
        sbuf_add_json_str(&b, title);
        sbuf_adds(&b, ",\"text\":");
        sbuf_add_json_str(&b, text);
        sbuf_addf(&b,
                  ",\"alert_type\":\"%s\",\"source_type_name\":\"zonedef\","
                  "\"date_happened\":%llu,\"aggregation_key\":",
                  alert_type(m->event, m->status), (unsigned long long)(m->wall_us / 1000000));
        sbuf_add_json_str(&b, nf->run_dir ? nf->run_dir : nf->scenario);
        char *t1 = xasprintf("scenario:%s", nf->scenario);
        char *t2 = xasprintf("event:%s", m->event);
        sbuf_adds(&b, ",\"tags\":[");
        sbuf_add_json_str(&b, t1);
        sbuf_addc(&b, ',');
        sbuf_add_json_str(&b, t2);
        sbuf_adds(&b, "]}");
        free(t1);
        free(t2);
        free(title);
    } else {
        char iso[40];
        sbuf_adds(&b, "{\"source\":\"zonedef\",\"event\":");
        sbuf_add_json_str(&b, m->event);
        sbuf_adds(&b, ",\"scenario\":");
        sbuf_add_json_str(&b, nf->scenario);
        sbuf_adds(&b, ",\"run_dir\":");
        if (nf->run_dir)
            sbuf_add_json_str(&b, nf->run_dir);
        else
            sbuf_adds(&b, "null");
        sbuf_addf(&b, ",\"t_s\":%.3f,\"at\":", (double)m->t_us / 1e6);
        sbuf_add_json_str(&b, zd_iso8601(m->wall_us, iso, sizeof(iso)));
        sbuf_adds(&b, ",\"text\":");
        sbuf_add_json_str(&b, text);
        if (m->step) {
            sbuf_adds(&b, ",\"step\":");
            sbuf_add_json_str(&b, m->step);
        }
        if (m->status) {
            sbuf_adds(&b, ",\"status\":");
            sbuf_add_json_str(&b, m->status);
        }
        if (m->score >= 0)
            sbuf_addf(&b, ",\"score\":%.1f", m->score);
        sbuf_adds(&b, "}");
    }
    free(line);
    free(text);
    return sbuf_detach(&b);
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* One POST; 0 on a 2xx, -1 with *err otherwise. */
static int post(const struct nf_url *u, const char *body, long timeout_ms, char **err)
{
    CURL *c = curl_easy_init();
    if (!c)
        return zd_err(err, "cannot start libcurl");
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char eb[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, u->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     NF_CONNECT_MS < timeout_ms ? NF_CONNECT_MS : timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "zonedef/" ZD_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) /* libcurl's messages may hold the URL: only our shown form goes out */
        return zd_err(err, "%s: %s", u->shown, curl_easy_strerror(rc));
    if (status < 200 || status > 299)
        return zd_err(err, "%s: HTTP %ld", u->shown, status);
    return 0;
}

static void *worker(void *arg)
{
    struct rp_notifier *nf = arg;
    pthread_mutex_lock(&nf->mu);
    for (;;) {
        while (nf->len == 0 && !nf->stop)
            pthread_cond_wait(&nf->cv, &nf->mu);
        if (nf->len == 0 && nf->stop)
            break;
        struct nf_msg m = nf->q[nf->head];
        nf->head = (nf->head + 1) % NF_QUEUE;
        nf->len--;
        nf->busy = true;
        bool stopping = nf->stop;
        uint64_t deadline = nf->deadline_us;
        pthread_mutex_unlock(&nf->mu);
        for (size_t i = 0; i < nf->nurls; i++) {
            long budget = NF_TIMEOUT_MS;
            if (stopping) {
                uint64_t now = zd_now_us();
                budget = now >= deadline ? 0 : (long)((deadline - now) / 1000);
                if (budget > NF_TIMEOUT_MS)
                    budget = NF_TIMEOUT_MS;
            }
            char *err = NULL;
            int rc = budget < 50 ? zd_err(&err, "%s: no time left to post", nf->urls[i].shown) : 0;
            if (rc == 0) {
                char *body = body_of(nf, nf->urls[i].fmt, &m);
                rc = post(&nf->urls[i], body, budget, &err);
                free(body);
            }
            pthread_mutex_lock(&nf->mu);
            if (rc == 0) {
                nf->posted++;
            } else {
                nf->failed++;
                free(nf->last_error);
                nf->last_error = err;
                err = NULL;
            }
            pthread_mutex_unlock(&nf->mu);
            free(err);
        }
        msg_free(&m);
        pthread_mutex_lock(&nf->mu);
        nf->busy = false;
        pthread_cond_broadcast(&nf->cv);
    }
    pthread_mutex_unlock(&nf->mu);
    return NULL;
}

struct rp_notifier *rp_notify_new(const char *const *specs, size_t n, const char *scenario,
                                  const char *run_dir, char **err)
{
    if (n > NF_MAX_URLS) {
        zd_err(err, "at most %u webhooks (the scenario's notify and --notify together)",
               NF_MAX_URLS);
        return NULL;
    }
    struct rp_notifier *nf = xcalloc(1, sizeof(*nf));
    for (size_t i = 0; i < n; i++) {
        const char *s = specs[i];
        enum rp_notify_fmt f = RP_NOTIFY_JSON;
        if (zd_str_has_prefix(s, "slack="))
            f = RP_NOTIFY_SLACK, s += 6;
        else if (zd_str_has_prefix(s, "datadog="))
            f = RP_NOTIFY_DATADOG, s += 8;
        else if (zd_str_has_prefix(s, "json="))
            s += 5;
        if (!zd_str_has_prefix(s, "http://") && !zd_str_has_prefix(s, "https://")) {
            char *shown = zd_text_redact(specs[i]);
            zd_err(err, "--notify '%s': want [slack=|datadog=|json=]http(s)://...", shown);
            free(shown);
            for (size_t k = 0; k < nf->nurls; k++) {
                free(nf->urls[k].url);
                free(nf->urls[k].shown);
            }
            free(nf);
            return NULL;
        }
        nf->urls[nf->nurls++] = (struct nf_url){f, xstrdup(s), rp_url_display(s)};
    }
    nf->scenario = xstrdup(scenario ? scenario : "?");
    nf->run_dir = run_dir ? xstrdup(run_dir) : NULL;
    pthread_mutex_init(&nf->mu, NULL);
    pthread_cond_init(&nf->cv, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&nf->thr, NULL, worker, nf) != 0) {
        zd_err(err, "cannot start the notification thread");
        nf->stop = true;
        rp_notify_close(nf, 0, NULL);
        return NULL;
    }
    return nf;
}

void rp_notify(struct rp_notifier *nf, const char *event, const char *text, const char *step,
               uint64_t t_us, const char *status, double score)
{
    if (!nf || nf->nurls == 0)
        return;
    pthread_mutex_lock(&nf->mu);
    if (nf->len == NF_QUEUE || nf->stop) {
        nf->dropped++;
    } else {
        nf->q[(nf->head + nf->len) % NF_QUEUE] = (struct nf_msg){xstrdup(event),
                                                                 text ? xstrdup(text) : NULL,
                                                                 step ? xstrdup(step) : NULL,
                                                                 status ? xstrdup(status) : NULL,
                                                                 t_us,
                                                                 zd_wall_us(),
                                                                 score};
        nf->len++;
        pthread_cond_signal(&nf->cv);
    }
    pthread_mutex_unlock(&nf->mu);
}

void rp_notify_close(struct rp_notifier *nf, uint64_t wait_us, char **summary)
{
    if (summary)
        *summary = NULL;
    if (!nf)
        return;
    pthread_mutex_lock(&nf->mu);
    bool started = !nf->stop;
    nf->stop = true;
    nf->deadline_us = zd_now_us() + wait_us;
    pthread_cond_broadcast(&nf->cv);
    pthread_mutex_unlock(&nf->mu);
    if (started)
        pthread_join(nf->thr, NULL); /* every post is bounded by the deadline */
    size_t total = nf->posted + nf->failed + nf->dropped;
    if (summary && (nf->failed || nf->dropped))
        *summary = xasprintf("notify: %zu of %zu posts failed%s%s%s", nf->failed + nf->dropped,
                             total, nf->dropped ? " (queue full)" : "", nf->last_error ? ": " : "",
                             nf->last_error ? nf->last_error : "");
    for (size_t i = 0; i < nf->len; i++)
        msg_free(&nf->q[(nf->head + i) % NF_QUEUE]);
    for (size_t i = 0; i < nf->nurls; i++) {
        free(nf->urls[i].url);
        free(nf->urls[i].shown);
    }
    free(nf->last_error);
    free(nf->scenario);
    free(nf->run_dir);
    pthread_mutex_destroy(&nf->mu);
    pthread_cond_destroy(&nf->cv);
    free(nf);
}
