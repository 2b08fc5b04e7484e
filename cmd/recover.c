/*
 * recover: `zonedef recover [RUN_DIR...]` undoes what crashed runs left applied. It needs
 * nothing but each run's journal: every fault whose intent is journaled and that was never
 * undone successfully is undone through its target's ops (undo is idempotent, so a fault that
 * was intended but never applied is harmless to undo), and the undo is journaled like the
 * runner's own. Without arguments it works through the registry of runs that did not end
 * cleanly. The target's lock is taken first, so a run still in progress is left alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diag.h"
#include "run/journal.h"
#include "run/runner.h"
#include "scenario/scenario.h"
#include "target/target.h"

#include "base/banned.h"

static const char usage[] =
    "usage: zonedef recover [RUN_DIR...]\n"
    "       zonedef recover --sweep FILE [--profile NAME]\n"
    "\n"
    "Undoes every fault a run left applied (a crash, a failed undo), using only the run's\n"
    "journal.jsonl, and records the undo there. Safe to run twice: a second run finds nothing\n"
    "to do. Without RUN_DIR, recovers every run registered as not having ended cleanly\n"
    "(registry: $ZONEDEF_STATE_DIR, else $XDG_STATE_HOME/zonedef, else ~/.local/state/zonedef).\n"
    "\n"
    "A journal is acted on only when it and its run directory are owned by you or root and\n"
    "nobody else can write them (like OpenSSH's StrictModes); every undo is checked against\n"
    "what zonedef makes (the lab's own processes, addresses and zonedef_* firewall tables;\n"
    "on AWS, only what carries zonedef's tags).\n"
    "\n"
    "--sweep FILE (aws) needs no journal: in the scenario's account, region and VPC it finds\n"
    "the network ACLs zonedef made (tagged zonedef:run), moves their subnets back to the ACL\n"
    "recorded on them and deletes them, and starts instances zonedef stopped; it touches no\n"
    "ACL without that tag. --profile NAME replaces target.profile.\n"
    "\n"
    "exit: 0 everything is undone (or nothing was open), 2 RUN_DIR is not a run directory, its\n"
    "journal is damaged or not trusted (nothing was done), 4 an undo failed (something may\n"
    "still be broken), 5 a run still holds the target, or a journal could not be read\n";

struct tally {
    size_t undone, nothing, failed, busy, bad, io;
};

/* Text out of a journal, made fit to print: secrets in URLs masked, control characters escaped
 * (a journal is data, and its summary must not move the cursor or rewrite the screen). */
static char *printable(const char *s)
{
    char *r = zd_text_redact(s ? s : "?");
    char *e = zd_escape_ctl(r);
    free(r);
    return e;
}

/* Opens the journal the way recover trusts it (journal.h: jn_open_trusted). NULL when there is
 * nothing to act on; the tally says why. */
static struct journal *open_journal(const char *state_dir, const char *dir, bool explicit_dir,
                                    struct jn_run *r, struct tally *t)
{
    int why = 0;
    char *err = NULL;
    struct journal *j = jn_open_trusted(dir, r, &why, &err);
    if (j)
        return j;
    char *msg = printable(err);
    switch (why) {
    case JN_MISSING:
        if (explicit_dir) {
            char *d = printable(dir);
            zd_error("recover: '%s' is not a run directory (no journal.jsonl)", d);
            free(d);
            t->bad++;
        } else {
            run_registry_remove(state_dir, dir); /* the run directory was deleted */
        }
        break;
    case JN_UNTRUSTED:
        zd_error("recover: %s; nothing was done (recover acts only on a journal that you or "
                 "root own and nobody else can write)",
                 msg);
        t->bad++;
        break;
    case JN_DAMAGED:
        zd_error("recover: %s; nothing was done", msg);
        t->bad++;
        break;
    default:
        zd_error("recover: %s", msg);
        t->io++;
        break;
    }
    free(msg);
    free(err);
    return NULL;
}

static int recover_dir(const char *state_dir, const char *dir, bool explicit_dir, struct tally *t)
{
    struct jn_run r;
    char *err = NULL;
    struct journal *j = open_journal(state_dir, dir, explicit_dir, &r, t);
    if (!j)
        return -1;
    size_t open = jn_open_faults(&r);
    if (open == 0) {
        printf("%s: nothing to undo\n", dir);
        run_registry_remove(state_dir, dir);
        jn_close(j);
        jn_run_free(&r);
        return 0;
    }
    int lock = -1;
    if (r.target_key) {
        int lk = run_lock(state_dir, r.target_key, &lock, &err);
        if (lk == 1) {
            char *k = printable(r.target_key);
            zd_error("recover: %s: a run is still using %s; leaving its faults alone", dir, k);
            free(k);
            t->busy++;
            jn_close(j);
            jn_run_free(&r);
            return -1;
        }
        if (lk < 0) {
            zd_warning("recover: %s (going on without the lock)", err);
            free(err);
            err = NULL;
        }
    }
    size_t failed = 0;
    for (size_t i = r.nfaults; i-- > 0;) {
        const struct jn_fault *f = &r.faults[i];
        if (!jn_fault_open(f))
            continue;
        char *name = printable(f->name);
        char *what = printable(f->summary ? f->summary : f->fault);
        jn_rec_undo_intent(j, f->step, "recover", 0, zd_wall_us(), NULL);
        char *kind = tgt_action_kind(f->action);
        bool irreversible = tgt_action_irreversible(f->action);
        int rc = 0;
        if (kind && strcmp(kind, "runner") == 0) {
            /* a traffic spike: the load died with the run; nothing is left to undo */
        } else {
            const struct tgt_ops *ops = tgt_ops_named(kind);
            if (!ops)
                rc = zd_err(&err, "no target kind '%s' in this build", kind ? kind : "(none)");
            else if (ops->undo_noted)
                rc = ops->undo_noted(NULL, f->action, f->note, &err);
            else
                rc = ops->undo(NULL, f->action, &err);
        }
        free(kind);
        jn_rec_undone(j, f->step, rc == 0, rc == 0 ? NULL : err, "recover", 0, zd_wall_us(), NULL);
        if (rc == 0 && irreversible) {
            printf("%s: nothing to undo for %s: %s (a kill cannot be undone; the healer or the "
                   "platform replaces what died)\n",
                   dir, name, what);
            t->nothing++;
        } else if (rc == 0) {
            printf("%s: undone %s: %s\n", dir, name, what);
            t->undone++;
        } else {
            char *e = printable(err);
            zd_error("recover: %s: undo of %s (%s) failed: %s", dir, name, what, e);
            free(e);
            failed++;
            t->failed++;
        }
        free(name);
        free(what);
        free(err);
        err = NULL;
    }
    jn_close(j);
    run_unlock(lock);
    if (failed == 0)
        run_registry_remove(state_dir, dir);
    jn_run_free(&r);
    return failed ? -1 : 0;
}

