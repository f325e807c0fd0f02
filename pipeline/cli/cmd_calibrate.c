/* cmd_calibrate.c: placeholder until the `xanes calibrate` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_calibrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes calibrate: not implemented yet\n");
    return CLI_EXIT_DATA;
}
