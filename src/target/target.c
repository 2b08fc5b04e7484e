/*
 * target: the registry of target implementations behind the ops table in target.h, and the
 * helpers they share. Adding a target (ssh, aws) is one line in `all` below.
 */
#include "target/target.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"

#include "base/banned.h"

static const struct tgt_ops *const all[] = {
    &tgt_lab_ops,
    &tgt_aws_ops,
    &tgt_ssh_ops,
};

const struct tgt_ops *tgt_ops_named(const char *kind)
{
    for (size_t i = 0; kind && i < ZD_ARRAY_LEN(all); i++)
        if (strcmp(all[i]->kind, kind) == 0)
            return all[i];
    return NULL;
}

const struct tgt_ops *tgt_ops_for(enum scn_target_kind kind)
{
    switch (kind) {
    case SCN_TARGET_LAB: return tgt_ops_named("lab");
    case SCN_TARGET_SSH: return tgt_ops_named("ssh");
    case SCN_TARGET_AWS: return tgt_ops_named("aws");
    }
    return NULL;
}

char *tgt_action_kind(const char *action_json)
{
    cJSON *j = cJSON_Parse(action_json);
    if (!j)
        return NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind");
    char *out = cJSON_IsString(k) ? xstrdup(k->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

bool tgt_action_irreversible(const char *action_json)
{
    cJSON *j = cJSON_Parse(action_json ? action_json : "");
    if (!j)
        return false;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "fault");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signal");
    bool r = false;
    if (cJSON_IsString(f) && strcmp(f->valuestring, "kill_instances") == 0)
        r = true;
    else if (cJSON_IsString(f) && strcmp(f->valuestring, "kill_process") == 0)
        r = !cJSON_IsNumber(sig) || (sig->valueint != SIGSTOP && sig->valueint != SIGTSTP);
    cJSON_Delete(j);
    return r;
}

void tgt_inventory_free(struct tgt_inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->ninst; i++) {
        free(inv->inst[i].id);
        free(inv->inst[i].zone);
        free(inv->inst[i].addr);
    }
    free(inv->inst);
    for (size_t i = 0; i < inv->nzones; i++)
        free(inv->zones[i].zone);
    free(inv->zones);
    memset(inv, 0, sizeof(*inv));
}
