/*
 * fuzz_scenario: libFuzzer entry point for the scenario parser. Any input must come back as
 * either a scenario or at least one diagnostic, without a crash, a leak or a sanitizer report.
 * Built and run by tests/fuzz/run.sh (`make fuzz`).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, not NUL-terminated, so reading past the end is caught */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    static const char *const vars[] = {"rate=100", "zone=b", "url=http://127.0.0.1:18000/"};
    struct scn_scenario *s = NULL;
    struct scn_diags d = {NULL, 0, 0};
    int rc = scn_load_buffer("fuzz.json", text, size, vars, 3, &s, &d);
    if ((rc == 0) != (s != NULL) || (rc != 0 && d.n == 0))
        abort(); /* the contract of scn_load_buffer */
    for (size_t i = 0; i < d.n; i++) {
        if (!d.v[i].msg || strncmp(d.v[i].msg, "fuzz.json", 9) != 0)
            abort();
        /* jsonpos's syntax check and cJSON must agree on what is JSON */
        /* (the whole line: a key may quote these words back) */
        if (strcmp(d.v[i].msg, "fuzz.json: cannot parse the JSON (cJSON failed on text that "
                               "looks valid)") == 0)
            abort();
    }
    scn_free(s);
    scn_diags_free(&d);
    free(text);
    return 0;
}