/* --sweep: what the target kind can find of its own without a journal (AWS: tagged ACLs). */
static int sweep(const char *state_dir, const char *file, const char *profile)
{
    struct scn_scenario *s = NULL;
    struct scn_diags d = {0};
    if (scn_load_file(file, NULL, 0, &s, &d) < 0) {
        diag_print(&d, stderr);
        scn_diags_free(&d);
        return ZD_EXIT_USAGE;
    }
    scn_diags_free(&d);
    const struct tgt_ops *ops = tgt_ops_for(s->target.kind);
    if (!ops || !ops->sweep) {
        zd_error("recover --sweep: the %s target keeps nothing to sweep (only aws does)",
                 ops ? ops->kind : "unknown");
        scn_free(s);
        return ZD_EXIT_USAGE;
    }
    if (profile) {
        free(s->target.aws_profile);
        s->target.aws_profile = xstrdup(profile);
    }
    void *ts = NULL;
    char *err = NULL, *report = NULL;
    int orc = ops->open(&s->target, &ts, &err);
    if (orc < 0) {
        zd_error("recover --sweep: %s", err);
        free(err);
        scn_free(s);
        return orc == -2 ? ZD_EXIT_USAGE : ZD_EXIT_RUNTIME;
    }
    char *key = ops->key(ts);
    int lock = -1, rc = ZD_EXIT_OK;
    int lk = run_lock(state_dir, key, &lock, &err);
    if (lk == 1) {
        zd_error("recover --sweep: a run is still using %s; leaving it alone", key);
        rc = ZD_EXIT_RUNTIME;
    } else {
        if (lk < 0)
            zd_warning("recover --sweep: %s (going on without the lock)", err);
        free(err);
        err = NULL;
        int r = ops->sweep(ts, &report, &err);
        if (report && *report)
            fputs(report, stdout);
        else if (r == 0)
            printf("%s: nothing to sweep\n", key);
        if (r < 0) {
            zd_error("recover --sweep: %s", err);
            rc = ZD_EXIT_UNDO;
        }
    }
    run_unlock(lock);
    free(report);
    free(err);
    free(key);
    ops->close(ts);
    scn_free(s);
    return rc;
}

int cmd_recover(int argc, char **argv)
{
    if (zd_wants_help(argc, argv, usage))
        return ZD_EXIT_OK;
    static const struct option opts[] = {{"sweep", required_argument, NULL, 's'},
                                         {"profile", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    const char *sweep_file = NULL, *profile = NULL;
    int c;
    optind = 0;
    while ((c = zd_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 's': sweep_file = optarg; break;
        case 'p': profile = optarg; break;
        default: return ZD_EXIT_USAGE;
        }
    }
    if (sweep_file || profile) {
        if (!sweep_file || optind < argc) {
            zd_error("recover: --sweep FILE takes no run directory (and --profile needs it)");
            return ZD_EXIT_USAGE;
        }
        char *st = run_state_dir();
        int rc = sweep(st, sweep_file, profile);
        free(st);
        return rc;
    }
    char *state = run_state_dir();
    struct tally t = {0};
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            char *abs = realpath(argv[i], NULL);
            recover_dir(state, abs ? abs : argv[i], true, &t);
            free(abs);
        }
    } else {
        char **dirs = NULL;
        size_t n = 0;
        char *err = NULL;
        if (run_registry_list(state, &dirs, &n, &err) < 0) {
            zd_error("recover: %s", err);
            free(err);
            free(state);
            return ZD_EXIT_RUNTIME;
        }
        if (n == 0)
            printf("nothing to recover: no run left faults behind\n");
        for (size_t i = 0; i < n; i++) {
            recover_dir(state, dirs[i], false, &t);
            free(dirs[i]);
        }
        free(dirs);
    }
    free(state);
    if (t.undone || t.nothing) {
        printf("recovered: %zu fault%s undone", t.undone, t.undone == 1 ? "" : "s");
        if (t.nothing)
            printf(", %zu with nothing to undo", t.nothing);
        printf("\n");
    }
    if (t.failed) {
        zd_error("recover: %zu undo%s failed: something may still be broken; run 'zonedef "
                 "recover' again once the cause is fixed",
                 t.failed, t.failed == 1 ? "" : "s");
        return ZD_EXIT_UNDO;
    }
    if (t.bad)
        return ZD_EXIT_USAGE;
    if (t.busy || t.io)
        return ZD_EXIT_RUNTIME;
    return ZD_EXIT_OK;
}
