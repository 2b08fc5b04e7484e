/* report: placeholder while the module is being built; replaced by its issue's implementation. */
#include <stdio.h>

#include "cmd.h"

int cmd_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    zd_error("'report' is not built yet");
    return ZD_EXIT_RUNTIME;
}
