/* cmd_lcf.c: placeholder until the `xanes lcf` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_lcf(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes lcf: not implemented yet\n");
    return CLI_EXIT_DATA;
}
