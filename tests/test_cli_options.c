/* test_cli_options.c: the command-line grammar that every 1-D subcommand
 * shares through one option walker (pipeline/cli/cli_util.c): option values
 * taken from the next argument even when it looks like an option, the
 * "--opt=value" form of every option that takes a value, flags that take no value,
 * "-" as a file, --help in order, and the usage errors for a missing value,
 * an empty file name, a bad energy unit, a second file and too many
 * references, each with exit status 2 and the option or files named.
 * (The other messages are covered by test_cli_norm.c, test_cli_calibrate.c,
 * test_cli_sfit.c and test_cli_badinput.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "testutil.h"

static char nio[1024], stack[1024];

static int setup(void **state)
{
    (void)state;
    tu_data_path(nio, sizeof nio, "NiO_111.xdi");
    snprintf(stack, sizeof stack, "%s/sample_scans/ncm_a.h5", XANES_SOURCE_DIR);
    return 0;
}

/* A value is the next argument whatever it looks like; --help counts only
 * where an option may stand, and the walk stops at the first error. */
static void test_values_and_help_order(void **state)
{
    (void)state;
    tu_cli_expect(2, "option --e0: '--help' is not a finite number", "norm '%s' --e0 --help", nio);
    tu_cli_expect(2, "option --e0 needs a value", "norm '%s' --e0", nio);
    tu_cli_expect(2, "option --energy-col needs a value", "norm '%s' --energy-col", nio);
    tu_cli_expect(0, "usage: xanes norm", "norm --help --bogus");
    tu_cli_expect(2, "unknown option '--bogus'", "norm --bogus --help");
    /* "-" is a file argument, not an option. */
    tu_cli_expect(1, "-: cannot open", "norm -");
}

/* Every option that takes a value also takes "--opt=value" (stack, spectrum
 * and subcommand options alike, simulate's and model's too); flags do not. */
static void test_inline_values(void **state)
{
    (void)state;
    tu_cli_expect(0, "layout fxi (--layout fxi)", "info '%s' --layout=fxi", stack);
    tu_cli_expect(2, "option --layout: 'foo' is not fxi, aps, custom or auto",
                  "info '%s' --layout=foo", stack);
    tu_cli_expect(2, "option --stack-path: 'data' is not a dataset path",
                  "info '%s' --stack-path=data", stack);
    tu_cli_expect(2, "option --layout needs a value", "info '%s' --layout", stack);
    tu_cli_expect(2, "unknown option '--raw=1'", "info '%s' --raw=1", stack);
    tu_cli_expect(2, "unknown option '--sort=1'", "norm '%s' --sort=1", nio);
    tu_cli_expect(2, "unknown option '--json=1'", "norm '%s' --json=1", nio);
    tu_cli_expect(0, "e0 8339.946 eV", "norm '%s' --e0=8340", nio); /* as "--e0 8340" */
    tu_cli_expect(2, "option --e0: 'x' is not a finite number", "norm '%s' --e0=x", nio);
    tu_cli_expect(2, "option --e0: '' is not a finite number", "norm '%s' --e0=", nio);
    tu_cli_expect(2, "option --energy-col: column 0 out of range", "norm '%s' --energy-col=0", nio);
    tu_cli_expect(2, "option --threads: 0 is outside the accepted range",
                  "run '%s' -o /nonexistent/x --threads=0", stack);
    /* simulate and model parse their own words, with the same grammar. */
    tu_cli_expect(2, "option --layout: 'nexus' is not fxi or aps",
                  "simulate -o /nonexistent/x.h5 --layout=nexus");
    tu_cli_expect(2, "option --nx: 3 is outside the accepted range",
                  "simulate -o /nonexistent/x.h5 --nx=3");
    tu_cli_expect(2, "option --dose needs a value", "simulate -o /nonexistent/x.h5 --dose");
    tu_cli_expect(2, "unknown option '--touching=1'", "simulate -o /nonexistent/x.h5 --touching=1");
    tu_cli_expect(0, "config NCM-B: 50 particles", "model --config=NCM-B --particles=50");
    tu_cli_expect(2, "option --particles: 0 is outside the accepted range",
                  "model --config NCM-B --particles=0");
    tu_cli_expect(2, "option --config needs a value", "model --config");
    tu_cli_expect(2, "unknown option '--json=1'", "model --config NCM-B --json=1");
}

static void test_value_errors(void **state)
{
    (void)state;
    tu_cli_expect(2, "option --energy-unit: 'mev' is not ev or kev", "norm '%s' --energy-unit mev",
                  nio);
    tu_cli_expect(2, "option --energy-unit: 'mev' is not ev or kev", "info '%s' --energy-unit=mev",
                  stack);
    tu_cli_expect(2, "option -o needs a file name", "norm '%s' -o ''", nio);
    tu_cli_expect(2, "option --output needs a file name", "norm '%s' --output", nio);
    tu_cli_expect(2, "option --png needs a file name", "sfit '%s' --png ''", nio);
    tu_cli_expect(2, "option -o needs a value", "lcf '%s' --ref a --ref b -o", nio);
}

static void test_second_file(void **state)
{
    (void)state;
    tu_cli_expect(2, "one spectrum only ('a' and 'b' given)", "norm a b");
    tu_cli_expect(2, "one reference spectrum expected, got 'a' and 'b'",
                  "calibrate a b --ref-edge 8333");
    tu_cli_expect(2, "one spectrum expected, got 'a' and 'b'", "lcf a --ref r1 --ref r2 b");
    tu_cli_expect(2, "one file at a time ('a' and 'b' given)", "info a b");
    tu_cli_expect(2, "at most 16 references",
                  "lcf a --ref 1 --ref 2 --ref 3 --ref 4 --ref 5 --ref 6 --ref 7 --ref 8 --ref 9 "
                  "--ref 10 --ref 11 --ref 12 --ref 13 --ref 14 --ref 15 --ref 16 --ref 17");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_help_order),
        cmocka_unit_test(test_inline_values),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_second_file),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
