/* cmd_run.c: placeholder until the `xanes run` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes run: not implemented yet\n");
    return CLI_EXIT_DATA;
}
