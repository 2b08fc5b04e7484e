/* recover: placeholder while the module is being built; replaced by its issue's implementation. */
#include <stdio.h>

#include "cmd.h"

int cmd_recover(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    zd_error("'recover' is not built yet");
    return ZD_EXIT_RUNTIME;
}
