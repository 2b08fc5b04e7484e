/*
 * aws: what the files of the AWS target share. Private to src/target/aws/ (and its unit tests).
 *
 *   aws_http.c    one signed request (libcurl's CURLOPT_AWS_SIGV4), retries with exponential
 *                 backoff and full jitter, endpoints, form-encoded Query bodies, XML (libxml2)
 *                 and AWS error documents turned into one line
 *   aws_creds.c   the credential chain: environment, shared config/credentials files and
 *                 profiles, role_arn + source_profile through STS AssumeRole, IMDSv2
 *   aws_api.c     the EC2, Auto Scaling, ELBv2 and STS calls zonedef makes, with pagination
 *   aws_ssm.c     SSM Run Command (JSON protocol) and the host faults built with target/hostcmd.h
 *   aws_target.c  the ops table (target.h): selection, the faults, undo, health
 *   aws_check.c   sweep (recover --sweep) and plan --check; aws_target.h is what the two share
 *
 * Secrets (secret key, session token) live only in struct aws_creds; nothing here puts them in
 * an error message, an action or a summary.
 */
#ifndef ZD_AWS_H
#define ZD_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "base/util.h"
#include "scenario/scenario.h"

struct cJSON;

#define AWS_MAX_RESPONSE (8u << 20) /* any response body */
#define AWS_MAX_PAGES    100        /* NextToken pages followed per listing */

enum aws_svc { AWS_EC2, AWS_ASG, AWS_ELB, AWS_STS, AWS_SSM, AWS__SVC_COUNT };

struct aws_creds {
    char *akid;
    char *secret; /* never printed */
    char *token;  /* session token, NULL for long-term keys; never printed */
    char *source; /* "environment", "profile 'x'", "assume-role via profile 'x'", "imds" */
};
void aws_creds_clear(struct aws_creds *c);

/* Retry policy: exponential backoff with full jitter (sleep uniform in [0, min(cap, base*2^n)]),
 * at most `attempts` tries and `budget_us` in all. */
struct aws_retry {
    int attempts;       /* default 5 */
    uint64_t base_us;   /* default 200 ms */
    uint64_t cap_us;    /* default 5 s */
    uint64_t budget_us; /* default 30 s */
};

struct aws_ctx {
    char *region;
    char *endpoint; /* the scenario's override for every service, NULL = environment/AWS */
    struct aws_creds creds;
    struct aws_retry retry;
    uint64_t timeout_us; /* per request, default 15 s */
    /* counters, for tests and the run's report */
    unsigned calls, retries;
};
void aws_ctx_free(struct aws_ctx *c); /* frees the contents */

/* The signing name ("ec2", "autoscaling", "elasticloadbalancing", "sts", "ssm"). */
const char *aws_svc_sign_name(enum aws_svc s);
/* The endpoint for a service: the override, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then
 * https://<host>.<region>.amazonaws.com. Caller frees. */
char *aws_endpoint_for(const char *override, const char *region, enum aws_svc s);

/* ---- HTTP ---- */

struct aws_resp {
    long status;
    char *body;
    size_t len;
    char *request_id; /* x-amzn-RequestId / x-amz-request-id header, NULL when absent */
};
void aws_resp_free(struct aws_resp *r);

/*
 * One HTTP request to `url` signed with SigV4 for (region, service) unless creds is NULL
 * (IMDS). `headers` is a NULL-terminated list of "Name: value" lines. Transport errors, 5xx and
 * throttling answers are retried per `retry` (NULL = no retry). Returns 0 with *r filled for
 * any HTTP answer (the status may be an error), -1 with *err when none came back.
 */
int aws_http(const char *method, const char *url, const char *const *headers, const char *body,
             const struct aws_creds *creds, const char *region, const char *service,
             const struct aws_retry *retry, uint64_t timeout_us, unsigned *nretries,
             struct aws_resp *r, char **err);

/* Used by aws_http; exported for the signer's unit test on the official vectors. Sets up SigV4
 * signing on a curl handle (CURLOPT_AWS_SIGV4 + the credentials); `slist` gains the session
 * token header. Returns 0. */
struct curl_slist;
int aws_curl_sign(void *curl, struct curl_slist **slist, const struct aws_creds *creds,
                  const char *region, const char *service);

/* Whether an error code means "slow down" (retried). */
bool aws_code_is_throttle(const char *code);

/* ---- Query protocol ---- */

struct aws_query {
    struct sbuf sb;
};
/* Starts "Action=A&Version=V". */
void aws_q_init(struct aws_query *q, const char *action, const char *version);
void aws_q_add(struct aws_query *q, const char *key, const char *value); /* encodes both */
void aws_q_addf(struct aws_query *q, const char *value, const char *keyfmt, ...) ZD_PRINTF(3, 4);
void aws_q_free(struct aws_query *q);
/* RFC 3986 percent-encoding (unreserved kept), appended to sb. */
void aws_urlencode(struct sbuf *sb, const char *s);

