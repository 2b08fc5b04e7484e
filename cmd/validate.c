/*
 * validate: checks scenario files and reports every mistake in each, so a user (or CI) fixes a
 * file in one round. One "ok" line per good file on stdout; every error line on stderr.
 * Exit 0 when every file is valid, 2 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diag.h"
#include "scenario/scenario.h"

#include "base/banned.h"

/* "-": the scenario from stdin, with the same 1 MiB limit as a file. */
static int load_stdin(const char *const *vars, size_t nvars, struct scn_scenario **s,
                      struct scn_diags *d)
{
    char *text = NULL, *err = NULL;
    size_t len = 0;
    if (zd_read_file("/dev/stdin", SCN_MAX_FILE_BYTES, &text, &len, &err) < 0) {
        ZD_GROW(d->v, d->cap, d->n + 1);
        d->v[d->n++] =
            (struct scn_diag){err && strstr(err, "larger than the limit")
                                  ? xasprintf("<stdin>: larger than the limit of %u bytes (1 MiB)",
                                              SCN_MAX_FILE_BYTES)
                                  : xasprintf("<stdin>: %s", err ? err : "cannot read"),
                              {0, 0},
                              NULL};
        free(err);
        return -1;
    }
    int r = scn_load_buffer("<stdin>", text, len, vars, nvars, s, d);
    free(text);
    return r;
}

static const char usage[] =
    "usage: zonedef validate [--var name=value]... [--quiet] FILE...\n"
    "\n"
    "Checks scenario files: JSON syntax, every key, types, units, ranges and the checks across\n"
    "fields (zones exist, steps fit in guards.max_duration, regexes compile). Every mistake is\n"
    "reported as 'zonedef: validate: file:line:col: message (at $.json.path)'. A FILE of '-'\n"
    "reads the scenario from stdin (named <stdin> in messages).\n"
    "\n"
    "options:\n"
    "  --var name=value   set a variable used as ${name} in the files (repeatable; wins over\n"
    "                     the file's \"vars\" and the environment)\n"
    "  -q, --quiet        print nothing for valid files, only errors\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 every file is valid, 2 otherwise\n";

int cmd_validate(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage))
        return ZD_EXIT_OK;
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **vars = xcalloc((size_t)argc, sizeof(*vars));
    size_t nvars = 0;
    bool quiet = false;
    int c, rc = ZD_EXIT_OK;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "qh", longopts)) != -1) {
        switch (c) {
        case 'v':
            if (!diag_var_ok(argv[0], optarg)) {
                free(vars);
                return ZD_EXIT_USAGE;
            }
            vars[nvars++] = optarg;
            break;
        case 'q': quiet = true; break;
        default: free(vars); return ZD_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "zonedef: validate: no file given (see 'zonedef validate --help')\n");
        free(vars);
        return ZD_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        struct scn_scenario *s = NULL;
        struct scn_diags d = {NULL, 0, 0};
        bool in = strcmp(argv[i], "-") == 0;
        if ((in ? load_stdin(vars, nvars, &s, &d) : scn_load_file(argv[i], vars, nvars, &s, &d)) <
            0) {
            diag_print(&d, stderr);
            rc = ZD_EXIT_USAGE;
        } else if (!quiet) {
            char b[32];
            printf("ok %s (%s: %zu step%s, duration %s)\n", in ? "<stdin>" : argv[i], s->name,
                   s->nsteps, s->nsteps == 1 ? "" : "s",
                   zd_fmt_duration(s->duration_us, b, sizeof(b)));
            fflush(stdout);
        }
        scn_diags_free(&d);
        scn_free(s);
    }
    free(vars);
    return rc;
}
