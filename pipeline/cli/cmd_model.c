/* cmd_model.c: placeholder until the `xanes model` subcommand lands. */
#include "cli.h"

#include <stdio.h>

int xanes_cmd_model(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xanes model: not implemented yet\n");
    return CLI_EXIT_DATA;
}
