/*
 * aws_http: one signed request to an AWS API, and what every call shares: endpoints, retries,
 * Query bodies, XML and error documents.
 *
 * Signing is libcurl's own CURLOPT_AWS_SIGV4. With libcurl 7.88.1 (Debian 12) it signs what
 * zonedef sends correctly — POST bodies (their SHA-256 goes into the canonical request), every
 * header we add (Content-Type, X-Amz-Target, X-Amz-Security-Token) — which the unit test proves
 * on the official vectors (tests/data/sigv4/) and the e2e test on moto with signature checks.
 * What it gets wrong is the canonical *query string*: it does not sort the parameters
 * (get-vanilla-query-order-key-case signs "Param2=..&Param1=.." as given). zonedef never signs
 * a query string: every call is a POST with a form or JSON body and an empty query, so no signer
 * of our own is needed. One more trap: a header switched off the libcurl way ("Expect:") is still
 * signed as "expect:" though never sent, so the signature no longer matches; nothing here
 * switches a header off (bodies stay far below the 1 MiB where 7.88 would send Expect). The only
 * unsigned calls are IMDSv2's, on the instance's link-local metadata endpoint.
 *
 * Retries: transport failures, 5xx and throttling codes are retried with exponential backoff
 * and full jitter (AWS's architecture blog: sleep uniform in [0, min(cap, base * 2^n)]),
 * bounded in attempts and in total time. Everything else returns at once.
 */
#include "target/aws/aws.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libxml/parser.h>

#include "base/banned.h"

void aws_creds_clear(struct aws_creds *c)
{
    if (!c)
        return;
    free(c->akid);
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    free(c->secret);
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->source);
    memset(c, 0, sizeof(*c));
}

void aws_ctx_free(struct aws_ctx *c)
{
    if (!c)
        return;
    free(c->region);
    free(c->endpoint);
    aws_creds_clear(&c->creds);
}

void aws_resp_free(struct aws_resp *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->request_id);
    memset(r, 0, sizeof(*r));
}

void aws_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- endpoints ---- */

static const struct {
    const char *sign, *host, *env;
} svcs[AWS__SVC_COUNT] = {
    [AWS_EC2] = {"ec2", "ec2", "EC2"},
    [AWS_ASG] = {"autoscaling", "autoscaling", "AUTO_SCALING"},
    [AWS_ELB] = {"elasticloadbalancing", "elasticloadbalancing", "ELASTIC_LOAD_BALANCING_V2"},
    [AWS_STS] = {"sts", "sts", "STS"},
    [AWS_SSM] = {"ssm", "ssm", "SSM"},
};

const char *aws_svc_sign_name(enum aws_svc s)
{
    return s < AWS__SVC_COUNT ? svcs[s].sign : "?";
}

char *aws_endpoint_for(const char *override, const char *region, enum aws_svc s)
{
    if (override && *override)
        return xstrdup(override);
    char name[64];
    snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", svcs[s].env);
    const char *e = getenv(name);
    if (!e || !*e)
        e = getenv("AWS_ENDPOINT_URL");
    if (e && *e)
        return xstrdup(e);
    return xasprintf("https://%s.%s.amazonaws.com", svcs[s].host, region ? region : "us-east-1");
}

/* ---- one request ---- */

int aws_curl_sign(void *curl, struct curl_slist **slist, const struct aws_creds *creds,
                  const char *region, const char *service)
{
    char prov[160];
    snprintf(prov, sizeof(prov), "aws:amz:%s:%s", region, service);
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, prov);
    curl_easy_setopt(curl, CURLOPT_USERNAME, creds->akid);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, creds->secret);
    if (creds->token && *creds->token) {
        char *h = xasprintf("X-Amz-Security-Token: %s", creds->token);
        *slist = curl_slist_append(*slist, h);
        memset(h, 0, strlen(h));
        free(h);
    }
    return 0;
}

struct rx {
    struct sbuf body;
    char *request_id;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct rx *x = ud;
    return sbuf_add(&x->body, p, sz * n) < 0 ? 0 : sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct rx *x = ud;
    size_t len = sz * n;
    static const char *const names[] = {"x-amzn-requestid:", "x-amz-request-id:"};
    for (size_t i = 0; i < ZD_ARRAY_LEN(names); i++) {
        size_t k = strlen(names[i]);
        if (len > k && strncasecmp(p, names[i], k) == 0 && !x->request_id) {
            const char *v = p + k, *e = p + len;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
                e--;
            x->request_id = xstrndup(v, (size_t)(e - v));
        }
    }
    return len;
}

