/*
 * run: `zonedef run FILE`: parses the scenario, hands it to the runner (src/run/runner.c), shows
 * what happens — the live view (src/report/live.c, redrawn by a thread of ours) on a terminal,
 * else one line per phase and event in time order — then the scorecard; writes the reports
 * (src/report/), posts webhook notifications, and exits with the code CI gates on.
 * SIGINT/SIGTERM only set a flag: the runner then undoes every fault (a second Ctrl-C changes
 * nothing), the terminal is restored, and the run exits 3.
 */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "diag.h"
#include "report/report.h"
#include "run/runner.h"
#include "scenario/scenario.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef run FILE [--var NAME=VALUE]... [-o|--out DIR] [--ci] [--dry-run]\n"
    "                        [-q|--quiet] [--profile NAME] [--accept-new-hostkeys]\n"
    "                        [--no-reports] [--summary FILE] [--notify [FORMAT=]URL]...\n"
    "                        [--no-live]\n"
    "\n"
    "Runs a scenario: traffic through the load balancer, faults on schedule, always undone;\n"
    "measures time to detect and to recover, scores the run and writes result.json,\n"
    "journal.jsonl, report.html, junit.xml and summary.md to a new directory\n"
    "reports/<scenario>-<UTC time>-<random>/ (mode 0700).\n"
    "On a terminal it draws a live view; otherwise one line per event, in time order.\n"
    "\n"
    "  --var NAME=VALUE    set a scenario variable (repeatable; wins over the environment)\n"
    "  -o, --out DIR       write the results to DIR instead (made 0700; an existing DIR must be\n"
    "                      yours or root's and not writable by others)\n"
    "  --ci                no colour, no live view, no progress lines; end with one summary line\n"
    "  --dry-run           resolve the target and print what would happen; change nothing\n"
    "  -q, --quiet         print only problems and the scorecard\n"
    "  --profile NAME      (aws) the credentials profile, instead of target.profile\n"
    "  --accept-new-hostkeys  (ssh) add the keys of hosts not in known_hosts to it (a changed\n"
    "                      key is still refused)\n"
    "  --no-reports        write no report.html, junit.xml, summary.md\n"
    "  --summary FILE      append the Markdown summary to FILE (e.g. \"$GITHUB_STEP_SUMMARY\")\n"
    "  --notify [FORMAT=]URL  post events to a webhook (repeatable); FORMAT json (default),\n"
    "                      slack or datadog; never blocks the run\n"
    "  --no-live           plain event lines even on a terminal\n"
    "\n"
    "exit: 0 passed, 1 expectations not met (or the steady state did not hold first),\n"
    "2 invalid input, 3 aborted (faults undone), 4 an undo failed (run 'zonedef recover'),\n"
    "5 runtime error\n";

#define MAX_VARS      256
#define MAX_NOTIFY    16
#define LIVE_EVERY_US 200000u /* five frames a second */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* One event line kept back: printed in time order (a detection is only known after later
 * events were announced, so lines wait while a fault's detection or recovery may still come). */
struct held {
    enum run_event_kind kind;
    uint64_t t_us;
    char *text;
};

struct printer {
    bool color, quiet, ci, live;
    struct held *held;
    size_t nheld, cap;
    int pending;      /* faults injected whose recovery was not announced yet */
    uint64_t hold_us; /* how far behind "now" a detection or recovery can be announced */
    uint64_t now_us;  /* the latest time the runner told us about */
    struct rp_notifier *nf;
    /* the live view (its thread redraws; everything here under mu) */
    pthread_mutex_t mu;
    struct rp_live *lv;
    uint64_t t0_mono; /* zd_now_us() when the load started (the first phase event) */
    bool quit, drawing;
    pthread_t thr;
};

