/*
 * diag: printing scenario diagnostics and checking --var arguments, shared by every command that
 * loads a scenario (validate, plan, run), so they all look the same to the user.
 */
#include "diag.h"

#include "cmd.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

void diag_print(const struct scn_diags *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++) {
        char *m = zd_text_redact(d->v[i].msg);
        fprintf(f, "zonedef: %s: %s\n", zd_command() ? zd_command() : "validate", m);
        free(m);
    }
    fflush(f);
}

bool diag_var_ok(const char *cmd, const char *arg)
{
    const char *eq = strchr(arg, '=');
    bool ok =
        eq && eq != arg && !(arg[0] >= '0' && arg[0] <= '9') && (size_t)(eq - arg) <= SCN_MAX_NAME;
    for (const char *p = arg; ok && p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            ok = false;
    if (!ok)
        fprintf(stderr,
                "zonedef: %s: --var '%s' must look like name=value (name: letters, digits, '_')\n",
                cmd, arg);
    return ok;
}
