/*
 * main: zonedef's entry point and its command table (git style: one file per subcommand in cmd/,
 * `cmd_<name>(argc, argv)` returns the exit status).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#include "base/banned.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"validate", cmd_validate, "check scenario files and report every mistake"},
    {"plan", cmd_plan, "print the timeline a scenario will follow"},
    {"run", cmd_run, "run a scenario: load, faults, undo, measure, score"},
    {"load", cmd_load, "drive open-loop HTTP load at a URL and measure it"},
    {"lab", cmd_lab, "start, inspect and stop the local three-zone lab"},
    {"recover", cmd_recover, "undo faults left applied by a crashed run"},
    {"report", cmd_report, "show or recompute the results of a run"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: zonedef <command> [options]\n"
               "       zonedef help <command> | zonedef --version\n\n"
               "zonedef breaks things on purpose and measures what users saw.\n\ncommands:\n");
    for (size_t i = 0; i < ZD_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 passed, 1 expectations not met, 2 invalid input or usage,\n"
               "3 aborted (faults undone), 4 an undo failed, 5 runtime error\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < ZD_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int unknown(const char *name)
{
    const char *cands[ZD_ARRAY_LEN(commands) + 1];
    for (size_t i = 0; i < ZD_ARRAY_LEN(commands); i++)
        cands[i] = commands[i].name;
    cands[ZD_ARRAY_LEN(commands)] = NULL;
    const char *s = zd_suggest(name, cands);
    if (s)
        zd_error("'%s' is not a command (did you mean '%s'?)", name, s);
    else
        zd_error("'%s' is not a command (see 'zonedef --help')", name);
    return ZD_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ZD_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return ZD_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("zonedef %s\n", ZD_VERSION);
        return ZD_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        /* "help", "help help", "help --help": the overview; "help CMD": the command's options */
        if (argc < 3 || strcmp(argv[2], "help") == 0 || strcmp(argv[2], "--help") == 0 ||
            strcmp(argv[2], "-h") == 0) {
            usage(stdout);
            return ZD_EXIT_OK;
        }
        zd_set_command("help");
        const struct command *c = find(argv[2]);
        if (!c)
            return unknown(argv[2]);
        zd_set_command(c->name);
        char *hargv[] = {(char *)c->name, (char *)"--help", NULL};
        return c->fn(2, hargv);
    }
    if (name[0] == '-') {
        const char *cands[] = {"help", "version", NULL};
        const char *s = zd_suggest(name + (name[1] == '-' ? 2 : 1), cands);
        if (s)
            zd_error("unknown option '%s' (did you mean '--%s'?)", name, s);
        else
            zd_error("unknown option '%s' (see 'zonedef --help')", name);
        return ZD_EXIT_USAGE;
    }
    const struct command *c = find(name);
    if (!c)
        return unknown(name);
    zd_set_command(c->name);
    return c->fn(argc - 1, argv + 1);
}
