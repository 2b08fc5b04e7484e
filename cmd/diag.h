/*
 * diag: how a command shows what is wrong with a scenario. `validate`, `plan` and `run` all
 * print parse errors the same way, one line each on stderr:
 *
 *   zonedef: validate: scenarios/x.json:12:7: unknown key 'zone_id' in a step (did you mean
 * 'zone'?) (at $.steps[0].zone_id)
 *
 * and all take `--var name=value` the same way.
 */
#ifndef ZD_DIAG_H
#define ZD_DIAG_H

#include <stdio.h>

#include "scenario/scenario.h"

/* Prints every diagnostic as "zonedef: COMMAND: <line>" to f (stderr in the commands), URLs
 * redacted. */
void diag_print(const struct scn_diags *d, FILE *f);

/* Checks one --var argument ("name=value", name of letters, digits and '_', not starting with a
 * digit). On a bad one prints "zonedef <cmd>: ..." to stderr and returns false. */
bool diag_var_ok(const char *cmd, const char *arg);

#endif
