/*
 * run: `zonedef run FILE`: parses the scenario, hands it to the runner (src/run/runner.c), prints
 * one line per phase and event as they happen, then the scorecard, and exits with the code CI
 * gates on. SIGINT/SIGTERM only set a flag: the runner then undoes every fault (a second Ctrl-C
 * changes nothing) and the run exits 3.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "diag.h"
#include "run/runner.h"
#include "scenario/scenario.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef run FILE [--var NAME=VALUE]... [--out DIR] [--ci] [--dry-run] [--quiet]\n"
    "                        [--accept-new-hostkeys]\n"
    "\n"
    "Runs a scenario: traffic through the load balancer, faults on schedule, always undone;\n"
    "measures time to detect and to recover, scores the run and writes result.json and\n"
    "journal.jsonl to reports/<scenario>-<UTC time>/.\n"
    "\n"
    "  --var NAME=VALUE  set a scenario variable (repeatable; wins over the environment)\n"
    "  --out DIR         write the results to DIR instead\n"
    "  --ci              no colour and no progress lines; end with one compact summary line\n"
    "  --dry-run         resolve the target and print what would happen; change nothing\n"
    "  --accept-new-hostkeys  ssh: add the keys of hosts not in known_hosts to it (a changed\n"
    "                    key is still refused)\n"
    "  --quiet           print only problems and the scorecard\n"
    "\n"
    "exit: 0 passed, 1 expectations not met (or the steady state did not hold first),\n"
    "2 invalid input, 3 aborted (faults undone), 4 an undo failed (run 'zonedef recover'),\n"
    "5 runtime error\n";

#define MAX_VARS 256

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct printer {
    bool color, quiet, ci;
};

static void on_event(void *ctx, const struct run_event *ev)
{
    const struct printer *p = ctx;
    bool problem = ev->kind == RUN_EV_ERROR || ev->kind == RUN_EV_GUARD || ev->kind == RUN_EV_WARN;
    if (p->quiet && !problem)
        return;
    if (p->ci && ev->kind == RUN_EV_PROGRESS)
        return;
    const char *c = "";
    if (p->color) {
        switch (ev->kind) {
        case RUN_EV_PHASE: c = "\033[1m"; break;
        case RUN_EV_INJECT: c = "\033[33m"; break;
        case RUN_EV_DETECTED: c = "\033[31m"; break;
        case RUN_EV_RECOVERED:
        case RUN_EV_UNDO: c = "\033[32m"; break;
        case RUN_EV_LB: c = "\033[36m"; break;
        case RUN_EV_PROGRESS: c = "\033[2m"; break;
        case RUN_EV_GUARD:
        case RUN_EV_ERROR: c = "\033[1;31m"; break;
        default: break;
        }
    }
    FILE *f = problem ? stderr : stdout;
    fprintf(f, "%s[%7.1fs] %s%s\n", c, (double)ev->t_us / 1e6, ev->text, *c ? "\033[0m" : "");
    fflush(f);
}

static char *default_out(const char *name)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    return xasprintf("reports/%s-%s", name, ts);
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
        {"accept-new-hostkeys", no_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    const char *vars[MAX_VARS];
    size_t nvars = 0;
    const char *out_dir = NULL;
    bool ci = false, dry = false, quiet = false, accept_new = false;
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
        case 'A': accept_new = true; break;
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
    scn->target.ssh_accept_new_hostkeys = accept_new;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct printer pr = {.color = !ci && zd_color(1), .quiet = quiet, .ci = ci};
    char *dir = out_dir ? xstrdup(out_dir) : default_out(scn->name);
    struct run_opts ro = {
        .scn = scn,
        .run_dir = dir,
        .dry_run = dry,
        .stop = &stop_flag,
        .on_event = on_event,
        .ctx = &pr,
    };
    if (!quiet)
        printf("%s%s%s: %s%s\n", pr.color ? "\033[1m" : "", dry ? "dry run of " : "running ",
               scn->name, scn->description ? scn->description : file, pr.color ? "\033[0m" : "");
    fflush(stdout);
    struct run_outcome out;
    run_scenario(&ro, &out);
    int code = run_status_exit(out.status);

    if (out.have_doc) {
        struct sbuf sb = SBUF_INIT;
        res_scorecard(&out.doc, &sb, pr.color);
        fputs("\n", stdout);
        fputs(sbuf_str(&sb), stdout);
        printf("  results     %s\n", out.result_path ? out.result_path : dir);
        sbuf_reset(&sb);
        if (ci) {
            res_ci_line(&out.doc, &sb);
            fputs(sbuf_str(&sb), stdout);
        }
        sbuf_free(&sb);
        fflush(stdout);
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
    free(dir);
    scn_free(scn);
    return code;
}