/*
 * POSTs a Query call to the service and parses the answer. On 2xx returns 0 and *doc (free
 * with xmlFreeDoc). On an AWS error returns -1 with *err "Code: message (request id X)" and,
 * when code is not NULL, *code (caller frees). On a transport failure -1 with *err.
 */
int aws_query_call(struct aws_ctx *c, enum aws_svc svc, const struct aws_query *q, xmlDoc **doc,
                   char **code, char **err);
/* A JSON-protocol call (SSM): target "AmazonSSM.SendCommand"; *out is the JSON answer. */
int aws_json_call(struct aws_ctx *c, enum aws_svc svc, const char *target, const char *json,
                  char **out, char **code, char **err);

/* ---- XML ---- */

/* Parses a response without network access, entities or DTDs; NULL on malformed input. */
xmlDoc *aws_xml_parse(const char *body, size_t len);
/* The first element child of `n` with that local name (namespaces ignored); NULL if none. */
xmlNode *aws_xml_child(const xmlNode *n, const char *name);
/* Follows "a/b/c" from n. */
xmlNode *aws_xml_path(const xmlNode *n, const char *path);
/* The text of path from n, copied (caller frees); NULL when absent. */
char *aws_xml_text(const xmlNode *n, const char *path);
/* Next sibling element with the same name as `n` ("item", "member"). */
xmlNode *aws_xml_next(const xmlNode *n);
/* An AWS error document (EC2's <Response><Errors><Error>, the others' <ErrorResponse>) as
 * "Code: message (request id X)"; *code gets the code. Returns false when body is not one. */
bool aws_xml_error(const char *body, size_t len, const char *hdr_request_id, char **msg,
                   char **code);

/* ---- credentials ---- */

struct aws_chain_opts {
    const char *profile; /* explicit (--profile, target.profile): skips the environment keys */
    const char *region;  /* for STS AssumeRole; NULL = from the environment/profile */
    const char *endpoint;
    const struct aws_retry *retry;
};
/*
 * Resolves credentials through the chain (README: credentials). Returns 0 with *out, -1 with
 * *err (which names the step that failed, never a secret). *region_out (may be NULL) gets the
 * profile's region when it has one (caller frees).
 */
int aws_creds_resolve(const struct aws_chain_opts *o, struct aws_creds *out, char **region_out,
                      char **err);
/* Reads one key of a section of an INI file the way the AWS CLI does ("[default]",
 * "[profile x]" in config, "[x]" in credentials). Caller frees; NULL when absent. */
char *aws_ini_get(const char *text, const char *section, const char *key);

/* ---- API ---- */

struct aws_tag {
    char *key, *value;
};

struct aws_inst {
    char *id, *az, *state, *ip, *subnet, *vpc;
    struct aws_tag *tags;
    size_t ntags;
};
struct aws_insts {
    struct aws_inst *v;
    size_t n;
};
void aws_insts_free(struct aws_insts *l);
const char *aws_inst_tag(const struct aws_inst *in, const char *key);

/* DescribeInstances filtered by tags (all must match), az (NULL = any) and state (NULL = any
 * but terminated); every page; sorted by id. */
int aws_ec2_instances(struct aws_ctx *c, const struct aws_tag *tags, size_t ntags, const char *az,
                      const char *const *states, const char *const *ids, size_t nids,
                      struct aws_insts *out, char **err);

struct aws_acl_assoc {
    char *assoc_id, *subnet;
};
struct aws_acl {
    char *id, *vpc;
    bool is_default;
    struct aws_acl_assoc *assoc;
    size_t nassoc;
    struct aws_tag *tags;
    size_t ntags;
};
struct aws_acls {
    struct aws_acl *v;
    size_t n;
};
void aws_acls_free(struct aws_acls *l);
const char *aws_acl_tag(const struct aws_acl *a, const char *key);
/* DescribeNetworkAcls with up to 4 filters (name, value pairs; NULL-terminated pairs). */
int aws_ec2_acls(struct aws_ctx *c, const char *const *filters, struct aws_acls *out, char **err);

/* DescribeSubnets of vpc in az; *subnets gets the ids (sorted). */
int aws_ec2_subnets(struct aws_ctx *c, const char *vpc, const char *az, char ***subnets, size_t *n,
                    char **err);
/* The VPC's availability zones (of its subnets), sorted, unique. */
int aws_ec2_vpc_zones(struct aws_ctx *c, const char *vpc, char ***zones, size_t *n, char **err);

