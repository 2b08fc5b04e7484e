/*
 * aws_creds: where the credentials come from, in the order the AWS CLI and SDKs use:
 *
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN — skipped
 *      when a profile is named explicitly (--profile, target.profile), as the AWS CLI does;
 *   2. the profile (the explicit one, else AWS_PROFILE, else "default") in the shared files
 *      AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, "[name]") and AWS_CONFIG_FILE
 *      (~/.aws/config, "[profile name]"): aws_access_key_id/aws_secret_access_key/
 *      aws_session_token, or role_arn + source_profile (or credential_source Environment /
 *      Ec2InstanceMetadata) through STS AssumeRole (external_id, role_session_name honoured;
 *      source_profile chains at most 5 deep);
 *   3. the instance role through IMDSv2 (a PUT for the session token first, then the role's
 *      credentials), unless AWS_EC2_METADATA_DISABLED=true; the endpoint is
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254).
 *
 * An explicitly named profile that does not exist is an error, not a fall-through to the next
 * step (a typo must not pick up another account's keys). Errors name the step and the file,
 * never a key or a token.
 */
#include "target/aws/aws.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/banned.h"

#define MAX_INI      (1u << 20)
#define MAX_DEPTH    5
#define IMDS_TIMEOUT 1000000ull

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

char *aws_ini_get(const char *text, const char *section, const char *key)
{
    if (!text)
        return NULL;
    bool in = false;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *b = p, *e = nl ? nl : p + strlen(p);
        p = nl ? nl + 1 : e;
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *c = memchr(b, ']', (size_t)(e - b));
            if (!c)
                continue;
            const char *sb = b + 1, *se = c;
            trim(&sb, &se);
            /* "[profile  x]" and "[x]" compare on the words, spaces collapsed to one */
            char name[256];
            size_t k = 0;
            bool sp = false;
            for (const char *q = sb; q < se && k + 1 < sizeof(name); q++) {
                if (isspace((unsigned char)*q)) {
                    sp = true;
                    continue;
                }
                if (sp && k > 0)
                    name[k++] = ' ';
                sp = false;
                name[k++] = *q;
            }
            name[k] = 0;
            in = strcmp(name, section) == 0;
            continue;
        }
        if (!in)
            continue;
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (!eq)
            continue;
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
        trim(&kb, &ke);
        trim(&vb, &ve);
        if ((size_t)(ke - kb) == strlen(key) && strncasecmp(kb, key, (size_t)(ke - kb)) == 0)
            return xstrndup(vb, (size_t)(ve - vb));
    }
    return NULL;
}

struct files {
    char *cfg_path, *cred_path;
    char *cfg, *cred; /* contents, NULL when unreadable */
};

static char *home_file(const char *env, const char *rel)
{
    const char *v = env_nonempty(env);
    if (v)
        return xstrdup(v);
    const char *h = env_nonempty("HOME");
    return xasprintf("%s/%s", h ? h : "", rel);
}

static void files_load(struct files *f)
{
    f->cfg_path = home_file("AWS_CONFIG_FILE", ".aws/config");
    f->cred_path = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    size_t n;
    if (zd_read_file(f->cfg_path, MAX_INI, &f->cfg, &n, NULL) < 0)
        f->cfg = NULL;
    if (zd_read_file(f->cred_path, MAX_INI, &f->cred, &n, NULL) < 0)
        f->cred = NULL;
}

static void files_free(struct files *f)
{
    free(f->cfg_path);
    free(f->cred_path);
    if (f->cred)
        memset(f->cred, 0, strlen(f->cred));
    free(f->cfg);
    free(f->cred);
}

/* A key of a profile: credentials file first ("[name]"), then config ("[profile name]", or
 * "[default]"). */
static char *prof_get(const struct files *f, const char *profile, const char *key)
{
    char *v = aws_ini_get(f->cred, profile, key);
    if (v)
        return v;
    char sec[300];
    if (strcmp(profile, "default") == 0)
        snprintf(sec, sizeof(sec), "default");
    else
        snprintf(sec, sizeof(sec), "profile %s", profile);
    v = aws_ini_get(f->cfg, sec, key);
    if (!v && strcmp(profile, "default") == 0)
        v = aws_ini_get(f->cfg, "profile default", key);
    return v;
}

