/*
 * parse.h: what the scenario parser's files share, and nothing outside src/scenario/ sees.
 * Private to src/scenario/.
 *
 * One parse is one struct ctx: the file's text and name, the positions of its values, the
 * diagnostics found so far and the scenario being filled. The files split the work along its
 * seams:
 *   scenario.c  the pipeline of one file (size, BOM, precheck, cJSON, positions, sections,
 *               cross-field checks, sorted diagnostics), names, scn_free;
 *   values.c    diagnostics, positions, JSON paths, variables and the typed getters every
 *               section uses (strings, durations, numbers, key/value maps, URLs, regexes,
 *               status codes);
 *   sections.c  target, load, steady_state, guards and expect;
 *   steps.c     the steps (with the table of which keys each fault takes) and the probes.
 * Getters return 1 = got it, 0 = absent, -1 = wrong (already reported); section parsers report
 * and go on, so one run lists every mistake. Names shared between the files carry sp_.
 */
#ifndef ZD_SCENARIO_PARSE_H
#define ZD_SCENARIO_PARSE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "scenario/jsonpos.h"
#include "scenario/scenario.h"

/* After this many problems in one file, stop listing them (one more line says so). */
#define MAX_DIAGS 100

#define SEC    1000000ull
#define NO_OFF ((size_t)-1)

struct npos {
    const cJSON *node;
    size_t off, key_off;
};

struct ctx {
    const char *name; /* the file name in messages */
    const char *text; /* the JSON text (after a BOM; positions count from here) */
    size_t len;
    struct npos *pos;
    size_t npos;
    struct jp_cursor cur;
    struct scn_diags *diags;
    size_t nerr;
    struct scn_scenario *s;
    const char *const *cli;
    size_t ncli;
    size_t vcap;
    bool zones_known; /* the target's zone list is known: zone names can be checked */
};

/* ---- values.c: diagnostics, positions, paths, variables, typed getters */
bool sp_check_object(struct ctx *c, const cJSON *obj, const char *path, const char *what,
                     const char *const *known);
bool sp_check_url(struct ctx *c, const cJSON *n, const char *path, const char *key,
                  const char *url);
const cJSON *sp_get(const cJSON *obj, const char *key);
int sp_get_bool(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool *out);
int sp_get_dur(struct ctx *c, const cJSON *obj, const char *key, const char *path, uint64_t *out);
int sp_get_dur_range(struct ctx *c, const cJSON *obj, const char *key, const char *path,
                     uint64_t lo, bool lo_excl, uint64_t hi, uint64_t *out);
int sp_get_kv(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t maxn,
              bool header, struct scn_kv **out, size_t *nout);
int sp_get_num(struct ctx *c, const cJSON *obj, const char *key, const char *path, double lo,
               bool lo_excl, double hi, bool whole, double *out);
int sp_get_path(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out);
int sp_get_regex(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out);
int sp_get_str(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
               char **out);
int sp_get_text(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
                char **out);
int sp_get_u32(struct ctx *c, const cJSON *obj, const char *key, const char *path, uint32_t lo,
               uint32_t hi, uint32_t *out);
size_t sp_key_off_of(const struct ctx *c, const cJSON *n);
struct scn_loc sp_loc_of(struct ctx *c, const cJSON *n);
void sp_missing(struct ctx *c, const cJSON *obj, const char *path, const char *key,
                const char *why);
int sp_npos_cmp(const void *a, const void *b);
size_t sp_off_of(const struct ctx *c, const cJSON *n);
void sp_pair_nodes(const cJSON *n, const struct jp_value *v, size_t nv, size_t *i, struct npos *out,
                   size_t *nout);
void sp_parse_vars(struct ctx *c, const cJSON *vars);
char *sp_path_idx(const char *path, size_t i);
char *sp_path_key(const char *path, const char *key);
bool sp_status_node(struct ctx *c, const cJSON *n, const char *path, struct scn_status *st);
int sp_str_node(struct ctx *c, const cJSON *n, const char *path, const char *key, size_t max,
                char **out);
const char *sp_type_name(const cJSON *n);
void ZD_PRINTF(4, 5) sp_diag(struct ctx *c, size_t off, const char *path, const char *fmt, ...);

/* ---- sections.c: target, load, steady_state, guards, expect */
void sp_parse_expect(struct ctx *c, const cJSON *n);
void sp_parse_guards(struct ctx *c, const cJSON *n);
void sp_parse_load(struct ctx *c, const cJSON *ln, const cJSON *root);
void sp_parse_steady(struct ctx *c, const cJSON *n);
void sp_parse_target(struct ctx *c, const cJSON *tn);

/* ---- steps.c: steps and probes */
extern const char *const sp_fault_names[SCN_FAULT__COUNT + 1];
void sp_parse_probes(struct ctx *c, const cJSON *n);
void sp_parse_steps(struct ctx *c, const cJSON *n);
int sp_step_cmp(const void *a, const void *b);

#endif
