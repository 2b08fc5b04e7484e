/*
 * aws_ssm: host faults on instances through SSM Run Command (the JSON protocol, X-Amz-Target
 * "AmazonSSM.<Action>", signed by libcurl like the Query calls). SendCommand runs one command
 * line built by target/hostcmd.h — the SSH target's own builders — with the AWS-RunShellScript
 * document on every selected instance; GetCommandInvocation is then polled per instance until
 * each has finished (Success, or Failed / TimedOut / Cancelled with the exit code and the first
 * line of its stderr), bounded in time. InvocationDoesNotExist right after SendCommand means
 * "not yet" (SSM is eventually consistent there).
 */
#include "target/aws/aws.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "target/hostcmd.h"

#include "base/banned.h"

#define POLL_US         1000000ull
#define DEADMAN_SLACK_S 5 /* a latency's switch fires this long after its planned end */

int aws_ssm_send(struct aws_ctx *c, const char *const *ids, size_t n, const char *command,
                 unsigned timeout_s, const char *comment, char **command_id, char **err)
{
    *command_id = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "DocumentName", "AWS-RunShellScript");
    cJSON *in = cJSON_AddArrayToObject(o, "InstanceIds");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(ids[i]));
    cJSON *p = cJSON_AddObjectToObject(o, "Parameters");
    cJSON *cmds = cJSON_AddArrayToObject(p, "commands");
    cJSON_AddItemToArray(cmds, cJSON_CreateString(command));
    cJSON *to = cJSON_AddArrayToObject(p, "executionTimeout");
    char ts[16];
    snprintf(ts, sizeof(ts), "%u", timeout_s);
    cJSON_AddItemToArray(to, cJSON_CreateString(ts));
    cJSON_AddNumberToObject(o, "TimeoutSeconds", 30 + timeout_s);
    if (comment)
        cJSON_AddStringToObject(o, "Comment", comment);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = NULL;
    int rc = aws_json_call(c, AWS_SSM, "AmazonSSM.SendCommand", body, &out, NULL, err);
    free(body);
    if (rc < 0)
        return -1;
    cJSON *j = cJSON_Parse(out);
    free(out);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "Command");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cmd, "CommandId");
    if (cJSON_IsString(id) && *id->valuestring)
        *command_id = xstrdup(id->valuestring);
    cJSON_Delete(j);
    return *command_id ? 0 : zd_err(err, "SSM SendCommand answered without a CommandId");
}

static bool finished(const char *st)
{
    static const char *const done[] = {"Success", "Failed", "TimedOut", "Cancelled", NULL};
    for (size_t i = 0; done[i]; i++)
        if (strcmp(st, done[i]) == 0)
            return true;
    return false;
}

int aws_ssm_wait(struct aws_ctx *c, const char *command_id, const char *const *ids, size_t n,
                 int also_ok, uint64_t timeout_us, char **err)
{
    bool *done = xcalloc(n + 1, sizeof(*done));
    struct sbuf bad = SBUF_INIT;
    uint64_t until = zd_now_us() + timeout_us;
    size_t left = n;
    while (left > 0) {
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            cJSON *q = cJSON_CreateObject();
            cJSON_AddStringToObject(q, "CommandId", command_id);
            cJSON_AddStringToObject(q, "InstanceId", ids[i]);
            char *body = cJSON_PrintUnformatted(q);
            cJSON_Delete(q);
            char *out = NULL, *code = NULL, *e = NULL;
            int rc =
                aws_json_call(c, AWS_SSM, "AmazonSSM.GetCommandInvocation", body, &out, &code, &e);
            free(body);
            if (rc < 0 && !(code && strcmp(code, "InvocationDoesNotExist") == 0)) {
                sbuf_addf(&bad, "%s%s: %s", bad.len ? "; " : "", ids[i], e);
                done[i] = true;
                left--;
            } else if (rc == 0) {
                cJSON *j = cJSON_Parse(out);
                const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "Status");
                const cJSON *rcj = cJSON_GetObjectItemCaseSensitive(j, "ResponseCode");
                const cJSON *se = cJSON_GetObjectItemCaseSensitive(j, "StandardErrorContent");
                const char *s = cJSON_IsString(st) ? st->valuestring : "";
                if (finished(s)) {
                    done[i] = true;
                    left--;
                    int code_ = cJSON_IsNumber(rcj) ? rcj->valueint : -1;
                    if (strcmp(s, "Success") != 0 && !(also_ok >= 0 && code_ == also_ok)) {
                        const char *el = cJSON_IsString(se) ? se->valuestring : "";
                        sbuf_addf(&bad, "%s%s: %s (exit %d)%s%.*s", bad.len ? "; " : "", ids[i], s,
                                  code_, *el ? ": " : "", (int)strcspn(el, "\n"), el);
                    }
                }
                cJSON_Delete(j);
            }
            free(out);
            free(code);
            free(e);
        }
        if (left == 0)
            break;
        if (zd_now_us() >= until) {
            sbuf_addf(&bad, "%s%zu instance%s not finished after %llus", bad.len ? "; " : "", left,
                      left == 1 ? "" : "s", (unsigned long long)(timeout_us / 1000000));
            break;
        }
        zd_sleep_us(POLL_US);
    }
    int rc = bad.len ? zd_err(err, "SSM command %s: %s", command_id, sbuf_str(&bad)) : 0;
    sbuf_free(&bad);
    free(done);
    return rc;
}