/* A plain EC2 action on instance ids ("TerminateInstances", "StopInstances", "StartInstances"),
 * optionally DryRun (then "DryRunOperation" is success: 0). Every call here with dry_run
 * returns 1 when the endpoint answered 200 instead, i.e. ignored DryRun and *did* it (moto
 * does for CreateNetworkAcl and DeleteNetworkAcl); create_acl then still sets *acl_id. */
int aws_ec2_instances_action(struct aws_ctx *c, const char *action, const char *const *ids,
                             size_t n, bool dry_run, char **code, char **err);
int aws_ec2_create_tags(struct aws_ctx *c, const char *const *ids, size_t nids,
                        const struct aws_tag *tags, size_t ntags, bool dry_run, char **err);
int aws_ec2_delete_tags(struct aws_ctx *c, const char *const *ids, size_t nids,
                        const char *const *keys, size_t nkeys, char **err);
int aws_ec2_create_acl(struct aws_ctx *c, const char *vpc, const struct aws_tag *tags, size_t ntags,
                       bool dry_run, char **acl_id, char **err);
int aws_ec2_replace_assoc(struct aws_ctx *c, const char *assoc_id, const char *acl, bool dry_run,
                          char **new_assoc, char **err);
int aws_ec2_delete_acl(struct aws_ctx *c, const char *acl, bool dry_run, char **code, char **err);

/* STS GetCallerIdentity: *account and *arn (caller frees). */
int aws_sts_identity(struct aws_ctx *c, char **account, char **arn, char **err);

struct aws_asg_inst {
    char *id, *az, *lifecycle, *health;
};
struct aws_asg {
    char *name;
    struct aws_asg_inst *inst;
    size_t ninst;
    char **suspended; /* suspended process names */
    size_t nsuspended;
};
void aws_asg_free(struct aws_asg *g);
int aws_asg_describe(struct aws_ctx *c, const char *name, struct aws_asg *out, char **err);
/* SuspendProcesses / ResumeProcesses with exactly one named process (never an empty list:
 * that acts on all of them). */
int aws_asg_process(struct aws_ctx *c, const char *name, const char *process, bool suspend,
                    char **err);

struct aws_tg {
    char *arn, *vpc;
};
/* DescribeTargetGroups by name or ARN. */
int aws_elb_target_group(struct aws_ctx *c, const char *name_or_arn, struct aws_tg *out,
                         char **err);
/* DescribeLoadBalancers by name or ARN: *arn, *dns (caller frees). */
int aws_elb_load_balancer(struct aws_ctx *c, const char *name_or_arn, char **arn, char **dns,
                          char **err);
struct aws_th {
    char *id, *state;
};
int aws_elb_target_health(struct aws_ctx *c, const char *tg_arn, struct aws_th **out, size_t *n,
                          char **err);

void aws_strv_free(char **v, size_t n);

/* ---- SSM Run Command and the host faults (aws_ssm.c) ---- */

/* SendCommand AWS-RunShellScript with one command line on the instances; *command_id (caller
 * frees). */
int aws_ssm_send(struct aws_ctx *c, const char *const *ids, size_t n, const char *command,
                 unsigned timeout_s, const char *comment, char **command_id, char **err);
/* Polls GetCommandInvocation per instance until each finished; 0 when every one succeeded (or
 * exited with also_ok, when >= 0), -1 with *err naming each failure, or at timeout. */
int aws_ssm_wait(struct aws_ctx *c, const char *command_id, const char *const *ids, size_t n,
                 int also_ok, uint64_t timeout_us, char **err);
/* kill_process, cpu_stress, latency, exec: the faults that run target/hostcmd.h commands via
 * SSM. latency is hc_netem armed with hc_deadman_arm (its undo on the instance for 'for' + 5 s),
 * its undo hc_netem_undo then hc_deadman_cancel. */
bool aws_host_fault(const char *fault);
/* Adds a host fault's parameters to its action (never a command line: undo rebuilds it);
 * *detail is a few words for the summary (caller frees). */
int aws_host_params(const struct scn_step *s, const char *run_id, unsigned seq, struct cJSON *a,
                    char **detail, char **err);
/* Before anything is applied: for latency, hc_netem_ready on every instance through SSM (tc
 * netem there, interfaces free; changes nothing); -1 with *err naming each failing instance.
 * 0 at once for the other faults. */
int aws_host_ready(struct aws_ctx *c, const struct cJSON *a, const char *const *ids, size_t n,
                   char **err);
/* Runs the action's command (or its undo) on the instances through SSM and waits for it.
 * *note (may be NULL; caller frees) gets "ssm command ID" once SendCommand took it. */
int aws_host_act(struct aws_ctx *c, const struct cJSON *a, const char *const *ids, size_t n,
                 bool undo, char **note, char **err);

#endif