static bool prof_exists(const struct files *f, const char *profile)
{
    static const char *const keys[] = {"aws_access_key_id", "role_arn",          "region",
                                       "source_profile",    "credential_source", NULL};
    for (size_t i = 0; keys[i]; i++) {
        char *v = prof_get(f, profile, keys[i]);
        if (v) {
            free(v);
            return true;
        }
    }
    return false;
}

static int from_env(struct aws_creds *out)
{
    const char *k = env_nonempty("AWS_ACCESS_KEY_ID"), *s = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (!k || !s)
        return 0;
    out->akid = xstrdup(k);
    out->secret = xstrdup(s);
    const char *t = env_nonempty("AWS_SESSION_TOKEN");
    out->token = t ? xstrdup(t) : NULL;
    out->source = xstrdup("environment");
    return 1;
}

/* ---- IMDSv2 ---- */

static int from_imds(struct aws_creds *out, char **err)
{
    const char *base = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base)
        base = "http://169.254.169.254";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    struct aws_retry rt = {
        .attempts = 2, .base_us = 100000, .cap_us = 500000, .budget_us = 3000000};
    struct aws_resp r;
    char *url = xasprintf("%.*s/latest/api/token", (int)bl, base);
    const char *const th[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    char *e = NULL;
    int rc = aws_http("PUT", url, th, NULL, NULL, NULL, NULL, &rt, IMDS_TIMEOUT, NULL, &r, &e);
    free(url);
    if (rc < 0 || r.status != 200 || r.len == 0 || r.len > 1024) {
        zd_err(err, "instance metadata (IMDSv2) gave no session token: %s",
               rc < 0            ? e
               : r.status != 200 ? "HTTP error"
                                 : "empty token");
        free(e);
        aws_resp_free(&r);
        return 0;
    }
    char *hdr = xasprintf("X-aws-ec2-metadata-token: %.*s", (int)r.len, r.body);
    aws_resp_free(&r);
    const char *const ah[] = {hdr, NULL};
    url = xasprintf("%.*s/latest/meta-data/iam/security-credentials/", (int)bl, base);
    rc = aws_http("GET", url, ah, NULL, NULL, NULL, NULL, &rt, IMDS_TIMEOUT, NULL, &r, &e);
    free(url);
    int ret = 0;
    if (rc < 0 || r.status != 200 || r.len == 0) {
        zd_err(err, "instance metadata has no instance role (%s)", rc < 0 ? e : "HTTP error");
        goto out;
    }
    size_t rl = strcspn(r.body, "\r\n");
    char *role = xstrndup(r.body, rl);
    aws_resp_free(&r);
    char *enc;
    {
        struct sbuf sb = SBUF_INIT;
        aws_urlencode(&sb, role);
        enc = sbuf_detach(&sb);
    }
    url = xasprintf("%.*s/latest/meta-data/iam/security-credentials/%s", (int)bl, base, enc);
    free(enc);
    rc = aws_http("GET", url, ah, NULL, NULL, NULL, NULL, &rt, IMDS_TIMEOUT, NULL, &r, &e);
    free(url);
    if (rc < 0 || r.status != 200) {
        zd_err(err, "instance metadata: no credentials for role '%s'", role);
        free(role);
        goto out;
    }
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "AccessKeyId");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "SecretAccessKey");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "Token");
    if (cJSON_IsString(k) && cJSON_IsString(s) && *k->valuestring && *s->valuestring) {
        out->akid = xstrdup(k->valuestring);
        out->secret = xstrdup(s->valuestring);
        out->token = cJSON_IsString(t) && *t->valuestring ? xstrdup(t->valuestring) : NULL;
        out->source = xasprintf("instance role '%s' (IMDSv2)", role);
        ret = 1;
    } else {
        zd_err(err, "instance metadata: the credentials of role '%s' are not readable", role);
    }
    if (j && s && cJSON_IsString(s))
        memset(s->valuestring, 0, strlen(s->valuestring));
    if (j && t && cJSON_IsString(t))
        memset(t->valuestring, 0, strlen(t->valuestring));
    cJSON_Delete(j);
    free(role);