static const char *color_of(enum run_event_kind k)
{
    switch (k) {
    case RUN_EV_PHASE: return "\033[1m";
    case RUN_EV_INJECT: return "\033[33m";
    case RUN_EV_DETECTED: return "\033[31m";
    case RUN_EV_RECOVERED:
    case RUN_EV_UNDO: return "\033[32m";
    case RUN_EV_LB: return "\033[36m";
    case RUN_EV_PROGRESS: return "\033[2m";
    case RUN_EV_GUARD:
    case RUN_EV_ERROR: return "\033[1;31m";
    default: return "";
    }
}

static bool is_problem(enum run_event_kind k)
{
    return k == RUN_EV_ERROR || k == RUN_EV_GUARD || k == RUN_EV_WARN;
}

static void print_line(const struct printer *p, enum run_event_kind k, uint64_t t, const char *text)
{
    const char *c = p->color ? color_of(k) : "";
    FILE *f = is_problem(k) ? stderr : stdout;
    char *red = zd_text_redact(text); /* a URL's userinfo never reaches the screen */
    char *shown = zd_escape_ctl(red); /* a scenario's command or a server's error: one safe line */
    free(red);
    fprintf(f, "%s[%7.1fs] %s%s\n", c, (double)t / 1e6, shown, *c ? "\033[0m" : "");
    free(shown);
    fflush(f);
}

/* Prints the held lines that can no longer be preceded by a late one (all of them with all). */
static void flush_held(struct printer *p, bool all)
{
    if (p->live && !all)
        return; /* the live view owns the screen: the lines come after it */
    size_t k = 0;
    while (k < p->nheld && (all || p->pending == 0 || p->held[k].t_us + p->hold_us <= p->now_us)) {
        print_line(p, p->held[k].kind, p->held[k].t_us, p->held[k].text);
        free(p->held[k].text);
        k++;
    }
    memmove(p->held, p->held + k, (p->nheld - k) * sizeof(*p->held));
    p->nheld -= k;
}

static void hold(struct printer *p, const struct run_event *ev)
{
    ZD_GROW(p->held, p->cap, p->nheld + 1);
    size_t at = p->nheld;
    while (at > 0 && p->held[at - 1].t_us > ev->t_us)
        at--;
    memmove(p->held + at + 1, p->held + at, (p->nheld - at) * sizeof(*p->held));
    p->held[at] = (struct held){ev->kind, ev->t_us, xstrdup(ev->text)};
    p->nheld++;
}

static enum rp_ev_kind live_kind(const struct run_event *ev)
{
    switch (ev->kind) {
    case RUN_EV_INJECT: return RP_EV_INJECT;
    case RUN_EV_UNDO: return RP_EV_UNDO;
    case RUN_EV_DETECTED: return RP_EV_DETECTED;
    case RUN_EV_RECOVERED: return RP_EV_RECOVERED;
    case RUN_EV_LB: return RP_EV_LB;
    case RUN_EV_PROBE: return strstr(ev->text, " fails") ? RP_EV_PROBE_FAIL : RP_EV_PROBE_OK;
    case RUN_EV_GUARD: return RP_EV_GUARD;
    case RUN_EV_ERROR: return RP_EV_APPLY_FAILED;
    default: return RP_EV_PHASE;
    }
}

static void notify_of(struct printer *p, const struct run_event *ev)
{
    const char *what = NULL;
    switch (ev->kind) {
    case RUN_EV_PHASE:
        if (zd_str_has_prefix(ev->text, "warm-up"))
            what = "run_started";
        break;
    case RUN_EV_INJECT: what = "fault_applied"; break;
    case RUN_EV_UNDO: what = "fault_undone"; break;
    case RUN_EV_GUARD: what = "guard_fired"; break;
    default: break;
    }
    if (what)
        rp_notify(p->nf, what, ev->text, ev->step, ev->t_us, NULL, -1);
}