/* ---- host faults: the step's parameters into the action, and back into hostcmd lines ---- */

bool aws_host_fault(const char *fault)
{
    return fault && (strcmp(fault, "kill_process") == 0 || strcmp(fault, "cpu_stress") == 0 ||
                     strcmp(fault, "latency") == 0 || strcmp(fault, "exec") == 0);
}

/* A host fault's tag, naming what it leaves on the instance (/tmp/zonedef-<tag>.*):
 * [a-z0-9_], from the run id and the step's sequence number. */
static void host_tag(const char *run_id, unsigned seq, char *tag, size_t n)
{
    const char *r = strrchr(run_id, '-');
    snprintf(tag, n, "zd_%.8s_%u", r ? r + 1 : "0", seq);
    for (char *p = tag; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '_';
}

int aws_host_params(const struct scn_step *s, const char *run_id, unsigned seq, cJSON *a,
                    char **detail, char **err)
{
    *detail = NULL;
    switch (s->fault) {
    case SCN_FAULT_KILL_PROCESS:
        if (!s->process)
            return zd_err(err, "kill_process on aws needs 'process'");
        if (!hc_signal_name(s->signal))
            return zd_err(err, "signal %d has no name zonedef knows", s->signal);
        cJSON_AddStringToObject(a, "process", s->process);
        cJSON_AddNumberToObject(a, "signal", s->signal);
        *detail = xasprintf("SIG%s to '%s'", hc_signal_name(s->signal), s->process);
        return 0;
    case SCN_FAULT_LATENCY: {
        char tag[HC_TAG_MAX + 1], b1[32], b2[32];
        host_tag(run_id, seq, tag, sizeof(tag));
        uint64_t sec = (s->for_us + 999999) / 1000000;
        cJSON_AddStringToObject(a, "tag", tag);
        cJSON_AddNumberToObject(a, "delay_us", (double)s->delay_us);
        cJSON_AddNumberToObject(a, "jitter_us", (double)s->jitter_us);
        cJSON_AddNumberToObject(a, "loss", s->loss);
        if (s->interface)
            cJSON_AddStringToObject(a, "interface", s->interface);
        /* the dead-man's switch on the instance: the undo runs by itself this long after the
         * apply unless zonedef's undo cancels it first */
        sec += DEADMAN_SLACK_S;
        cJSON_AddNumberToObject(a, "deadman_s", (double)(sec > 86400 ? 86400 : sec));
        *detail = xasprintf("netem delay %s (jitter %s, loss %g%%) on %s",
                            zd_fmt_duration(s->delay_us, b1, sizeof(b1)),
                            zd_fmt_duration(s->jitter_us, b2, sizeof(b2)), s->loss,
                            s->interface ? s->interface : "every interface up but lo");
        return 0;
    }
    case SCN_FAULT_CPU_STRESS: {
        char tag[HC_TAG_MAX + 1];
        host_tag(run_id, seq, tag, sizeof(tag));
        uint64_t sec = (s->for_us + 999999) / 1000000;
        cJSON_AddStringToObject(a, "tag", tag);
        cJSON_AddNumberToObject(a, "workers", s->workers ? s->workers : 1);
        cJSON_AddNumberToObject(a, "percent", s->cpu_percent ? s->cpu_percent : 100);
        cJSON_AddNumberToObject(a, "seconds", (double)(sec < 1 ? 1 : sec > 86400 ? 86400 : sec));
        *detail = xasprintf("%u%% cpu x%u", s->cpu_percent ? s->cpu_percent : 100,
                            s->workers ? s->workers : 1);
        return 0;
    }
    case SCN_FAULT_EXEC:
        cJSON_AddStringToObject(a, "command", s->command);
        if (s->undo_command)
            cJSON_AddStringToObject(a, "undo_command", s->undo_command);
        *detail = xstrdup("exec");
        return 0;
    default: break;
    }
    return zd_err(err, "the aws target cannot do '%s'", scn_fault_name(s->fault));
}

static const char *js(const cJSON *a, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int ji(const cJSON *a, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, k);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* The hostcmd line for an action (NULL cmd with 0: nothing to do), and the exit code that
 * also counts as done (HC_EXIT_NOTHING for undos: nothing left to undo). */
static int host_command(const cJSON *a, bool undo, char **cmd, int *also_ok, char **err)
{
    const char *f = js(a, "fault");
    *cmd = NULL;
    *also_ok = undo ? HC_EXIT_NOTHING : -1;
    if (strcmp(f, "kill_process") == 0) {
        const char *p = js(a, "process");
        int sig = ji(a, "signal");
        if (!p || !hc_signal_name(sig))
            return zd_err(err, "the action's process or signal is not valid");
        if (!undo)
            *cmd = hc_signal(HC_BY_NAME, p, sig);
        else if (sig == SIGSTOP)
            *cmd = hc_signal(HC_BY_NAME, p, SIGCONT);
        return 0;
    }
    if (strcmp(f, "cpu_stress") == 0) {
        const char *tag = js(a, "tag");
        if (!tag || !hc_tag_valid(tag))
            return zd_err(err, "the action's tag is not one of zonedef's");
        *cmd = undo ? hc_cpu_stress_undo(tag)
                    : hc_cpu_stress(tag, (unsigned)ji(a, "workers"), (unsigned)ji(a, "percent"),
                                    (unsigned)ji(a, "seconds"));
        return *cmd ? 0 : zd_err(err, "the action's cpu_stress numbers are out of range");
    }
    if (strcmp(f, "latency") == 0) {
        const char *tag = js(a, "tag"), *iface = js(a, "interface");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "loss");
        int d = ji(a, "delay_us"), jt = ji(a, "jitter_us"), dm = ji(a, "deadman_s");
        if (!tag || !hc_tag_valid(tag) || d < 0 || jt < 0 || dm < 1)
            return zd_err(err, "the action's latency values are not valid");
        char *un = hc_netem_undo(tag);
        if (undo) {
            /* undo, then cancel the switch (still armed if the undo could not run) */
            char *cancel = hc_deadman_cancel(tag);
            *cmd = xasprintf("(%s\n) && (%s\n) >/dev/null", un, cancel);
            free(cancel);
        } else {
            /* hc_netem checks the interface name and the numbers (NULL when out of range) */
            char *ne = hc_netem(tag, iface, (unsigned long)d, (unsigned long)jt,
                                cJSON_IsNumber(l) ? l->valuedouble : 0);
            char *arm = ne ? hc_deadman_arm(tag, un, (unsigned)dm) : NULL;
            *cmd = arm ? xasprintf("(%s\n) >/dev/null && (%s\n)", arm, ne) : NULL;
            free(arm);
            free(ne);
        }
        free(un);
        return *cmd ? 0 : zd_err(err, "the action's latency values are out of range");
    }
    const char *c = js(a, undo ? "undo_command" : "command");
    if (c)
        *cmd = hc_exec(c);
    else if (!undo)
        return zd_err(err, "the action has no command");
    return 0;
}

int aws_host_act(struct aws_ctx *c, const cJSON *a, const char *const *ids, size_t n, bool undo,
                 char **note, char **err)
{
    char *cmd = NULL;
    int also_ok;
    if (host_command(a, undo, &cmd, &also_ok, err) < 0)
        return -1;
    if (!cmd || n == 0) {
        free(cmd);
        return 0;
    }
    char *comment = xasprintf("zonedef %s %s%s", js(a, "run_id") ? js(a, "run_id") : "",
                              js(a, "fault"), undo ? " undo" : "");
    char *id = NULL;
    int rc = aws_ssm_send(c, ids, n, cmd, 60, comment, &id, err);
    free(comment);
    free(cmd);
    if (rc == 0)
        rc = aws_ssm_wait(c, id, ids, n, also_ok, 90000000ull, err);
    if (note && id)
        *note = xasprintf("ssm command %s", id);
    free(id);
    return rc;
}

int aws_host_ready(struct aws_ctx *c, const cJSON *a, const char *const *ids, size_t n, char **err)
{
    const char *f = js(a, "fault");
    if (!f || strcmp(f, "latency") != 0 || n == 0)
        return 0;
    char *cmd = hc_netem_ready(js(a, "interface"));
    if (!cmd)
        return zd_err(err, "the action's interface is not a valid name");
    char *comment = xasprintf("zonedef %s latency check", js(a, "run_id") ? js(a, "run_id") : "");
    char *id = NULL, *e = NULL;
    int rc = aws_ssm_send(c, ids, n, cmd, 30, comment, &id, &e);
    if (rc == 0)
        rc = aws_ssm_wait(c, id, ids, n, -1, 60000000ull, &e);
    if (rc < 0)
        zd_err(err, "latency needs tc netem on every instance, nothing was applied: %s", e);
    free(e);
    free(id);
    free(comment);
    free(cmd);
    return rc;
}
