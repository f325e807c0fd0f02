/* cmd_info.c: placeholder until the `xanes info` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes info: not implemented yet\n");
    return CLI_EXIT_DATA;
}