out:
    if (r.body)
        memset(r.body, 0, r.len);
    aws_resp_free(&r);
    memset(hdr, 0, strlen(hdr));
    free(hdr);
    free(e);
    return ret;
}

/* ---- AssumeRole ---- */

static int assume_role(const struct aws_chain_opts *o, const struct files *f, const char *profile,
                       const char *role_arn, struct aws_creds *src, struct aws_creds *out,
                       char **err)
{
    struct aws_ctx c = {0};
    char *preg = prof_get(f, profile, "region");
    const char *reg = o->region ? o->region : preg ? preg : env_nonempty("AWS_REGION");
    if (!reg)
        reg = env_nonempty("AWS_DEFAULT_REGION");
    c.region = xstrdup(reg ? reg : "us-east-1");
    free(preg);
    c.endpoint = o->endpoint ? xstrdup(o->endpoint) : NULL;
    c.creds = *src;
    memset(src, 0, sizeof(*src));
    if (o->retry)
        c.retry = *o->retry;
    else
        c.retry = (struct aws_retry){3, 200000, 2000000, 10000000};
    struct aws_query q;
    aws_q_init(&q, "AssumeRole", "2011-06-15");
    aws_q_add(&q, "RoleArn", role_arn);
    char *sn = prof_get(f, profile, "role_session_name");
    char *dflt = xasprintf("zonedef-%lld", (long long)time(NULL));
    aws_q_add(&q, "RoleSessionName", sn ? sn : dflt);
    free(dflt);
    free(sn);
    char *ext = prof_get(f, profile, "external_id");
    if (ext)
        aws_q_add(&q, "ExternalId", ext);
    free(ext);
    xmlDoc *d = NULL;
    char *e = NULL;
    int rc = aws_query_call(&c, AWS_STS, &q, &d, NULL, &e);
    aws_q_free(&q);
    if (rc < 0) {
        zd_err(err, "profile '%s': STS AssumeRole of %s failed: %s", profile, role_arn, e);
        free(e);
        aws_ctx_free(&c);
        return -1;
    }
    xmlNode *cr = aws_xml_path(xmlDocGetRootElement(d), "AssumeRoleResult/Credentials");
    out->akid = aws_xml_text(cr, "AccessKeyId");
    out->secret = aws_xml_text(cr, "SecretAccessKey");
    out->token = aws_xml_text(cr, "SessionToken");
    xmlFreeDoc(d);
    aws_ctx_free(&c);
    if (!out->akid || !out->secret || !*out->akid || !*out->secret) {
        aws_creds_clear(out);
        return zd_err(err, "profile '%s': STS AssumeRole answered without credentials", profile);
    }
    out->source = xasprintf("role %s assumed through profile '%s'", role_arn, profile);
    return 0;
}

