/* test_footprint.c: labels grown into the background (footprint.h) against
 * hand-worked cases: a single pixel grows into the disc of the radius
 * (Euclidean, pixel centres: 13 pixels for r = 2, 29 for r = 3); two labels
 * 4 px apart keep the gap pixels within reach of both as background; the
 * image border clips; labelled pixels never change; radius 0 copies; bad
 * arguments are refused with the radius in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/footprint.h"

#define NY 15
#define NX 17

static size_t count(const int32_t *l, int32_t v)
{
    size_t n = 0;
    for (size_t i = 0; i < NY * NX; i++)
        n += l[i] == v;
    return n;
}

static void test_disc(void **state)
{
    (void)state;
    int32_t in[NY * NX] = {0}, out[NY * NX];
    in[7 * NX + 8] = 1;
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 2.0, out, NULL), XANES_OK);
    assert_int_equal(count(out, 1), 13); /* 1 + 4 + 4 + 4: |d|^2 <= 4 */
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 3.0, out, NULL), XANES_OK);
    assert_int_equal(count(out, 1), 29); /* |d|^2 <= 9 */
    assert_int_equal(out[7 * NX + 11], 1);
    assert_int_equal(out[10 * NX + 9], 0); /* 3^2 + 1^2 = 10 > 9 */
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 0.0, out, NULL), XANES_OK);
    assert_memory_equal(in, out, sizeof in);
}

static void test_two_labels_and_border(void **state)
{
    (void)state;
    int32_t in[NY * NX] = {0}, out[NY * NX];
    /* Label 1 at column 4, label 2 at column 8 of row 7; label 3 in the
     * corner (0, 0). */
    in[7 * NX + 4] = 1;
    in[7 * NX + 8] = 2;
    in[0] = 3;
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 2.0, out, NULL), XANES_OK);
    assert_int_equal(out[7 * NX + 4], 1);
    assert_int_equal(out[7 * NX + 8], 2);
    assert_int_equal(out[7 * NX + 3], 1);
    assert_int_equal(out[7 * NX + 9], 2);
    /* Column 6 is 2 px from both: background. */
    assert_int_equal(out[7 * NX + 6], 0);
    assert_int_equal(out[6 * NX + 6], 0);
    /* Column 5 is 1 px from label 1 and 3 px from label 2: label 1. */
    assert_int_equal(out[7 * NX + 5], 1);
    /* The corner label keeps the quarter disc inside the image: 6 pixels
     * with x, y >= 0 and x^2 + y^2 <= 4. */
    assert_int_equal(count(out, 3), 6);
}

static void test_errors(void **state)
{
    (void)state;
    int32_t in[NY * NX] = {0}, out[NY * NX];
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 21.0, out, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "21 px"));
    assert_int_equal(xanes_footprint_grow(in, NY, NX, -1.0, out, NULL), XANES_EINVAL);
    assert_int_equal(xanes_footprint_grow(in, NY, NX, 1.0, in, NULL), XANES_EINVAL);
    assert_int_equal(xanes_footprint_grow(NULL, NY, NX, 1.0, out, NULL), XANES_EINVAL);
    assert_int_equal(xanes_footprint_grow(in, 0, NX, 1.0, out, NULL), XANES_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disc),
        cmocka_unit_test(test_two_labels_and_border),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
