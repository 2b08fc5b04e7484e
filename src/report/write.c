/*
 * write: the report files a run leaves in its directory (report.html, junit.xml, summary.md),
 * each written atomically, so a reader never sees half a report. A file of its own so the model
 * (which every renderer uses) does not call the renderers back.
 */
#include "report/report.h"

#include <stdlib.h>

#include "base/banned.h"

int rp_write_files(const struct rp_run *r, const char *dir, char **err)
{
    static const char *const names[] = {RP_FILE_HTML, RP_FILE_JUNIT, RP_FILE_MD};
    for (size_t i = 0; i < 3; i++) {
        struct sbuf sb = SBUF_INIT;
        if (i == 0)
            rp_html(r, &sb);
        else if (i == 1)
            rp_junit(r, &sb);
        else
            rp_markdown(r, &sb);
        char *path = xasprintf("%s/%s", dir, names[i]);
        int rc = zd_write_file_atomic(path, sbuf_str(&sb), sb.len, err);
        free(path);
        sbuf_free(&sb);
        if (rc < 0)
            return -1;
    }
    return 0;
}
