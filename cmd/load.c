/*
 * load: `zonedef load URL [options]`, the load engine on its own, next to wrk and vegeta.
 *
 * Open loop at --rate (latency from the intended send time, what could not be sent counted as
 * not_sent), or closed loop without it (as fast as the connections go, for benchmarks). Prints a
 * wrk-like summary, a progress line once a second when stderr is a terminal, and with --json the
 * whole result including the per-interval timeline. Ctrl-C stops the run early and still prints.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "load/load.h"

#include "base/banned.h"

#define MAX_DURATION_US (24ull * 3600 * 1000000)
#define MAX_BODY_FILE   (1u << 20)
#define MAX_HEADERS     64
#define MAX_EXPECT      32

static const char usage_text[] =
    "usage: zonedef load URL [options]\n"
    "\n"
    "Sends HTTP requests to URL on an open-loop schedule (--rate) and measures what came back;\n"
    "without --rate, runs closed-loop as fast as the connections allow (like wrk).\n"
    "\n"
    "  --rate N              requests per second (open loop; at most 1000000); 0 = closed loop\n"
    "  --duration D          how long to send (default 10s, at most 24h)\n"
    "  --ramp D              ramp linearly from 0 to --rate over D\n"
    "  --connections N       connections across all threads (default 64)\n"
    "  --threads N           worker threads (default: one per core)\n"
    "  --max-in-flight N     requests outstanding at once (default: --connections)\n"
    "  --timeout D           per-request timeout (default 2s, at most 60s)\n"
    "  --connect-timeout D   connect timeout, TCP and TLS (default 1s)\n"
    "  --expect-status LIST  statuses that count as ok: 2xx, 200, 200-204, comma-separated\n"
    "                        (default 200-399)\n"
    "  --expect-body REGEX   a PCRE2 regex the response body (first 64 KiB) must match\n"
    "  -H, --header 'N: V'   a request header (repeatable, at most 64)\n"
    "  --method M            request method (default GET, or POST with a body)\n"
    "  --body TEXT           request body\n"
    "  --body-file FILE      request body from a file (at most 1 MiB)\n"
    "  --http2               HTTP/2 (TLS with ALPN for https://, prior knowledge for http://)\n"
    "  --insecure            do not verify the TLS certificate\n"
    "  --cacert FILE         verify the TLS certificate against the CAs in FILE (PEM) instead\n"
    "                        of the system store\n"
    "  --engine E            auto (default: native for http:// and https:// over HTTP/1.1,\n"
    "                        curl for HTTP/2 and URLs with credentials), native (zonedef's own\n"
    "                        HTTP/1.1 client, plain and TLS) or curl (libcurl multi)\n"
    "  --interval D          timeline interval (default 100ms)\n"
    "  --json FILE           write the full result, with the timeline, as JSON\n"
    "  --quiet               no summary and no progress line\n"
    "\n"
    "Durations: 500ms, 10s, 2m. Exit status: 0 when the run completed, 2 on bad options,\n"
    "3 when interrupted (the summary is still printed), 5 on a runtime error.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static const struct option longopts[] = {
    {"rate", required_argument, NULL, 'r'},
    {"duration", required_argument, NULL, 'd'},
    {"ramp", required_argument, NULL, 'R'},
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"max-in-flight", required_argument, NULL, 'M'},
    {"timeout", required_argument, NULL, 'T'},
    {"connect-timeout", required_argument, NULL, 'C'},
    {"expect-status", required_argument, NULL, 'S'},
    {"expect-body", required_argument, NULL, 'B'},
    {"header", required_argument, NULL, 'H'},
    {"method", required_argument, NULL, 'm'},
    {"body", required_argument, NULL, 'b'},
    {"body-file", required_argument, NULL, 'F'},
    {"http2", no_argument, NULL, '2'},
    {"insecure", no_argument, NULL, 'k'},
    {"cacert", required_argument, NULL, 'A'},
    {"engine", required_argument, NULL, 'E'},
    {"interval", required_argument, NULL, 'i'},
    {"json", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

/* "2xx", "200", "200-204", comma-separated. */
static int parse_expect(const char *s, int *lo, int *hi, size_t *n, char **err)
{
    char *copy = xstrdup(s), *save = NULL;
    int rc = 0;
    *n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (*n >= MAX_EXPECT) {
            rc = zd_err(err, "--expect-status: at most %d entries", MAX_EXPECT);
            break;
        }
        int a, b;
        if (len == 3 && tok[0] >= '1' && tok[0] <= '5' && (tok[1] == 'x' || tok[1] == 'X') &&
            (tok[2] == 'x' || tok[2] == 'X')) {
            a = (tok[0] - '0') * 100;
            b = a + 99;
        } else {
            char *dash = strchr(tok, '-');
            long long x, y;
            if (dash)
                *dash = '\0';
            if (zd_parse_int(tok, 100, 599, &x, NULL) < 0 ||
                (dash && zd_parse_int(dash + 1, 100, 599, &y, NULL) < 0)) {
                if (dash)
                    *dash = '-';
                rc = zd_err(err, "--expect-status: '%s' is not a status (like 200, 2xx or 200-204)",
                            tok);
                break;
            }
            a = (int)x;
            b = dash ? (int)y : a;
            if (a > b) {
                rc = zd_err(err, "--expect-status: range '%d-%d' is backwards", a, b);
                break;
            }
        }
        lo[*n] = a;
        hi[*n] = b;
        (*n)++;
    }
    if (rc == 0 && *n == 0)
        rc = zd_err(err, "--expect-status: empty list");
    free(copy);
    return rc;
}