static void on_event(void *ctx, const struct run_event *ev)
{
    struct printer *p = ctx;
    if (p->nf)
        notify_of(p, ev);
    if (ev->kind == RUN_EV_PHASE && p->t0_mono == 0 && ev->t_us == 0)
        p->t0_mono = zd_now_us();
    if (p->live) {
        pthread_mutex_lock(&p->mu);
        if (ev->kind == RUN_EV_INTERVAL) {
            rp_live_interval(p->lv, ev->iv);
        } else if (ev->kind != RUN_EV_PROGRESS && ev->kind != RUN_EV_INFO) {
            if (ev->kind == RUN_EV_LB)
                rp_live_zone(p->lv, ev->zone, ev->healthy, ev->total);
            if (ev->kind == RUN_EV_PHASE) {
                size_t n = strcspn(ev->text, ":");
                char *ph = xstrndup(ev->text, n);
                rp_live_phase(p->lv, ph, ev->t_us);
                free(ph);
            }
            rp_live_event(p->lv, live_kind(ev), ev->t_us, ev->text, ev->step, ev->for_us);
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (ev->kind == RUN_EV_INTERVAL) {
        if (ev->iv && ev->iv->start_us > p->now_us)
            p->now_us = ev->iv->start_us;
        flush_held(p, false);
        return;
    }
    if (p->quiet && !is_problem(ev->kind))
        return;
    if (p->ci && ev->kind == RUN_EV_PROGRESS)
        return;
    if (ev->t_us > p->now_us)
        p->now_us = ev->t_us;
    if (is_problem(ev->kind) && !p->live) {
        print_line(p, ev->kind, ev->t_us, ev->text); /* problems do not wait */
        return;
    }
    if (ev->kind == RUN_EV_INJECT) {
        if (p->pending == 0)
            flush_held(p, true);
        p->pending++;
    }
    hold(p, ev);
    if (ev->kind == RUN_EV_RECOVERED && p->pending > 0)
        p->pending--;
    if (!p->live)
        flush_held(p, false);
}

/* ---- the live view: a thread draws a frame five times a second ---- */

static bool term_size(int *cols, int *rows)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
        return false;
    *cols = ws.ws_col;
    *rows = ws.ws_row;
    return true;
}

static void write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static const char term_enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
static const char term_leave[] = "\033[0m\033[?25h\033[?1049l";
static volatile sig_atomic_t term_live;

static void term_restore(void)
{
    if (term_live) {
        term_live = 0;
        write_all(term_leave, sizeof(term_leave) - 1);
    }
}

static void *live_thread(void *arg)
{
    struct printer *p = arg;
    struct sbuf sb = SBUF_INIT;
    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        int cols = 0, rows = 0;
        sbuf_reset(&sb);
        if (!term_size(&cols, &rows) || !rp_live_fits(cols, rows))
            sbuf_adds(&sb, "\033[H\033[2Jzonedef: the live view needs 80x24; the run goes on");
        else
            rp_live_frame(p->lv, p->t0_mono ? zd_now_us() - p->t0_mono : 0, cols, rows, &sb);
        pthread_mutex_unlock(&p->mu);
        write_all(sb.buf, sb.len);
        zd_sleep_us(LIVE_EVERY_US);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    sbuf_free(&sb);
    return NULL;
}

/* The live view only on a terminal that can show it, never with --ci, --quiet or TERM=dumb. */
static bool want_live(bool ci, bool quiet, bool dry, bool no_live)
{
    const char *term = getenv("TERM");
    int cols, rows;
    return !ci && !quiet && !dry && !no_live && isatty(STDOUT_FILENO) && term && *term &&
           strcmp(term, "dumb") != 0 && term_size(&cols, &rows) && rp_live_fits(cols, rows);
}

static bool utf8_locale(void)
{
    const char *v = getenv("LC_ALL");
    if (!v || !*v)
        v = getenv("LC_CTYPE");
    if (!v || !*v)
        v = getenv("LANG");
    return v && (strcasestr(v, "utf-8") || strcasestr(v, "utf8"));
}

static struct rp_live *live_new(const struct scn_scenario *scn, bool color)
{
    struct rp_live_step *st = xcalloc(scn->nsteps + 1, sizeof(*st));
    uint64_t end = scn->warmup_us;
    for (size_t i = 0; i < scn->nsteps; i++) {
        st[i] = (struct rp_live_step){scn->steps[i].name, scn_fault_name(scn->steps[i].fault), NULL,
                                      scn->steps[i].at_us, scn->steps[i].for_us};
        if (scn->steps[i].at_us + scn->steps[i].for_us > end)
            end = scn->steps[i].at_us + scn->steps[i].for_us;
    }
    struct rp_live_plan plan = {.scenario = scn->name,
                                .planned_us = end + scn->settle_us,
                                .interval_us = scn->load.interval_us,
                                .steady_error_rate = scn->steady.error_rate,
                                .steady_p99_us = scn->steady.p99_us,
                                .steps = st,
                                .nsteps = scn->nsteps};
    struct rp_live *lv = rp_live_new(&plan, utf8_locale(), color);
    free(st); /* copied by the view; the strings stay in scn */
    return lv;
}

/* The command line for result.json: --var values and URL userinfo never reach it. */
static char *command_line(int argc, char **argv)
{
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "zonedef");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char *shown = NULL;
        const char *eq = strchr(a, '=');
        bool var_value = i > 0 && strcmp(argv[i - 1], "--var") == 0;
        if ((var_value || zd_str_has_prefix(a, "--var=")) && eq)
            shown = xasprintf("%.*s=***", (int)(eq - a), a);
        else if (i > 0 && strcmp(argv[i - 1], "--notify") == 0)
            shown = rp_url_display(eq && !strstr(a, "://") ? eq + 1 : a);
        else
            shown = zd_text_redact(a);
        bool plain = *shown != '\0'; /* needs no quoting for a POSIX shell */
        for (const unsigned char *q = (const unsigned char *)shown; *q; q++)
            plain &= isalnum(*q) || strchr("-_./=:,@*", *q) || *q >= 0x80;
        sbuf_addc(&sb, ' ');
        if (plain) {
            sbuf_adds(&sb, shown);
        } else {
            sbuf_addc(&sb, '\'');
            for (const char *c = shown; *c; c++)
                sbuf_adds(&sb, *c == '\'' ? "'\\''" : (char[2]){*c, 0});
            sbuf_addc(&sb, '\'');
        }
        free(shown);
    }
    return sbuf_detach(&sb);
}