bool aws_code_is_throttle(const char *code)
{
    static const char *const t[] = {"Throttling",
                                    "ThrottlingException",
                                    "ThrottledException",
                                    "RequestThrottledException",
                                    "TooManyRequestsException",
                                    "ProvisionedThroughputExceededException",
                                    "TransactionInProgressException",
                                    "RequestLimitExceeded",
                                    "BandwidthLimitExceeded",
                                    "LimitExceededException",
                                    "RequestThrottled",
                                    "SlowDown",
                                    "PriorRequestNotComplete",
                                    "EC2ThrottledException",
                                    "RequestTimeout",
                                    "RequestTimeoutException",
                                    "InternalError",
                                    "ServiceUnavailable",
                                    NULL};
    for (size_t i = 0; code && t[i]; i++)
        if (strcmp(code, t[i]) == 0)
            return true;
    return false;
}

/* The error code of a 4xx answer, XML or JSON; NULL when none is found. */
static char *answer_code(const struct aws_resp *r)
{
    char *msg = NULL, *code = NULL;
    if (aws_xml_error(r->body, r->len, NULL, &msg, &code)) {
        free(msg);
        return code;
    }
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "__type") : NULL;
    if (cJSON_IsString(t)) {
        const char *h = strrchr(t->valuestring, '#');
        code = xstrdup(h ? h + 1 : t->valuestring);
    }
    cJSON_Delete(j);
    return code;
}

static uint64_t jitter(uint64_t max)
{
    uint64_t r = 0;
    if (max == 0 || getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return max / 2;
    return r % (max + 1);
}

static int one_try(const char *method, const char *url, const char *const *headers,
                   const char *body, const struct aws_creds *creds, const char *region,
                   const char *service, uint64_t timeout_us, struct aws_resp *r, char **err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return zd_err(err, "cannot start a libcurl handle");
    struct curl_slist *sl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        sl = curl_slist_append(sl, headers[i]);
    if (creds)
        aws_curl_sign(h, &sl, creds, region, service);
    struct rx x = {.body = SBUF_INIT};
    sbuf_init(&x.body, AWS_MAX_RESPONSE);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_us / 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_us / 3000 + 1));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "zonedef");
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = zd_err(err, "%s",
                     x.body.overflow ? "the answer is larger than 8 MiB"
                     : *ebuf         ? ebuf
                                     : curl_easy_strerror(rc));
        sbuf_free(&x.body);
        free(x.request_id);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        r->len = x.body.len;
        r->body = sbuf_detach(&x.body);
        r->request_id = x.request_id;
    }
    curl_slist_free_all(sl); /* holds the token header: libcurl's copy, freed as given */
    curl_easy_cleanup(h);
    return ret;
}

int aws_http(const char *method, const char *url, const char *const *headers, const char *body,
             const struct aws_creds *creds, const char *region, const char *service,
             const struct aws_retry *retry, uint64_t timeout_us, unsigned *nretries,
             struct aws_resp *r, char **err)
{
    memset(r, 0, sizeof(*r));
    int attempts = retry && retry->attempts > 0 ? retry->attempts : 1;
    uint64_t start = zd_now_us();
    for (int a = 0;; a++) {
        char *e = NULL;
        aws_resp_free(r);
        int rc = one_try(method, url, headers, body, creds, region, service,
                         timeout_us ? timeout_us : 15000000ull, r, &e);
        bool again = false;
        if (rc < 0) {
            again = true;
        } else if (r->status >= 500 || r->status == 429) {
            again = true;
        } else if (r->status >= 400) {
            char *code = answer_code(r);
            again = aws_code_is_throttle(code);
            free(code);
        }
        if (!again || a + 1 >= attempts) {
            if (rc < 0 && a > 0)
                zd_err(err, "%s: %s (after %d attempts)", url, e, a + 1);
            else if (rc < 0)
                zd_err(err, "%s: %s", url, e);
            free(e);
            return rc;
        }
        free(e);
        uint64_t ceil = retry->base_us << (a < 20 ? a : 20);
        if (ceil > retry->cap_us)
            ceil = retry->cap_us;
        uint64_t d = jitter(ceil);
        if (zd_now_us() - start + d > retry->budget_us) {
            if (rc < 0)
                return zd_err(err, "%s: gave up after %d attempts in %.1fs", url, a + 1,
                              (double)(zd_now_us() - start) / 1e6);
            return 0; /* hand back the last answer: the caller turns it into the error */
        }
        if (nretries)
            (*nretries)++;
        zd_sleep_us(d);
    }
}