static const char *fmt_us(uint64_t us, char *buf, size_t n)
{
    if (us < 1000)
        snprintf(buf, n, "%lluus", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(buf, n, "%.2fms", (double)us / 1e3);
    else
        snprintf(buf, n, "%.2fs", (double)us / 1e6);
    return buf;
}

static void add_outcomes_json(struct sbuf *sb, const uint64_t *counts)
{
    sbuf_adds(sb, "{");
    for (int k = 0; k < TL_OUTCOME__COUNT; k++)
        sbuf_addf(sb, "%s\"%s\": %llu", k ? ", " : "", tl_outcome_name((enum tl_outcome)k),
                  (unsigned long long)counts[k]);
    sbuf_adds(sb, "}");
}

struct run_info {
    const char *url, *method;
    double rate;
    uint64_t ramp_us, duration_us, timeout_us, connect_timeout_us, interval_us;
    unsigned threads, connections, max_in_flight;
    uint64_t started_wall_us;
    uint64_t measured_us; /* from the start to the last answer, as the clock saw it */
    bool interrupted;
};

static char *result_json(const struct run_info *ri, struct load *l)
{
    struct sbuf sb = SBUF_INIT;
    struct load_totals t;
    load_totals(l, &t);
    struct hist *h = load_latency(l);
    char when[40];
    sbuf_adds(&sb, "{\n  \"url\": ");
    char *url = zd_url_redact(ri->url);
    sbuf_add_json_str(&sb, url);
    free(url);
    sbuf_adds(&sb, ",\n  \"method\": ");
    sbuf_add_json_str(&sb, ri->method);
    sbuf_addf(&sb, ",\n  \"engine\": \"%s\",\n  \"engine_why\": ", load_engine_name(l));
    sbuf_add_json_str(&sb, load_engine_why(l));
    sbuf_adds(&sb, ",\n");
    sbuf_addf(&sb, "  \"mode\": \"%s\",\n", ri->rate > 0 ? "open" : "closed");
    sbuf_addf(&sb, "  \"target_rate\": %.3f,\n  \"ramp_us\": %llu,\n  \"duration_us\": %llu,\n",
              ri->rate, (unsigned long long)ri->ramp_us, (unsigned long long)ri->duration_us);
    sbuf_addf(&sb, "  \"threads\": %u,\n  \"connections\": %u,\n  \"max_in_flight\": %u,\n",
              ri->threads, ri->connections, ri->max_in_flight);
    sbuf_addf(&sb, "  \"timeout_us\": %llu,\n  \"connect_timeout_us\": %llu,\n",
              (unsigned long long)ri->timeout_us, (unsigned long long)ri->connect_timeout_us);
    sbuf_addf(&sb, "  \"interval_us\": %llu,\n", (unsigned long long)ri->interval_us);
    sbuf_addf(&sb, "  \"started_at\": \"%s\",\n  \"started_at_us\": %llu,\n",
              zd_iso8601(ri->started_wall_us, when, sizeof(when)),
              (unsigned long long)ri->started_wall_us);
    sbuf_addf(&sb, "  \"interrupted\": %s,\n", ri->interrupted ? "true" : "false");
    sbuf_addf(&sb, "  \"elapsed_us\": %llu,\n  \"measured_us\": %llu,\n",
              (unsigned long long)t.elapsed_us, (unsigned long long)ri->measured_us);
    sbuf_addf(&sb, "  \"requests\": %llu,\n  \"sent\": %llu,\n  \"errors\": %llu,\n",
              (unsigned long long)t.total, (unsigned long long)(t.total - t.counts[TL_NOT_SENT]),
              (unsigned long long)t.errors);
    sbuf_addf(&sb, "  \"achieved_rate\": %.3f,\n", t.achieved_rate);
    sbuf_adds(&sb, "  \"outcomes\": ");
    add_outcomes_json(&sb, t.counts);
    sbuf_addf(&sb,
              ",\n  \"status\": {\"1xx\": %llu, \"2xx\": %llu, \"3xx\": %llu, \"4xx\": %llu, "
              "\"5xx\": %llu},\n",
              (unsigned long long)t.status[1], (unsigned long long)t.status[2],
              (unsigned long long)t.status[3], (unsigned long long)t.status[4],
              (unsigned long long)t.status[5]);
    sbuf_addf(&sb, "  \"connections_opened\": %llu,\n  \"retried\": %llu,\n",
              (unsigned long long)t.conns_opened, (unsigned long long)t.retried);
    sbuf_addf(&sb, "  \"bytes_received\": %llu,\n", (unsigned long long)t.bytes_received);
    sbuf_addf(&sb,
              "  \"connect_us\": {\"count\": %llu, \"p50\": %llu, \"p99\": %llu},\n"
              "  \"tls\": {\"handshakes\": %llu, \"resumed\": %llu, \"failed\": %llu, "
              "\"handshake_us\": {\"p50\": %llu, \"p99\": %llu}, \"error\": ",
              (unsigned long long)t.connects, (unsigned long long)t.connect_p50_us,
              (unsigned long long)t.connect_p99_us, (unsigned long long)t.tls_handshakes,
              (unsigned long long)t.tls_resumed, (unsigned long long)t.tls_failed,
              (unsigned long long)t.handshake_p50_us, (unsigned long long)t.handshake_p99_us);
    if (load_tls_error(l))
        sbuf_add_json_str(&sb, load_tls_error(l));
    else
        sbuf_adds(&sb, "null");
    sbuf_adds(&sb, "},\n");
    sbuf_addf(&sb,
              "  \"latency_us\": {\"count\": %llu, \"min\": %llu, \"mean\": %.1f, \"p50\": %llu, "
              "\"p90\": %llu, \"p99\": %llu, \"p999\": %llu, \"max\": %llu},\n",
              (unsigned long long)hist_count(h), (unsigned long long)hist_min(h), hist_mean(h),
              (unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
              (unsigned long long)hist_quantile(h, 0.99),
              (unsigned long long)hist_quantile(h, 0.999), (unsigned long long)hist_max(h));
    sbuf_addf(&sb, "  \"lateness_us\": {\"p99\": %llu, \"max\": %llu},\n",
              (unsigned long long)t.lateness_p99_us, (unsigned long long)t.lateness_max_us);
    sbuf_adds(&sb, "  \"timeline\": [");
    struct timeline *tl = load_timeline(l);
    size_t n = tl_len(tl);
    for (size_t i = 0; i < n; i++) {
        struct tl_stats s;
        if (tl_get(tl, i, &s) < 0)
            break;
        sbuf_addf(&sb,
                  "%s\n    {\"start_us\": %llu, \"len_us\": %llu, \"target_rate\": %.3f, "
                  "\"total\": %llu, \"errors\": %llu, \"connections_opened\": %llu, "
                  "\"retried\": %llu, \"outcomes\": ",
                  i ? "," : "", (unsigned long long)s.start_us, (unsigned long long)s.len_us,
                  s.target_rate, (unsigned long long)s.total, (unsigned long long)s.errors,
                  (unsigned long long)s.conns_opened, (unsigned long long)s.retried);
        add_outcomes_json(&sb, s.counts);
        sbuf_addf(&sb,
                  ", \"latency_us\": {\"p50\": %llu, \"p90\": %llu, \"p99\": %llu, "
                  "\"p999\": %llu, \"max\": %llu}}",
                  (unsigned long long)s.p50_us, (unsigned long long)s.p90_us,
                  (unsigned long long)s.p99_us, (unsigned long long)s.p999_us,
                  (unsigned long long)s.max_us);
    }
    sbuf_adds(&sb, n ? "\n  ]\n}\n" : "]\n}\n");
    hist_free(h);
    return sbuf_detach(&sb);
}

static void print_summary(const struct run_info *ri, struct load *l)
{
    struct load_totals t;
    load_totals(l, &t);
    struct hist *h = load_latency(l);
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    uint64_t sent = t.total - t.counts[TL_NOT_SENT];
    char *url = zd_url_redact(ri->url);
    printf("zonedef load %s %s (%s engine, %s)\n", ri->method, url, load_engine_name(l),
           load_engine_why(l));
    free(url);
    if (ri->rate > 0)
        printf("  open loop at %.0f req/s%s, %u threads, %u connections, max %u in flight\n",
               ri->rate, ri->ramp_us ? " (ramped)" : "", ri->threads, ri->connections,
               ri->max_in_flight);
    else
        printf("  closed loop, %u threads, %u connections\n", ri->threads, ri->connections);
    printf("  requests     %llu scheduled, %llu sent, %llu not sent, in %.2fs%s\n",
           (unsigned long long)t.total, (unsigned long long)sent,
           (unsigned long long)t.counts[TL_NOT_SENT], (double)ri->measured_us / 1e6,
           ri->interrupted ? " (interrupted)" : "");
    if (ri->rate > 0 && ri->ramp_us)
        printf("  rate         %.1f req/s achieved, ramp to %.1f (%.1f %% of the schedule sent)\n",
               t.achieved_rate, ri->rate, t.total ? 100.0 * (double)sent / (double)t.total : 0.0);
    else if (ri->rate > 0)
        printf("  rate         %.1f req/s achieved, target %.1f (%.1f %%)\n", t.achieved_rate,
               ri->rate, 100.0 * t.achieved_rate / ri->rate);
    else
        printf("  rate         %.1f req/s achieved\n", t.achieved_rate);
    printf("  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
           fmt_us(hist_quantile(h, 0.5), b1, sizeof(b1)),
           fmt_us(hist_quantile(h, 0.9), b2, sizeof(b2)),
           fmt_us(hist_quantile(h, 0.99), b3, sizeof(b3)),
           fmt_us(hist_quantile(h, 0.999), b4, sizeof(b4)), fmt_us(hist_max(h), b5, sizeof(b5)));
    printf("  outcomes\n");
    for (int k = 0; k < TL_OUTCOME__COUNT; k++)
        printf("    %-17s %10llu  %6.2f %%\n", tl_outcome_name((enum tl_outcome)k),
               (unsigned long long)t.counts[k],
               t.total ? 100.0 * (double)t.counts[k] / (double)t.total : 0.0);
    printf("  status       1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu\n",
           (unsigned long long)t.status[1], (unsigned long long)t.status[2],
           (unsigned long long)t.status[3], (unsigned long long)t.status[4],
           (unsigned long long)t.status[5]);
    printf("  connections  %llu opened, %llu requests re-sent on a fresh one\n",
           (unsigned long long)t.conns_opened, (unsigned long long)t.retried);
    if (t.connects)
        printf("  connect      p50 %s  p99 %s (TCP)\n", fmt_us(t.connect_p50_us, b1, sizeof(b1)),
               fmt_us(t.connect_p99_us, b2, sizeof(b2)));
    if (t.tls_handshakes)
        printf("  tls          %llu handshakes (%llu resumed), %llu failed; handshake p50 %s  p99 "
               "%s\n",
               (unsigned long long)t.tls_handshakes, (unsigned long long)t.tls_resumed,
               (unsigned long long)t.tls_failed, fmt_us(t.handshake_p50_us, b1, sizeof(b1)),
               fmt_us(t.handshake_p99_us, b2, sizeof(b2)));
    else if (t.tls_failed)
        printf("  tls          %llu handshakes failed\n", (unsigned long long)t.tls_failed);
    if (ri->rate > 0)
        printf("  lateness     p99 %s  max %s (send time behind schedule)\n",
               fmt_us(t.lateness_p99_us, b1, sizeof(b1)),
               fmt_us(t.lateness_max_us, b2, sizeof(b2)));
    hist_free(h);
}

static void progress(struct load *l, const struct run_info *ri, uint64_t *last_total)
{
    struct timeline *tl = load_timeline(l);
    size_t n = tl_len(tl);
    struct tl_stats all, recent;
    if (tl_sum(tl, 0, n, &all) < 0)
        memset(&all, 0, sizeof(all));
    size_t per_s = (size_t)(1000000 / ri->interval_us);
    if (per_s == 0)
        per_s = 1;
    if (tl_sum(tl, n > per_s ? n - per_s : 0, n, &recent) < 0)
        memset(&recent, 0, sizeof(recent));
    char b1[32];
    double el = (double)load_elapsed_us(l) / 1e6;
    fprintf(stderr, "\r  %5.0fs  %llu requests  %llu/s  errors %.2f %%  p99 %s     ", el,
            (unsigned long long)all.total, (unsigned long long)(all.total - *last_total),
            recent.total ? 100.0 * (double)recent.errors / (double)recent.total : 0.0,
            fmt_us(recent.p99_us, b1, sizeof(b1)));
    fflush(stderr);
    *last_total = all.total;
}

static int parse_dur_opt(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char *err = NULL;
    if (zd_parse_duration(v, out, &err) < 0) {
        zd_error("load: --%s: %s", name, err);
        free(err);
        return -1;
    }
    if (*out < min || *out > max) {
        char a[32], b[32];
        zd_error("load: --%s must be between %s and %s", name, zd_fmt_duration(min, a, sizeof(a)),
                 zd_fmt_duration(max, b, sizeof(b)));
        return -1;
    }
    return 0;
}

static int parse_num_opt(const char *name, const char *v, long long min, long long max,
                         unsigned *out)
{
    char *err = NULL;
    long long x;
    if (zd_parse_int(v, min, max, &x, &err) < 0) {
        zd_error("load: --%s: %s", name, err);
        free(err);
        return -1;
    }
    *out = (unsigned)x;
    return 0;
}

int cmd_load(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage_text))
        return ZD_EXIT_OK;
    struct load_opts o = {0};
    struct load_header hdrs[MAX_HEADERS];
    char *hdr_copies[MAX_HEADERS];
    size_t nh = 0;
    int exp_lo[MAX_EXPECT], exp_hi[MAX_EXPECT];
    size_t nexp = 0;
    const char *json_path = NULL, *body_file = NULL;
    char *body_buf = NULL;
    bool quiet = false, have_ramp = false;
    int ret = ZD_EXIT_USAGE;
    char *err = NULL;
    struct load *l = NULL;

    o.duration_us = 10000000;
    o.connections = 64;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "H:", longopts)) != -1) {
        switch (c) {
        case 'r':
            if (zd_parse_double(optarg, 0, 1000000, &o.rate, &err) < 0) {
                zd_error("load: --rate: %s", err);
                goto out;
            }
            break;
        case 'd':
            if (parse_dur_opt("duration", optarg, 1000, MAX_DURATION_US, &o.duration_us) < 0)
                goto out;
            break;
        case 'R':
            if (parse_dur_opt("ramp", optarg, 0, MAX_DURATION_US, &o.ramp_us) < 0)
                goto out;
            have_ramp = true;
            break;
        case 'c':
            if (parse_num_opt("connections", optarg, 1, 10000, &o.connections) < 0)
                goto out;
            break;
        case 't':
            if (parse_num_opt("threads", optarg, 1, 256, &o.threads) < 0)
                goto out;
            break;
        case 'M':
            if (parse_num_opt("max-in-flight", optarg, 1, 100000, &o.max_in_flight) < 0)
                goto out;
            break;
        case 'T':
            if (parse_dur_opt("timeout", optarg, 1000, 60000000, &o.timeout_us) < 0)
                goto out;
            break;
        case 'C':
            if (parse_dur_opt("connect-timeout", optarg, 1000, 60000000, &o.connect_timeout_us) < 0)
                goto out;
            break;
        case 'S':
            if (parse_expect(optarg, exp_lo, exp_hi, &nexp, &err) < 0) {
                zd_error("load: %s", err);
                goto out;
            }
            break;
        case 'B': o.expect_body = optarg; break;
        case 'H': {
            if (nh >= MAX_HEADERS) {
                zd_error("load: at most %d headers", MAX_HEADERS);
                goto out;
            }
            const char *colon = strchr(optarg, ':');
            if (!colon || colon == optarg) {
                zd_error("load: -H '%s': expected 'Name: value'", optarg);
                goto out;
            }
            char *copy = xstrdup(optarg);
            char *val = copy + (colon - optarg);
            *val++ = '\0';
            while (*val == ' ' || *val == '\t')
                val++;
            hdr_copies[nh] = copy;
            hdrs[nh].name = copy;
            hdrs[nh].value = val;
            nh++;
            break;
        }
        case 'm': o.method = optarg; break;
        case 'b':
            o.body = optarg;
            o.body_len = strlen(optarg);
            break;
        case 'F': body_file = optarg; break;
        case '2': o.http2 = true; break;
        case 'k': o.insecure = true; break;
        case 'A': o.ca_file = optarg; break;
        case 'E':
            if (load_engine_parse(optarg, &o.engine) < 0) {
                const char *sug = zd_suggest(optarg, load_engine_names);
                zd_error("load: --engine: '%s' is not an engine (auto, native or curl)%s%s%s",
                         optarg, sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
                goto out;
            }
            break;
        case 'i':
            if (parse_dur_opt("interval", optarg, 1000, 60000000, &o.interval_us) < 0)
                goto out;
            break;
        case 'j': json_path = optarg; break;
        case 'q': quiet = true; break;
        default: goto out;
        }
    }
    if (optind >= argc) {
        zd_error("load: no URL (usage: zonedef load URL [options])");
        goto out;
    }
    if (optind + 1 < argc) {
        zd_error("load: unexpected argument '%s' (one URL only)", argv[optind + 1]);
        goto out;
    }
    o.url = argv[optind];
    if (have_ramp && o.rate == 0) {
        zd_error("load: --ramp needs --rate");
        goto out;
    }
    if (o.body && body_file) {
        zd_error("load: --body and --body-file cannot be used together");
        goto out;
    }
    if (body_file) {
        size_t len;
        if (zd_read_file(body_file, MAX_BODY_FILE, &body_buf, &len, &err) < 0) {
            zd_error("load: --body-file: %s", err);
            goto out;
        }
        o.body = body_buf;
        o.body_len = len;
    }
    if (!o.method && o.body)
        o.method = "POST";
    o.headers = hdrs;
    o.nheaders = nh;
    o.expect_lo = exp_lo;
    o.expect_hi = exp_hi;
    o.nexpect = nexp;

    struct run_info ri = {0};
    ri.url = o.url;
    ri.method = o.method ? o.method : "GET";
    ri.rate = o.rate;
    ri.ramp_us = o.ramp_us;
    ri.duration_us = o.duration_us;
    ri.timeout_us = o.timeout_us ? o.timeout_us : 2000000;
    ri.connect_timeout_us = o.connect_timeout_us ? o.connect_timeout_us : 1000000;
    ri.interval_us = o.interval_us ? o.interval_us : 100000;
    ri.connections = o.connections;
    ri.threads = o.threads;
    if (!ri.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ri.threads = n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
    }
    if (ri.threads > ri.connections)
        ri.threads = ri.connections;
    ri.max_in_flight = o.max_in_flight ? o.max_in_flight : o.connections;
    if (ri.max_in_flight < ri.threads)
        ri.max_in_flight = ri.threads;

    ri.started_wall_us = zd_wall_us();
    uint64_t t0 = zd_now_us();
    l = load_start(&o, &err);
    if (!l) {
        zd_error("load: %s", err);
        goto out;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    bool tty = !quiet && isatty(STDERR_FILENO);
    uint64_t next_progress = 1000000, last_total = 0;
    while (!load_done(l) && !interrupted) {
        zd_sleep_us(20000);
        if (tty && load_elapsed_us(l) >= next_progress) {
            progress(l, &ri, &last_total);
            next_progress += 1000000;
        }
    }
    load_stop(l);
    ri.measured_us = zd_now_us() - t0; /* "in 1.54s", not the planned --duration */
    if (tty && next_progress > 1000000)
        fputc('\n', stderr);
    ri.interrupted = interrupted != 0;
    ret = ri.interrupted ? ZD_EXIT_ABORTED : ZD_EXIT_OK;
    if (!quiet)
        print_summary(&ri, l);
    if (load_tls_error(l)) {
        struct load_totals t;
        load_totals(l, &t);
        zd_error("load: %s (%llu requests counted as tls_error)", load_tls_error(l),
                 (unsigned long long)t.counts[TL_TLS_ERROR]);
    }
    if (json_path) {
        char *doc = result_json(&ri, l);
        if (zd_write_file_atomic(json_path, doc, strlen(doc), &err) < 0) {
            zd_error("load: cannot write '%s': %s", json_path, err);
            ret = ZD_EXIT_RUNTIME;
        }
        free(doc);
    }
    fflush(stdout);
out:
    load_free(l);
    for (size_t i = 0; i < nh; i++)
        free(hdr_copies[i]);
    free(body_buf);
    free(err);
    return ret;
}
