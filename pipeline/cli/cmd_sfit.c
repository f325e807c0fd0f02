/* cmd_sfit.c: placeholder until the `xanes sfit` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_sfit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes sfit: not implemented yet\n");
    return CLI_EXIT_DATA;
}