static char *default_out(const char *name)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    /* two runs of one scenario in the same second get two directories */
    return xasprintf("reports/%s-%s-%08x", name, ts, (unsigned)(zd_random_u64() & 0xffffffffu));
}

/* report.html, junit.xml and summary.md into the run directory; --summary appends. */
static void write_reports(const char *dir, const char *summary, bool quiet)
{
    struct rp_run r;
    char *err = NULL;
    if (rp_load(dir, &r, NULL, &err) < 0) {
        zd_warning("reports: %s", err);
        free(err);
        return;
    }
    if (rp_write_files(&r, dir, &err) < 0) {
        zd_warning("reports: %s", err);
        free(err);
    } else if (!quiet) {
        printf("  reports     %s/%s, %s, %s\n", dir, RP_FILE_HTML, RP_FILE_JUNIT, RP_FILE_MD);
    }
    if (summary) {
        struct sbuf sb = SBUF_INIT;
        rp_markdown(&r, &sb);
        sbuf_addc(&sb, '\n');
        FILE *f = fopen(summary, "a");
        bool ok = f && fwrite(sb.buf, 1, sb.len, f) == sb.len;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok)
            zd_warning("reports: cannot append the summary to '%s'", summary);
        sbuf_free(&sb);
    }
    rp_free(&r);
}

