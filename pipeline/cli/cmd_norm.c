/* cmd_norm.c: placeholder until the `xanes norm` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_norm(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes norm: not implemented yet\n");
    return CLI_EXIT_DATA;
}
