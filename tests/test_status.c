/* test_status.c: the error table and the per-call error context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/status.h"

static void test_every_code_has_text(void **state)
{
    (void)state;
    for (int s = 0; s < XANES_STATUS_COUNT; s++) {
        const char *t = xanes_strerror((xanes_status)s);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
        assert_string_not_equal(t, "unknown status");
    }
    assert_string_equal(xanes_strerror(XANES_STATUS_COUNT), "unknown status");
}

static void test_first_error_wins(void **state)
{
    (void)state;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(XANES_RAISE(&err, XANES_EDATA, "file %s: line %d bad", "a.xdi", 7),
                     XANES_EDATA);
    assert_int_equal(XANES_RAISE(&err, XANES_EIO, "later"), XANES_EIO);
    assert_int_equal(err.status, XANES_EDATA);
    assert_string_equal(err.message, "file a.xdi: line 7 bad");
    assert_int_equal(XANES_RAISE(NULL, XANES_EIO, "no context"), XANES_EIO);
}

static void test_cli_version_and_help(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("--version");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, xanes_version()));
    tu_cli_result_free(&r);
    r = tu_run_cli("--help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "run"));
    tu_cli_result_free(&r);
    r = tu_run_cli("no-such-command");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "no-such-command"));
    tu_cli_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_text),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_cli_version_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
