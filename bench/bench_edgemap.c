/* bench_edgemap.c: timing of the per-pixel edge map on a 1024 x 1024 x 80
 * stack.
 *
 * Builds a float absorbance stack whose pixels are particles (an arctan-like
 * raised-sine edge with a white line, edge energy varying across the field)
 * or background, with Gaussian noise of 0.01, then times with the machine's
 * threads and with one: one plain memory pass over the stack (the baseline,
 * a parallel read and sum), the mean spectrum, the map set-up (normalizing
 * the mean spectrum, the plan) and the map itself.  Prints seconds, Mvoxel/s,
 * the ratio to the memory pass, the speedup of all threads over one, and the
 * gate's counts.
 *
 *   bench_edgemap [ny nx]      default 1024 1024 (80 energies)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <omp.h>

#include "xanes/edgemap.h"

#define PI 3.14159265358979323846
#define NE 80

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the process (all threads): on a shared machine the wall
 * time of a stage includes waiting for a core, its CPU time does not. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double nrand(uint64_t *s)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        u[i] = (double)((*s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(2.0 * PI * u[1]);
}

static void make_stack(float *stack, size_t ny, size_t nx, const double *e)
{
#pragma omp parallel for schedule(static) default(none) shared(stack, e) firstprivate(ny, nx)
    for (size_t y = 0; y < ny; y++) {
        uint64_t s = 0x9e3779b97f4a7c15ULL ^ (y + 1);
        for (size_t x = 0; x < nx; x++) {
            /* Particles on a 64 px lattice of discs of radius 26 px. */
            double dy = (double)(y % 64) - 32.0, dx = (double)(x % 64) - 32.0;
            double amp = dy * dy + dx * dx < 26.0 * 26.0 ? 0.5 + 0.4 * (double)(x % 7) / 7.0 : 0.0;
            double ec = 8345.0 + 2.5 * sin(0.013 * (double)x) * cos(0.011 * (double)y);
            double p0 = 0.1 + 0.02 * (double)(y % 5);
            for (size_t k = 0; k < NE; k++) {
                double u = (e[k] - ec) / 3.0, t = e[k] - ec - 3.0;
                double mu = p0 + 4e-4 * (e[k] - 8300.0) +
                            amp * (u <= -1.0  ? 0.0
                                   : u >= 1.0 ? 1.0
                                              : 0.5 * (1.0 + sin(0.5 * PI * u)));
                if (t > 0.0 && t < 8.0)
                    mu += 0.3 * amp * 0.5 * (1.0 - cos(2.0 * PI * t / 8.0));
                stack[(k * ny + y) * nx + x] = (float)(mu + 0.01 * nrand(&s));
            }
        }
    }
}

static double memory_pass(const float *stack, size_t n, double *sink)
{
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s(), sum = 0.0;
#pragma omp parallel for schedule(static) default(none) shared(stack) firstprivate(n)           \
    reduction(+ : sum)
        for (size_t i = 0; i < n; i++)
            sum += stack[i];
        best = fmin(best, now_s() - t0);
        *sink += sum;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t ny = 1024, nx = 1024;
    if (argc == 3) {
        ny = (size_t)strtoul(argv[1], NULL, 10);
        nx = (size_t)strtoul(argv[2], NULL, 10);
    }
    double e[NE];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        e[n++] = 8300.0 + 3.0 * i;
    for (int i = 0; i < 50; i++)
        e[n++] = 8330.0 + 0.5 * i;
    for (int i = 0; i < 20; i++)
        e[n++] = 8356.0 + 2.0 * i;
    size_t nvox = ny * nx * NE;
    float *stack = malloc(nvox * sizeof *stack);
    float *edge = malloc(ny * nx * sizeof *edge), *jump = malloc(ny * nx * sizeof *jump);
    float *noise = malloc(ny * nx * sizeof *noise);
    if (stack == NULL || edge == NULL || jump == NULL || noise == NULL) {
        fprintf(stderr, "bench_edgemap: out of memory for a %d x %zu x %zu stack\n", NE, ny, nx);
        return 1;
    }
    make_stack(stack, ny, nx, e);
    int nthr = omp_get_max_threads();
    int counts[2] = {nthr, 1};
    double mvox = (double)nvox * 1e-6, sink = 0.0, t_run[2] = {0, 0}, c_run = 0.0;
    xanes_edgemap_counts c = {0};
    printf("bench_edgemap: %d x %zu x %zu float32 stack (%.0f MiB), %d threads available\n", NE, ny,
           nx, (double)nvox * 4.0 / 1048576.0, nthr);
    printf("%-18s %7s %9s %10s %14s %9s\n", "stage", "threads", "seconds", "Mvoxel/s",
           "x memory pass", "cpu s");
    for (int r = 0; r < (nthr > 1 ? 2 : 1); r++) {
        int t = counts[r];
        omp_set_num_threads(t);
        double t_mem = memory_pass(stack, nvox, &sink);
        xanes_error err;
        xanes_error_clear(&err);
        double sum[NE] = {0};
        size_t nv = 0;
        double t0 = now_s();
        if (xanes_edgemap_mean_spectrum(stack, NE, ny, nx, 0, ny, sum, &nv, &err) != XANES_OK) {
            fprintf(stderr, "bench_edgemap: %s\n", err.message);
            return 1;
        }
        double t_mean = now_s() - t0;
        for (size_t k = 0; k < NE; k++)
            sum[k] /= (double)nv;
        t0 = now_s();
        xanes_edgemap *m = xanes_edgemap_alloc(e, NE, nx, sum, NULL, &err);
        double t_alloc = now_s() - t0;
        if (m == NULL) {
            fprintf(stderr, "bench_edgemap: %s\n", err.message);
            return 1;
        }
        t_run[r] = INFINITY;
        for (int rep = 0; rep < 2; rep++) {
            t0 = now_s();
            double c0 = cpu_s();
            if (xanes_edgemap_run(m, stack, NE, ny, nx, 0, ny, edge, jump, noise, &c, &err) !=
                XANES_OK) {
                fprintf(stderr, "bench_edgemap: %s\n", err.message);
                return 1;
            }
            if (now_s() - t0 < t_run[r])
                c_run = cpu_s() - c0;
            t_run[r] = fmin(t_run[r], now_s() - t0);
        }
        xanes_edgemap_free(m);
        double tot = t_mean + t_alloc + t_run[r];
        printf("%-18s %7d %9.4f %10.0f %14.2f\n", "memory pass", t, t_mem, mvox / t_mem, 1.0);
        printf("%-18s %7d %9.4f %10.0f %14.2f\n", "mean spectrum", t, t_mean, mvox / t_mean,
               t_mean / t_mem);
        printf("%-18s %7d %9.4f %10s %14s\n", "edgemap alloc", t, t_alloc, "-", "-");
        printf("%-18s %7d %9.4f %10.0f %14.2f %9.4f\n", "edgemap run", t, t_run[r], mvox / t_run[r],
               t_run[r] / t_mem, c_run);
        printf("%-18s %7d %9.4f %10.0f %14.2f\n", "edgemap total", t, tot, mvox / tot, tot / t_mem);
    }
    if (nthr > 1)
        printf("speedup %d threads vs 1 (edgemap run): %.2fx\n", nthr, t_run[1] / t_run[0]);
    printf("pixels %zu: edge %zu, low jump %zu, invalid %zu, no edge %zu\n", c.n_pixels, c.n_edge,
           c.n_low_jump, c.n_invalid, c.n_no_edge);
    if (sink == 12345.678)
        printf(" ");
    free(noise);
    free(jump);
    free(edge);
    free(stack);
    return 0;
}
