/* cmd_simulate.c: placeholder until the `xanes simulate` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_simulate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes simulate: not implemented yet\n");
    return CLI_EXIT_DATA;
}