/* ---- Query protocol ---- */

void aws_urlencode(struct sbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sbuf_addc(sb, (char)*p);
        } else {
            sbuf_addc(sb, '%');
            sbuf_addc(sb, hex[*p >> 4]);
            sbuf_addc(sb, hex[*p & 15]);
        }
    }
}

void aws_q_init(struct aws_query *q, const char *action, const char *version)
{
    sbuf_init(&q->sb, 0);
    sbuf_adds(&q->sb, "Action=");
    aws_urlencode(&q->sb, action);
    sbuf_adds(&q->sb, "&Version=");
    aws_urlencode(&q->sb, version);
}

void aws_q_add(struct aws_query *q, const char *key, const char *value)
{
    sbuf_addc(&q->sb, '&');
    aws_urlencode(&q->sb, key);
    sbuf_addc(&q->sb, '=');
    aws_urlencode(&q->sb, value ? value : "");
}

void aws_q_addf(struct aws_query *q, const char *value, const char *keyfmt, ...)
{
    va_list ap;
    va_start(ap, keyfmt);
    char *k = xvasprintf(keyfmt, ap);
    va_end(ap);
    aws_q_add(q, k, value);
    free(k);
}

void aws_q_free(struct aws_query *q)
{
    sbuf_free(&q->sb);
}

static char *http_error_line(const struct aws_resp *r)
{
    char buf[128];
    size_t n = r->len < 100 ? r->len : 100;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof(buf); i++)
        buf[k++] = (r->body[i] >= 32 && r->body[i] < 127) ? r->body[i] : ' ';
    buf[k] = 0;
    return xasprintf("HTTP %ld%s%s%s%s%s", r->status, k ? ": " : "", buf,
                     r->request_id ? " (request id " : "", r->request_id ? r->request_id : "",
                     r->request_id ? ")" : "");
}

int aws_query_call(struct aws_ctx *c, enum aws_svc svc, const struct aws_query *q, xmlDoc **doc,
                   char **code, char **err)
{
    *doc = NULL;
    if (code)
        *code = NULL;
    char *url = aws_endpoint_for(c->endpoint, c->region, svc);
    const char *const hdrs[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                                "Accept: text/xml", NULL};
    struct aws_resp r;
    c->calls++;
    int rc = aws_http("POST", url, hdrs, sbuf_str(&q->sb), &c->creds, c->region,
                      aws_svc_sign_name(svc), &c->retry, c->timeout_us, &c->retries, &r, err);
    if (rc < 0) {
        free(url);
        return -1;
    }
    if (r.status >= 200 && r.status < 300) {
        *doc = aws_xml_parse(r.body, r.len);
        if (!*doc)
            rc = zd_err(err, "%s: the answer is not XML (HTTP %ld)", url, r.status);
    } else {
        char *m = NULL, *cd = NULL;
        if (aws_xml_error(r.body, r.len, r.request_id, &m, &cd)) {
            zd_err(err, "%s", m);
            free(m);
        } else {
            m = http_error_line(&r);
            zd_err(err, "%s", m);
            free(m);
        }
        if (code)
            *code = cd;
        else
            free(cd);
        rc = -1;
    }
    free(url);
    aws_resp_free(&r);
    return rc;
}

