/*
 * ssh_check: `zonedef plan --check` for an ssh target: every host connected at once (the same
 * fleet code a run uses: strict host keys, the same auth), then one read-only command per host
 * (hc_preflight, through sudo -n when the scenario asks for sudo) that says which of nft,
 * iptables, tc (and netem) and systemd the host has and which uid the commands run as. Nothing is
 * changed on any host and known_hosts is never written.
 */
#include "target/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "target/hostcmd.h"
#include "target/ssh/ssh_fleet.h"

#include "base/banned.h"

void tgt_host_checks_free(struct tgt_host_check *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].host);
        free(v[i].zone);
        free(v[i].hostkey);
        free(v[i].error);
    }
    free(v);
}

static bool has(const char *out, const char *tool)
{
    char *want = xasprintf("%s yes\n", tool);
    bool r = out && strstr(out, want);
    free(want);
    return r;
}

int tgt_ssh_check(const struct scn_target *cfg, struct tgt_host_check **out, size_t *n,
                  uint64_t *elapsed_us, char **err)
{
    *out = NULL;
    *n = 0;
    if (cfg->kind != SCN_TARGET_SSH)
        return zd_err(err, "--check works on ssh targets only");
    uint64_t t0 = zd_now_us();
    struct ssh_opts o = {.user = cfg->ssh_user,
                         .key = cfg->ssh_key,
                         .passphrase_env = cfg->ssh_passphrase_env,
                         .known_hosts = cfg->ssh_known_hosts,
                         .strict = cfg->ssh_strict_host_key,
                         .accept_new = false,
                         .connect_timeout_us = cfg->ssh_connect_timeout_us,
                         .parallel = cfg->ssh_parallel};
    struct ssh_fleet *fl = ssh_fleet_new(&o);
    size_t total = 0;
    for (size_t z = 0; z < cfg->nzones; z++)
        total += cfg->zones[z].nhosts;
    struct tgt_host_check *v = xcalloc(total ? total : 1, sizeof(*v));
    for (size_t z = 0; z < cfg->nzones; z++) {
        for (size_t k = 0; k < cfg->zones[z].nhosts; k++) {
            const char *hs = cfg->zones[z].hosts[k];
            const char *colon = strrchr(hs, ':');
            char *host = colon && hs[0] != '[' ? xstrndup(hs, (size_t)(colon - hs)) : xstrdup(hs);
            int port = colon && hs[0] != '[' ? atoi(colon + 1) : cfg->ssh_port ? cfg->ssh_port : 22;
            size_t i = ssh_fleet_add(fl, host, port);
            v[i].host = xstrdup(ssh_fleet_name(fl, i));
            v[i].zone = xstrdup(cfg->zones[z].name);
            v[i].uid = -1;
            free(host);
        }
    }
    char *e = NULL;
    ssh_fleet_connect(fl, &e);
    free(e);
    struct ssh_job *jobs = xcalloc(total ? total : 1, sizeof(*jobs));
    char *pre = hc_preflight();
    char *cmd = hc_privileged(pre, cfg->ssh_sudo);
    size_t nj = 0;
    for (size_t i = 0; i < total; i++) {
        int at = ssh_fleet_failed_at(fl, i);
        const char *hk = ssh_fleet_hostkey(fl, i);
        v[i].hostkey = hk ? xstrdup(hk) : NULL;
        v[i].reachable = at == 0 || at > 1;
        v[i].hostkey_ok = at == 0 || at > 2;
        v[i].auth_ok = at == 0;
        if (at) {
            const char *m = ssh_fleet_error(fl, i);
            v[i].error = xstrdup(m ? m : "not connected");
            continue;
        }
        jobs[nj].host = i;
        jobs[nj].cmd = cmd;
        nj++;
    }
    ssh_fleet_exec(fl, jobs, nj,
                   cfg->ssh_command_timeout_us ? cfg->ssh_command_timeout_us : 30000000);
    for (size_t k = 0; k < nj; k++) {
        struct tgt_host_check *c = &v[jobs[k].host];
        const char *eo = jobs[k].errout ? jobs[k].errout : "";
        c->sudo_ok = jobs[k].status == 0 || !cfg->ssh_sudo;
        if (jobs[k].error) {
            c->error = xstrdup(jobs[k].error);
        } else if (jobs[k].status != 0) {
            c->sudo_ok = !(cfg->ssh_sudo && (hc_sudo_needs_password(eo) || jobs[k].status == 1));
            c->error = cfg->ssh_sudo && hc_sudo_needs_password(eo)
                           ? xstrdup("sudo needs a password (zonedef runs 'sudo -n')")
                           : xasprintf("the check command failed (exit %d): %.*s", jobs[k].status,
                                       (int)strcspn(eo, "\n"), eo);
        } else {
            c->nft = has(jobs[k].out, "nft");
            c->iptables = has(jobs[k].out, "iptables");
            c->tc = has(jobs[k].out, "tc");
            c->netem = has(jobs[k].out, "netem");
            c->systemd = has(jobs[k].out, "systemd");
            const char *u = jobs[k].out ? strstr(jobs[k].out, "uid ") : NULL;
            c->uid = u ? atoi(u + 4) : -1;
            if (!c->nft && !c->iptables)
                c->error = xstrdup("neither nft nor iptables: blackhole_zone cannot work");
        }
    }
    ssh_jobs_free(jobs, nj);
    free(jobs);
    free(pre);
    free(cmd);
    ssh_fleet_free(fl);
    int rc = 0;
    for (size_t i = 0; i < total; i++)
        if (v[i].error)
            rc = 1;
    *out = v;
    *n = total;
    if (elapsed_us)
        *elapsed_us = zd_now_us() - t0;
    return rc;
}
