/* test_watershed_parallel.c: the marker sweep and the watershed flood run
 * one component per thread (watershed.h, seg_components) and must give what
 * the single sweep and the single flood give, label for label.
 *
 * Truth is the serial path of the same functions (cc NULL).  Scene: 90
 * discs of random radii, many touching or overlapping (several hills per
 * blob), on a 300 x 340 grid; f is the exact Euclidean distance map
 * (xanes_segment_edt_sq), rounded to quarter pixels so that plateaus and
 * ties in f are common (the tie rules decide there).  Components are found
 * here by a breadth-first fill; 1 and 4 threads; 8- and 4-connected floods.
 * The distance transform run by teams of 2-5 threads equals the one-thread
 * transform.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "watershed.h"
#include "xanes/segment.h"

enum { NY = 300, NX = 340, N = NY * NX };

static uint64_t rng = 0x853C49E6748FEA9Bull;

static double uniform(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

/* Components of mask under conn, labelled 1..n in raster order of their
 * first pixel; fills cc's start and pix. */
static size_t components(const uint8_t *mask, int conn, int32_t *comp, size_t *start, size_t *pix,
                         size_t *queue)
{
    memset(comp, 0, N * sizeof *comp);
    size_t nc = 0, at = 0;
    start[0] = start[1] = 0;
    for (size_t s = 0; s < N; s++) {
        if (!mask[s] || comp[s] != 0)
            continue;
        size_t head = 0, tail = 0;
        comp[s] = (int32_t)++nc;
        queue[tail++] = s;
        while (head < tail) {
            size_t nb[8], k = seg_neighbours(queue[head++], NY, NX, conn, nb);
            for (size_t i = 0; i < k; i++)
                if (mask[nb[i]] && comp[nb[i]] == 0) {
                    comp[nb[i]] = (int32_t)nc;
                    queue[tail++] = nb[i];
                }
        }
        at += tail;
        start[nc + 1] = at;
    }
    /* pix: each component's pixels in raster order. */
    size_t *fill = malloc((nc + 2) * sizeof *fill);
    memcpy(fill, start, (nc + 2) * sizeof *fill);
    for (size_t p = 0; p < N; p++)
        if (comp[p] != 0)
            pix[fill[comp[p]]++] = p;
    free(fill);
    return nc;
}

static void test_components_equal_single(void **state)
{
    (void)state;
    uint8_t *mask = calloc(N, 1), *bg = malloc(N), *keep = malloc(N);
    double *f = malloc(N * sizeof *f), *ds = malloc((3 * NX + 1) * sizeof *ds);
    size_t *is = malloc(NX * sizeof *is), *start = malloc((N + 2) * sizeof *start);
    size_t *pix = malloc(N * sizeof *pix), *queue = malloc(N * sizeof *queue);
    size_t *parent = malloc(N * sizeof *parent), *peak = malloc(N * sizeof *peak);
    int32_t *comp = malloc(N * sizeof *comp), *m1 = malloc(N * sizeof *m1);
    int32_t *m2 = malloc(N * sizeof *m2);
    seg_heap_item *heap = malloc(N * sizeof *heap);
    assert_non_null(heap);
    for (int d = 0; d < 90; d++) {
        const double cy = 10 + 280 * uniform(), cx = 10 + 320 * uniform(), r = 4 + 14 * uniform();
        for (size_t p = 0; p < N; p++) {
            const double dy = (double)(p / NX) - cy, dx = (double)(p % NX) - cx;
            if (dy * dy + dx * dx <= r * r)
                mask[p] = 1;
        }
    }
    for (size_t p = 0; p < N; p++)
        bg[p] = !mask[p];
    xanes_segment_edt_sq(bg, NY, NX, f, ds, is);
    for (size_t p = 0; p < N; p++)
        f[p] = mask[p] ? floor(4.0 * sqrt(f[p])) / 4.0 : 0.0;
    const int saved = omp_get_max_threads();
    for (int conn = 8; conn >= 4; conn -= 4) {
        const size_t nc = components(mask, conn, comp, start, pix, queue);
        seg_components cc = {nc, start, pix};
        /* Markers: one sweep, then per component (8-connected only). */
        const size_t nm1 =
            seg_dynamic_markers(f, mask, NY, NX, 1.0, 0.1, NULL, heap, parent, peak, keep, m1);
        assert_true(nm1 > nc);
        for (int threads = 1; threads <= 4; threads += 3) {
            omp_set_num_threads(threads);
            if (conn == 8) {
                const size_t nm2 = seg_dynamic_markers(f, mask, NY, NX, 1.0, 0.1, &cc, heap, parent,
                                                       peak, keep, m2);
                assert_int_equal(nm1, nm2);
                assert_memory_equal(m1, m2, N * sizeof *m1);
            }
            memcpy(m2, m1, N * sizeof *m1);
            seg_watershed(f, mask, NY, NX, conn, &cc, m2, heap);
            int32_t *single = malloc(N * sizeof *single);
            memcpy(single, m1, N * sizeof *m1);
            seg_watershed(f, mask, NY, NX, conn, NULL, single, heap);
            assert_memory_equal(single, m2, N * sizeof *m2);
            size_t flooded = 0;
            for (size_t p = 0; p < N; p++)
                flooded += mask[p] && single[p] != 0;
            print_message("conn %d, %d thread(s): %zu components, %zu markers, %zu pixels "
                          "flooded\n",
                          conn, threads, nc, nm1, flooded);
            free(single);
        }
    }
    omp_set_num_threads(saved);
    free(heap);
    free(m2);
    free(m1);
    free(comp);
    free(peak);
    free(parent);
    free(queue);
    free(pix);
    free(start);
    free(is);
    free(ds);
    free(f);
    free(keep);
    free(bg);
    free(mask);
}

/* The distance transform in column strips and shared rows equals the
 * one-thread transform, value for value, for teams of 2, 3 and 5 (odd
 * splits of the 340 columns and 300 rows). */
static void test_edt_threads(void **state)
{
    (void)state;
    uint8_t *t = malloc(N);
    double *one = malloc(N * sizeof *one), *par = malloc(N * sizeof *par);
    double *ds = malloc(5 * (3 * NX + 1) * sizeof *ds);
    size_t *is = malloc(5 * NX * sizeof *is);
    assert_non_null(is);
    for (size_t p = 0; p < N; p++)
        t[p] = uniform() < 0.002 || (p / NX > 200 && p % NX < 40);
    xanes_segment_edt_sq(t, NY, NX, one, ds, is);
    size_t n_far = 0;
    for (size_t p = 0; p < N; p++)
        n_far += one[p] > 100.0;
    assert_true(n_far > 1000); /* distances well beyond a few pixels occur */
    const int saved = omp_get_max_threads();
    for (int nthr = 2; nthr <= 5; nthr++) {
        omp_set_num_threads(nthr);
        seg_edt_sq(t, NY, NX, par, ds, is, nthr);
        assert_memory_equal(one, par, N * sizeof *one);
    }
    omp_set_num_threads(saved);
    free(is);
    free(ds);
    free(par);
    free(one);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components_equal_single),
        cmocka_unit_test(test_edt_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