/* 1 found, 0 this profile has no credentials, -1 error. */
static int from_profile(const struct aws_chain_opts *o, const struct files *f, const char *profile,
                        int depth, struct aws_creds *out, char **err)
{
    if (depth > MAX_DEPTH)
        return zd_err(err, "profile '%s': source_profile chain deeper than %d", profile, MAX_DEPTH);
    char *role = prof_get(f, profile, "role_arn");
    if (role) {
        struct aws_creds src = {0};
        char *sp = prof_get(f, profile, "source_profile");
        char *cs = prof_get(f, profile, "credential_source");
        int rc;
        if (sp && strcmp(sp, profile) != 0) {
            rc = from_profile(o, f, sp, depth + 1, &src, err);
            if (rc == 0)
                rc = zd_err(err, "profile '%s': source_profile '%s' has no credentials", profile,
                            sp);
        } else if (sp) { /* a role profile that is its own source: its static keys */
            char *k = aws_ini_get(f->cred, profile, "aws_access_key_id");
            char *s = aws_ini_get(f->cred, profile, "aws_secret_access_key");
            rc = k && s ? 1
                        : zd_err(err, "profile '%s' is its own source_profile but has no keys",
                                 profile);
            src.akid = k;
            src.secret = s;
            if (rc < 0) {
                free(k);
                if (s)
                    memset(s, 0, strlen(s));
                free(s);
                src.akid = src.secret = NULL;
            }
        } else if (cs && strcasecmp(cs, "Environment") == 0) {
            rc = from_env(&src);
            if (rc == 0)
                rc = zd_err(err,
                            "profile '%s': credential_source Environment, but "
                            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set",
                            profile);
        } else if (cs && strcasecmp(cs, "Ec2InstanceMetadata") == 0) {
            rc = from_imds(&src, err);
            if (rc == 0)
                rc = zd_err(err, "profile '%s': credential_source Ec2InstanceMetadata: %s", profile,
                            err && *err ? *err : "no instance role");
        } else {
            rc = zd_err(err,
                        "profile '%s' has role_arn but no source_profile or "
                        "credential_source zonedef can use",
                        profile);
        }
        free(sp);
        free(cs);
        if (rc > 0)
            rc = assume_role(o, f, profile, role, &src, out, err) < 0 ? -1 : 1;
        aws_creds_clear(&src);
        free(role);
        return rc;
    }
    char *k = prof_get(f, profile, "aws_access_key_id");
    char *s = prof_get(f, profile, "aws_secret_access_key");
    if (!k || !s) {
        free(k);
        if (s)
            memset(s, 0, strlen(s));
        free(s);
        return 0;
    }
    out->akid = k;
    out->secret = s;
    out->token = prof_get(f, profile, "aws_session_token");
    out->source = xasprintf("profile '%s'", profile);
    return 1;
}

int aws_creds_resolve(const struct aws_chain_opts *o, struct aws_creds *out, char **region_out,
                      char **err)
{
    memset(out, 0, sizeof(*out));
    if (region_out)
        *region_out = NULL;
    const char *profile = o->profile && *o->profile ? o->profile : NULL;
    bool explicit_profile = profile != NULL;
    struct files f = {0};
    files_load(&f);
    int rc = 0;
    if (!explicit_profile) {
        profile = env_nonempty("AWS_PROFILE");
        explicit_profile = profile != NULL;
        if (from_env(out) == 1) { /* the environment's keys win over AWS_PROFILE, as the SDKs do */
            rc = 1;
            goto done;
        }
        if (!profile)
            profile = "default";
    }
    if (explicit_profile && !prof_exists(&f, profile)) {
        rc = zd_err(err, "profile '%s' is not in %s or %s", profile, f.cred_path, f.cfg_path);
        goto done;
    }
    rc = from_profile(o, &f, profile, 0, out, err);
    if (rc != 0)
        goto done;
    if (explicit_profile) {
        rc = zd_err(err, "profile '%s' has no credentials (%s, %s)", profile, f.cred_path,
                    f.cfg_path);
        goto done;
    }
    if (env_true("AWS_EC2_METADATA_DISABLED")) {
        rc = zd_err(err,
                    "no AWS credentials: none in the environment, none in profile '%s' "
                    "(%s, %s), and instance metadata is disabled "
                    "(AWS_EC2_METADATA_DISABLED)",
                    profile, f.cred_path, f.cfg_path);
        goto done;
    }
    char *ie = NULL;
    rc = from_imds(out, &ie);
    if (rc == 0)
        rc = zd_err(err,
                    "no AWS credentials: none in the environment, none in profile '%s' "
                    "(%s, %s), and %s",
                    profile, f.cred_path, f.cfg_path, ie ? ie : "no instance role");
    free(ie);
done:
    if (rc > 0 && region_out && profile) {
        char *sec =
            strcmp(profile, "default") == 0 ? xstrdup("default") : xasprintf("profile %s", profile);
        *region_out = aws_ini_get(f.cfg, sec, "region");
        free(sec);
    }
    files_free(&f);
    if (rc < 0)
        aws_creds_clear(out);
    return rc > 0 ? 0 : -1;
}
