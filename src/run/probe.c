/*
 * probe: one-shot checks the runner repeats on each probe's interval while a scenario runs.
 * HTTP probes use a libcurl easy handle with a total timeout (never the load's connections, so
 * a probe sees what a fresh client sees); command probes run /bin/sh -c in a process group of
 * their own so a timeout kills the whole pipeline, not just the shell.
 */
#include "run/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/util.h"

#include "base/banned.h"

extern char **environ;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sbuf *sb = ud;
    size_t n = size * nmemb;
    if (sb->len + n > PROBE_MAX_BODY) /* keep what fits, tell curl all was taken */
        sbuf_add(sb, data, PROBE_MAX_BODY - sb->len);
    else
        sbuf_add(sb, data, n);
    return n;
}

static bool body_matches(const char *re, const char *body, size_t len, char **detail)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
    if (!code) {
        *detail = xasprintf("bad body regex at offset %zu", (size_t)off);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc = pcre2_match(code, (PCRE2_SPTR)body, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return rc >= 0;
}

static bool probe_http(const struct scn_probe *p, char **detail)
{
    CURL *c = curl_easy_init();
    if (!c) {
        *detail = xstrdup("cannot create a curl handle");
        return false;
    }
    struct sbuf body;
    sbuf_init(&body, PROBE_MAX_BODY);
    long ms = (long)(p->timeout_us / 1000);
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "zonedef-probe/" ZD_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    bool ok = false;
    char dur[32];
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        *detail = xasprintf("timed out after %s", zd_fmt_duration(p->timeout_us, dur, sizeof(dur)));
    } else if (rc != CURLE_OK) {
        *detail = xstrdup(curl_easy_strerror(rc));
    } else if (status < p->status.lo || status > p->status.hi) {
        *detail = xasprintf("status %ld", status);
    } else if (p->body && !body_matches(p->body, body.buf ? body.buf : "", body.len, detail)) {
        if (!*detail)
            *detail = xasprintf("status %ld, body does not match", status);
    } else {
        *detail = xasprintf("status %ld", status);
        ok = true;
    }
    sbuf_free(&body);
    return ok;
}

bool probe_command(const char *command, uint64_t timeout_us, char **detail)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        *detail = xasprintf("cannot run /bin/sh: %s", strerror(rc));
        return false;
    }
    uint64_t deadline = zd_now_us() + timeout_us;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            *detail = xasprintf("waitpid: %s", strerror(errno));
            return false;
        }
        if (zd_now_us() >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            char dur[32];
            *detail =
                xasprintf("timed out after %s", zd_fmt_duration(timeout_us, dur, sizeof(dur)));
            return false;
        }
        zd_sleep_us(5000);
    }
    if (WIFEXITED(st)) {
        *detail = xasprintf("exit %d", WEXITSTATUS(st));
        return WEXITSTATUS(st) == 0;
    }
    *detail = xasprintf("killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return false;
}

bool probe_run(const struct scn_probe *p, char **detail)
{
    *detail = NULL;
    switch (p->kind) {
    case SCN_PROBE_HTTP: return probe_http(p, detail);
    case SCN_PROBE_COMMAND: return probe_command(p->command, p->timeout_us, detail);
    case SCN_PROBE_LB_HEALTH: break;
    }
    *detail = xstrdup("lb_health probes run through the target");
    return false;
}