int cmd_run(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage))
        return ZD_EXIT_OK;
    static const struct option opts[] = {
        {"var", required_argument, NULL, 'v'},
        {"out", required_argument, NULL, 'o'},
        {"ci", no_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"profile", required_argument, NULL, 'p'},
        {"accept-new-hostkeys", no_argument, NULL, 'A'},
        {"no-reports", no_argument, NULL, 'R'},
        {"summary", required_argument, NULL, 's'},
        {"notify", required_argument, NULL, 'N'},
        {"no-live", no_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    const char *vars[MAX_VARS];
    size_t nvars = 0;
    const char *notify[MAX_NOTIFY];
    size_t nnotify = 0;
    const char *out_dir = NULL, *summary = NULL, *profile = NULL;
    bool ci = false, dry = false, quiet = false, no_reports = false, no_live = false;
    bool accept_new = false;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "o:q", opts)) != -1) {
        switch (c) {
        case 'v':
            if (nvars >= MAX_VARS) {
                zd_error("run: more than %d --var options", MAX_VARS);
                return ZD_EXIT_USAGE;
            }
            if (!diag_var_ok(argv[0], optarg))
                return ZD_EXIT_USAGE;
            vars[nvars++] = optarg;
            break;
        case 'o': out_dir = optarg; break;
        case 'c': ci = true; break;
        case 'n': dry = true; break;
        case 'q': quiet = true; break;
        case 'p': profile = optarg; break;
        case 'A': accept_new = true; break;
        case 'R': no_reports = true; break;
        case 's': summary = optarg; break;
        case 'L': no_live = true; break;
        case 'N':
            if (nnotify >= MAX_NOTIFY) {
                zd_error("run: more than %d --notify options", MAX_NOTIFY);
                return ZD_EXIT_USAGE;
            }
            notify[nnotify++] = optarg;
            break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        zd_error(optind >= argc ? "run: which scenario? (usage: zonedef run FILE)"
                                : "run: one scenario file at a time (usage: zonedef run FILE)");
        return ZD_EXIT_USAGE;
    }
    const char *file = argv[optind];

    struct scn_scenario *scn = NULL;
    struct scn_diags diags = {0};
    if (scn_load_file(file, vars, nvars, &scn, &diags) < 0) {
        diag_print(&diags, stderr);
        scn_diags_free(&diags);
        return ZD_EXIT_USAGE;
    }
    scn_diags_free(&diags);
    if (profile) {
        if (scn->target.kind != SCN_TARGET_AWS) {
            zd_error("run: --profile is for aws targets");
            scn_free(scn);
            return ZD_EXIT_USAGE;
        }
        free(scn->target.aws_profile);
        scn->target.aws_profile = xstrdup(profile);
    }

    scn->target.ssh_accept_new_hostkeys = accept_new;
    /* the scenario's webhooks, then the command line's */
    const char *hooks[2 * MAX_NOTIFY];
    size_t nhooks = 0;
    for (size_t i = 0; i < scn->nnotify && nhooks < 2 * MAX_NOTIFY; i++)
        hooks[nhooks++] = scn->notify[i];
    for (size_t i = 0; i < nnotify && nhooks < 2 * MAX_NOTIFY; i++)
        hooks[nhooks++] = notify[i];

    char *dir = out_dir ? xstrdup(out_dir) : default_out(scn->name);
    struct printer pr = {.color = !ci && zd_color(1), .quiet = quiet, .ci = ci};
    /* the threads of ours (notifications, the live view) never take SIGINT/SIGTERM: the
     * runner's thread does, as without them */
    sigset_t sigs, old_sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old_sigs);
    if (nhooks) {
        char *err = NULL;
        if (!(pr.nf = rp_notify_new(hooks, nhooks, scn->name, dir, &err))) {
            pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
            zd_error("run: %s", err);
            free(err);
            free(dir);
            scn_free(scn);
            return ZD_EXIT_USAGE;
        }
        if (dry) { /* checked; a dry run posts nothing */
            rp_notify_close(pr.nf, 0, NULL);
            pr.nf = NULL;
        }
    }
    uint64_t win = scn->steady.window_us, hld = scn->steady.hold_us;
    pr.hold_us = (hld > win ? hld : win) + win + scn->load.timeout_us + 1000000;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *cmdline = command_line(argc, argv);
    struct run_opts ro = {
        .scn = scn,
        .run_dir = dir,
        .dry_run = dry,
        .stop = &stop_flag,
        .on_event = on_event,
        .ctx = &pr,
        .command_line = cmdline,
    };
    pr.live = want_live(ci, quiet, dry, no_live);
    if (!quiet && !pr.live)
        printf("%s%s%s: %s%s\n", pr.color ? "\033[1m" : "", dry ? "dry run of " : "running ",
               scn->name, scn->description ? scn->description : file, pr.color ? "\033[0m" : "");
    fflush(stdout);
    pthread_mutex_init(&pr.mu, NULL);
    if (pr.live) {
        pr.lv = live_new(scn, pr.color);
        term_live = 1;
        atexit(term_restore);
        write_all(term_enter, sizeof(term_enter) - 1);
        if (pthread_create(&pr.thr, NULL, live_thread, &pr) != 0) {
            term_restore();
            pr.live = false;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
    struct run_outcome out;
    run_scenario(&ro, &out);
    int code = run_status_exit(out.status);
    if (pr.live) {
        pthread_mutex_lock(&pr.mu);
        pr.quit = true;
        pthread_mutex_unlock(&pr.mu);
        pthread_join(pr.thr, NULL);
        term_restore();
        pr.live = false;
        /* what the screen showed stays as lines, in time order */
        printf("%s%s%s: %s%s\n", pr.color ? "\033[1m" : "", "ran ", scn->name,
               scn->description ? scn->description : file, pr.color ? "\033[0m" : "");
    }
    flush_held(&pr, true);
    free(pr.held);
    rp_live_free(pr.lv);
    pthread_mutex_destroy(&pr.mu);

    if (out.have_doc) {
        struct sbuf sb = SBUF_INIT;
        res_scorecard(&out.doc, &sb, pr.color);
        fputs("\n", stdout);
        fputs(sbuf_str(&sb), stdout);
        printf("  results     %s\n", out.result_path ? out.result_path : dir);
        fflush(stdout);
        if (!no_reports && !dry)
            write_reports(dir, summary, quiet);
        sbuf_reset(&sb);
        if (ci) {
            res_ci_line(&out.doc, &sb);
            fputs(sbuf_str(&sb), stdout);
        }
        sbuf_free(&sb);
        fflush(stdout);
    }
    if (pr.nf) {
        char *text = out.have_doc
                         ? xasprintf("run %s, score %.1f", out.doc.status, out.doc.score.total)
                         : xasprintf("run %s", run_status_name(out.status));
        rp_notify(pr.nf, "run_finished", text, NULL, out.have_doc ? out.doc.duration_us : 0,
                  run_status_name(out.status), out.have_doc ? out.doc.score.total : -1);
        free(text);
        char *sum = NULL;
        rp_notify_close(pr.nf, 5000000, &sum); /* at most 5 s more for the last posts */
        if (sum)
            zd_warning("%s", sum);
        free(sum);
    }
    switch (out.status) {
    case RUN_PASSED:
    case RUN_FAILED: break; /* the scorecard says it */
    case RUN_ABORTED:
        zd_error("%s; every fault was undone", out.reason ? out.reason : "aborted");
        break;
    default:
        if (out.reason)
            zd_error("%s", out.reason);
        break;
    }
    if (dry && out.status == RUN_PASSED && !quiet)
        printf("dry run: nothing was changed\n");
    run_outcome_free(&out);
    free(cmdline);
    free(dir);
    scn_free(scn);
    return code;
}
