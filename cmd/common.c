/*
 * common: what every subcommand uses to talk to the user: error lines, option parsing with
 * did-you-mean, --help handling, colour detection.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#include "base/banned.h"

static const char *cmd_name;

void zd_set_command(const char *name)
{
    cmd_name = name;
}

const char *zd_command(void)
{
    return cmd_name;
}

/* "zonedef: COMMAND: " unless the message names its command already ("lab up: ..."). */
static const char *cmd_prefix(const char *msg)
{
    if (!cmd_name)
        return "";
    size_t n = strlen(cmd_name);
    if (strncmp(msg, cmd_name, n) == 0 && (msg[n] == ':' || msg[n] == ' '))
        return "";
    return cmd_name;
}

/* Every error line is redacted: a URL's password never reaches the terminal or a CI log. */
static void say(const char *prefix, const char *fmt, va_list ap)
{
    char *msg = xvasprintf(fmt, ap);
    char *red = zd_text_redact(msg);
    const char *c = cmd_prefix(red);
    fprintf(stderr, "zonedef: %s%s%s%s\n", c, *c ? ": " : "", prefix, red);
    free(red);
    free(msg);
}

void zd_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
}

void zd_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

int zd_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    /* leading ':' so a missing argument is told apart from an unknown option */
    char so[128];
    snprintf(so, sizeof(so), ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, so, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    const char *arg = argv[optind - 1 < argc ? optind - 1 : argc - 1];
    if (c == ':') {
        fprintf(stderr, "zonedef: %s: option '%s' needs a value\n", argv[0], arg);
        return '?';
    }
    if (optopt && !zd_str_has_prefix(arg, "--")) {
        fprintf(stderr, "zonedef: %s: unknown option '-%c' (see 'zonedef %s --help')\n", argv[0],
                optopt, argv[0]);
        return '?';
    }
    /* an unknown long option: suggest the closest known one */
    char name[64];
    snprintf(name, sizeof(name), "%s", arg + 2);
    char *eq = strchr(name, '=');
    if (eq)
        *eq = '\0';
    const char *cands[64];
    size_t n = 0;
    for (size_t i = 0; longopts && longopts[i].name && n < ZD_ARRAY_LEN(cands) - 1; i++)
        cands[n++] = longopts[i].name;
    cands[n] = NULL;
    const char *s = zd_suggest(name, cands);
    if (s)
        fprintf(stderr, "zonedef: %s: unknown option '--%s' (did you mean '--%s'?)\n", argv[0],
                name, s);
    else
        fprintf(stderr, "zonedef: %s: unknown option '--%s' (see 'zonedef %s --help')\n", argv[0],
                name, argv[0]);
    return '?';
}

bool zd_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return true;
        }
    }
    return false;
}

bool zd_color(int fd)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd);
}
