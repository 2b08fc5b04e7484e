/*
 * lab-fault: drives the lab's target ops (tgt_lab_ops) from shell tests, the way the runner
 * does: open, prepare, apply, undo, resolve, health.
 *
 *   lab-fault DIR inject FAULT [--zone Z] [--count N] [--percent P] [--delay MS] [--jitter MS]
 *                              [--cpu PCT] [--process NAME] [--command C] [--undo-command C]
 *       prepares and applies; prints the action JSON on stdout, the summary on stderr
 *   lab-fault DIR undo ACTION_JSON      (no open target: as `zonedef recover` would)
 *   lab-fault DIR resolve | health      one line per instance / per zone
 * Exit 0 on success, 1 with the error on stderr otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "base/util.h"

static int fault_by_name(const char *n)
{
    static const char *const names[] = {
        "kill_instances", "stop_instances", "blackhole_zone", "traffic_spike",
        "latency",        "cpu_stress",     "kill_process",   "exec"};
    for (size_t i = 0; i < ZD_ARRAY_LEN(names); i++)
        if (strcmp(names[i], n) == 0)
            return (int)i;
    return -1;
}

static int fail(char *err)
{
    fprintf(stderr, "lab-fault: %s\n", err ? err : "?");
    free(err);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: lab-fault DIR inject|undo|resolve|health ...\n");
        return 2;
    }
    const struct tgt_ops *ops = &tgt_lab_ops;
    struct scn_target tcfg = {.kind = SCN_TARGET_LAB, .lab_dir = argv[1]};
    char *err = NULL;
    if (strcmp(argv[2], "undo") == 0) {
        if (argc < 4)
            return 2;
        return ops->undo(NULL, argv[3], &err) < 0 ? fail(err) : 0;
    }
    void *st = NULL;
    if (ops->open(&tcfg, &st, &err) < 0)
        return fail(err);
    int rc = 0;
    if (strcmp(argv[2], "resolve") == 0 || strcmp(argv[2], "health") == 0) {
        struct tgt_inventory inv;
        bool res = argv[2][0] == 'r';
        if ((res ? ops->resolve : ops->health)(st, &inv, &err) < 0) {
            ops->close(st);
            return fail(err);
        }
        for (size_t i = 0; i < inv.ninst; i++)
            printf("%s %s %s healthy=%d running=%d\n", inv.inst[i].id, inv.inst[i].zone,
                   inv.inst[i].addr, inv.inst[i].healthy, inv.inst[i].running);
        for (size_t i = 0; i < inv.nzones; i++)
            printf("zone %s %u/%u\n", inv.zones[i].zone, inv.zones[i].healthy, inv.zones[i].total);
        tgt_inventory_free(&inv);
    } else if (strcmp(argv[2], "inject") == 0 && argc >= 4) {
        struct scn_step step = {0};
        int f = fault_by_name(argv[3]);
        if (f < 0) {
            ops->close(st);
            fprintf(stderr, "lab-fault: unknown fault '%s'\n", argv[3]);
            return 2;
        }
        step.fault = (enum scn_fault)f;
        step.signal = SIGKILL;
        for (int i = 4; i + 1 < argc; i += 2) {
            const char *k = argv[i], *v = argv[i + 1];
            if (strcmp(k, "--zone") == 0)
                step.sel.zone = (char *)v;
            else if (strcmp(k, "--count") == 0)
                step.sel.count = (uint32_t)atoi(v);
            else if (strcmp(k, "--percent") == 0)
                step.sel.percent = atof(v);
            else if (strcmp(k, "--delay") == 0)
                step.delay_us = (uint64_t)atoi(v) * 1000;
            else if (strcmp(k, "--jitter") == 0)
                step.jitter_us = (uint64_t)atoi(v) * 1000;
            else if (strcmp(k, "--cpu") == 0)
                step.cpu_percent = (uint32_t)atoi(v);
            else if (strcmp(k, "--process") == 0)
                step.process = (char *)v;
            else if (strcmp(k, "--command") == 0)
                step.command = (char *)v;
            else if (strcmp(k, "--undo-command") == 0)
                step.undo_command = (char *)v;
            else if (strcmp(k, "--tag") == 0) {
                static struct scn_kv kv = {(char *)"role", (char *)"web"};
                step.sel.tags = &kv;
                step.sel.ntags = 1;
            }
        }
        char *action = NULL, *summary = NULL;
        if (ops->prepare(st, &step, &action, &summary, &err) < 0 ||
            ops->apply(st, action, &err) < 0) {
            if (action)
                printf("%s\n", action);
            rc = fail(err);
        } else {
            printf("%s\n", action);
            fprintf(stderr, "%s\n", summary);
        }
        free(action);
        free(summary);
    } else {
        rc = 2;
    }
    ops->close(st);
    return rc;
}
