/* main.c: the `xanes` command, a git-style dispatcher over the subcommands.
 *
 * No science here: each subcommand lives in cmd_<name>.c, parses its options,
 * calls libxanes and prints.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"run", xanes_cmd_run, "TXM-XANES stack -> calibrated edge-energy, SoC and particle maps"},
    {"info", xanes_cmd_info, "describe an HDF5 stack or a 1-D spectrum file"},
    {"norm", xanes_cmd_norm, "normalize one spectrum (larch pre_edge) and find its edge"},
    {"calibrate", xanes_cmd_calibrate, "energy offset from a measured reference spectrum"},
    {"lcf", xanes_cmd_lcf, "linear combination fit of a spectrum to references"},
    {"sfit", xanes_cmd_sfit, "S K-edge peak deconvolution with areas and uncertainties"},
    {"model", xanes_cmd_model, "SoC-heterogeneity model: edge-energy distribution per cathode"},
    {"simulate", xanes_cmd_simulate, "forward-simulate a TXM-XANES stack with known truth"},
};

static void print_help(FILE *to)
{
    fprintf(to, "usage: xanes [--version] [--help] <command> [<args>]\n\n"
                "TXM-XANES and XAS analysis for battery cathodes.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(to, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(to, "\n'xanes <command> --help' describes one command.\n"
                "exit status: 0 ok, 1 data or processing error, 2 usage error.\n");
}

/* fontconfig (under cairo's text) keeps its configuration for the life of
 * the process and frees it only in FcFini, which a library must not call.
 * HDF5 1.10.8 loses what it decoded of a corrupt object header when the
 * decode fails (H5O_protect, H5O_msg_read_oh, H5D__layout_oh_read: found by
 * fuzzing `xanes info`); the command reports the file and exits.  Handles we
 * forget to close are not hidden by this: H5close frees them at exit.
 * LeakSanitizer builds would report these after every such run; ours stay
 * checked.  The function is only ever called by the sanitizer runtime. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n"
           "leak:H5O_protect\n"
           "leak:H5O_msg_read_oh\n"
           "leak:H5D__layout_oh_read\n";
}

/* HDF5 is built without frame pointers: the fast unwinder stops at its
 * first frame, so the suppressions above could not see the function names.
 * The full unwind costs nothing measurable here (xanes allocates little). */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0"; /* one message on stderr, as without LSan */
}

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    /* A corrupt header can make HDF5 ask for exabytes: glibc says no and
     * HDF5 fails cleanly; ASan would abort instead unless told to say no. */
    return "fast_unwind_on_malloc=0:allocator_may_return_null=1";
}

int main(int argc, char **argv)
{
    xanes_init();
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("xanes %s\n", xanes_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "xanes: '%s' is not a xanes command (see 'xanes --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
