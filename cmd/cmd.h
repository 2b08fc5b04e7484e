/*
 * cmd.h: what the subcommands share. Each subcommand lives in cmd/<name>.c as
 * `int cmd_<name>(int argc, char **argv)` (argv[0] is the command's name) and returns the
 * process exit status (see the ZD_EXIT_* codes). Only cmd/ prints to the user and decides exit
 * codes; src/ returns errors.
 */
#ifndef ZD_CMD_H
#define ZD_CMD_H

#include <getopt.h>
#include <stdbool.h>

#include "base/util.h"

/* Exit codes (README "Exit codes"; DESIGN.md). */
enum {
    ZD_EXIT_OK = 0,      /* passed */
    ZD_EXIT_FAILED = 1,  /* resilience expectations not met / steady state did not hold */
    ZD_EXIT_USAGE = 2,   /* invalid input or usage */
    ZD_EXIT_ABORTED = 3, /* aborted by a guard or a signal; faults undone */
    ZD_EXIT_UNDO = 4,    /* an undo failed: something may still be broken */
    ZD_EXIT_RUNTIME = 5, /* runtime or system error */
};

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* The command being run ("validate", "lab"), set once by main: every error line names it. */
void zd_set_command(const char *name);
const char *zd_command(void); /* NULL before a command was picked */

/* "zonedef: COMMAND: <message>" on stderr (no second COMMAND when the message starts with it:
 * "lab up: ..."); URLs in it are redacted (zd_text_redact). */
void zd_error(const char *fmt, ...) ZD_PRINTF(1, 2);
/* "zonedef: COMMAND: warning: <message>" on stderr. */
void zd_warning(const char *fmt, ...) ZD_PRINTF(1, 2);

/*
 * getopt_long with zonedef's error messages: returns like getopt_long, but on an unknown option
 * or a missing argument it prints one line ("zonedef <cmd>: unknown option '--jsn' (did you mean
 * '--json'?)") and returns '?'; the caller then returns ZD_EXIT_USAGE. Call with optind = 0 reset
 * done by the caller (zd_getopt resets it on the first call for argv).
 */
int zd_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* Prints `usage` to stdout when argv holds --help or -h anywhere before "--"; returns true then.
 * Commands call it first so `--help` works whatever else is on the line. */
bool zd_wants_help(int argc, char **argv, const char *usage);

/* True when stdout (fd 1) / stderr (fd 2) is a terminal and NO_COLOR is not set. */
bool zd_color(int fd);

#endif