int aws_json_call(struct aws_ctx *c, enum aws_svc svc, const char *target, const char *json,
                  char **out, char **code, char **err)
{
    *out = NULL;
    if (code)
        *code = NULL;
    char *url = aws_endpoint_for(c->endpoint, c->region, svc);
    char *th = xasprintf("X-Amz-Target: %s", target);
    const char *const hdrs[] = {"Content-Type: application/x-amz-json-1.1", th, NULL};
    struct aws_resp r;
    c->calls++;
    int rc = aws_http("POST", url, hdrs, json, &c->creds, c->region, aws_svc_sign_name(svc),
                      &c->retry, c->timeout_us, &c->retries, &r, err);
    free(th);
    if (rc == 0 && r.status >= 200 && r.status < 300) {
        *out = r.body;
        r.body = NULL;
    } else if (rc == 0) {
        cJSON *j = cJSON_ParseWithLength(r.body, r.len);
        const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "__type") : NULL;
        const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        if (!cJSON_IsString(m) && j)
            m = cJSON_GetObjectItemCaseSensitive(j, "Message");
        if (cJSON_IsString(t)) {
            const char *h = strrchr(t->valuestring, '#');
            const char *cd = h ? h + 1 : t->valuestring;
            zd_err(err, "%s: %s (request id %s)", cd, cJSON_IsString(m) ? m->valuestring : "",
                   r.request_id ? r.request_id : "none");
            if (code)
                *code = xstrdup(cd);
        } else {
            char *l = http_error_line(&r);
            zd_err(err, "%s", l);
            free(l);
        }
        cJSON_Delete(j);
        rc = -1;
    }
    free(url);
    aws_resp_free(&r);
    return rc;
}

/* ---- XML ---- */

xmlDoc *aws_xml_parse(const char *body, size_t len)
{
    if (!body || len == 0 || len > AWS_MAX_RESPONSE)
        return NULL;
    /* no network, no entity expansion, no DTD loading; errors are not printed */
    return xmlReadMemory(body, (int)len, "aws.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                             XML_PARSE_NOBLANKS);
}

xmlNode *aws_xml_child(const xmlNode *n, const char *name)
{
    for (xmlNode *k = n ? n->children : NULL; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE && strcmp((const char *)k->name, name) == 0)
            return k;
    return NULL;
}

xmlNode *aws_xml_next(const xmlNode *n)
{
    for (xmlNode *k = n ? n->next : NULL; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE &&
            strcmp((const char *)k->name, (const char *)n->name) == 0)
            return k;
    return NULL;
}

xmlNode *aws_xml_path(const xmlNode *n, const char *path)
{
    const xmlNode *cur = n;
    const char *p = path;
    while (cur && *p) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        char name[128];
        if (l >= sizeof(name))
            return NULL;
        memcpy(name, p, l);
        name[l] = 0;
        cur = aws_xml_child(cur, name);
        p += l + (s ? 1 : 0);
    }
    return (xmlNode *)cur;
}

char *aws_xml_text(const xmlNode *n, const char *path)
{
    const xmlNode *e = path && *path ? aws_xml_path(n, path) : n;
    if (!e)
        return NULL;
    xmlChar *t = xmlNodeGetContent(e);
    char *out = xstrdup(t ? (const char *)t : "");
    xmlFree(t);
    return out;
}

bool aws_xml_error(const char *body, size_t len, const char *hdr_request_id, char **msg,
                   char **code)
{
    *msg = NULL;
    *code = NULL;
    xmlDoc *d = aws_xml_parse(body, len);
    if (!d)
        return false;
    xmlNode *root = xmlDocGetRootElement(d);
    xmlNode *e = NULL;
    char *rid = NULL;
    if (root && strcmp((const char *)root->name, "Response") == 0) { /* EC2 */
        e = aws_xml_path(root, "Errors/Error");
        rid = aws_xml_text(root, "RequestID");
    } else if (root && strcmp((const char *)root->name, "ErrorResponse") == 0) {
        e = aws_xml_child(root, "Error");
        if (!e) /* seen from moto's STS: EC2's <Errors> inside <ErrorResponse> */
            e = aws_xml_path(root, "Errors/Error");
        rid = aws_xml_text(root, "RequestId");
    } else if (root && strcmp((const char *)root->name, "Error") == 0) {
        e = root;
        rid = aws_xml_text(root, "RequestId");
    }
    char *c = e ? aws_xml_text(e, "Code") : NULL;
    if (!c) {
        free(rid);
        xmlFreeDoc(d);
        return false;
    }
    char *m = aws_xml_text(e, "Message");
    const char *id = rid && *rid ? rid : hdr_request_id ? hdr_request_id : "none";
    *msg = xasprintf("%s: %s (request id %s)", c, m && *m ? m : "(no message)", id);
    *code = c;
    free(m);
    free(rid);
    xmlFreeDoc(d);
    return true;
}
