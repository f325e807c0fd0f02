/* bench_align.c: timing of drift alignment on a 1024 x 1024 x 80 stack.
 *
 * Builds a synthetic absorbance stack (Gaussian particles whose absorbance
 * follows an arctan edge, a smooth sub-pixel drift of several px, Poisson-like
 * noise at 1000 counts), then times, with the machine's threads and with one:
 * one plain memory pass over the stack (the baseline, a parallel read and
 * sum), xanes_align_estimate and xanes_align_apply.  Prints seconds, Mvoxel/s
 * and the ratio to the memory pass, and the rms error of the estimated drift
 * against the imposed one (common offset removed).
 *
 *   bench_align [ny nx n_energy]      default 1024 1024 80
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "xanes/align.h"

#define PI 3.14159265358979323846

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

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double urand(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double nrand(uint64_t *s)
{
    return sqrt(-2.0 * log(urand(s) + 1e-300)) * cos(2.0 * PI * urand(s));
}

#define NBLOB 600

typedef struct {
    double cy[NBLOB], cx[NBLOB], sigma[NBLOB], thick[NBLOB], e0[NBLOB];
} scene;

static void make_stack(float *stack, size_t ny, size_t nx, size_t ne, const double *energy,
                       double (*drift)[2], double dose)
{
    static scene sc;
    uint64_t seed = 7;
    for (int b = 0; b < NBLOB; b++) {
        sc.cy[b] = 20.0 + urand(&seed) * ((double)ny - 40.0);
        sc.cx[b] = 20.0 + urand(&seed) * ((double)nx - 40.0);
        sc.sigma[b] = 4.0 + 16.0 * urand(&seed);
        sc.thick[b] = 0.3 + 0.6 * urand(&seed);
        sc.e0[b] = 8343.0 + 6.0 * urand(&seed);
    }
#pragma omp parallel for schedule(static) default(none) shared(stack, energy, drift, sc)           \
    firstprivate(ny, nx, ne, dose)
    for (size_t k = 0; k < ne; k++) {
        float *f = stack + k * ny * nx;
        uint64_t s = 1000 + k;
        for (size_t i = 0; i < ny * nx; i++)
            f[i] = 0.02f;
        for (int b = 0; b < NBLOB; b++) {
            double e = energy[k];
            double mu = 0.25 + 0.75 * (0.5 + atan((e - sc.e0[b]) / 1.5) / PI) +
                        0.35 * exp(-0.5 * pow((e - sc.e0[b] - 4.0) / 2.5, 2));
            double cy = sc.cy[b] + drift[k][0], cx = sc.cx[b] + drift[k][1], sg = sc.sigma[b];
            double amp = sc.thick[b] * mu;
            long y0 = (long)floor(cy - 3.5 * sg), y1 = (long)ceil(cy + 3.5 * sg);
            long x0 = (long)floor(cx - 3.5 * sg), x1 = (long)ceil(cx + 3.5 * sg);
            for (long y = y0 < 0 ? 0 : y0; y <= y1 && y < (long)ny; y++)
                for (long x = x0 < 0 ? 0 : x0; x <= x1 && x < (long)nx; x++) {
                    double r2 =
                        ((double)y - cy) * ((double)y - cy) + ((double)x - cx) * ((double)x - cx);
                    f[(size_t)y * nx + (size_t)x] += (float)(amp * exp(-0.5 * r2 / (sg * sg)));
                }
        }
        for (size_t i = 0; i < ny * nx; i++) {
            double c = dose * exp(-(double)f[i]);
            c += sqrt(c) * nrand(&s);
            f[i] = (float)-log(fmax(c, 1.0) / dose);
        }
    }
}

/* One plain read pass over the stack: the floor any stage must pay. */
static double memory_pass(const float *stack, size_t n, int threads, double *sink)
{
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s(), sum = 0.0;
#pragma omp parallel for schedule(static) num_threads(threads) default(none)                   \
    shared(stack) firstprivate(n) reduction(+ : sum)
        for (size_t i = 0; i < n; i++)
            sum += stack[i];
        best = fmin(best, now_s() - t0);
        *sink += sum;
    }
    return best;
}

static double rms_error(const double *shift, double (*drift)[2], size_t ne)
{
    double mean[2] = {0, 0}, s2 = 0.0;
    for (size_t k = 0; k < ne; k++)
        for (int a = 0; a < 2; a++)
            mean[a] += (shift[2 * k + a] + drift[k][a]) / (double)ne;
    for (size_t k = 0; k < ne; k++)
        for (int a = 0; a < 2; a++) {
            double e = shift[2 * k + a] + drift[k][a] - mean[a];
            s2 += e * e;
        }
    return sqrt(s2 / (2.0 * (double)ne));
}

int main(int argc, char **argv)
{
    size_t ny = 1024, nx = 1024, ne = 80;
    if (argc == 4) {
        ny = (size_t)strtoul(argv[1], NULL, 10);
        nx = (size_t)strtoul(argv[2], NULL, 10);
        ne = (size_t)strtoul(argv[3], NULL, 10);
    }
    size_t nvox = ny * nx * ne;
    float *stack = malloc(nvox * sizeof *stack);
    double *energy = malloc(ne * sizeof *energy), (*drift)[2] = malloc(ne * sizeof *drift);
    double *shift = malloc(2 * ne * sizeof *shift);
    unsigned char *ok = malloc(ne);
    if (stack == NULL || energy == NULL || drift == NULL || shift == NULL || ok == NULL) {
        fprintf(stderr, "bench_align: out of memory for a %zu x %zu x %zu stack\n", ne, ny, nx);
        return 1;
    }
    for (size_t k = 0; k < ne; k++) {
        energy[k] = 8310.0 + 80.0 * (double)k / (double)(ne > 1 ? ne - 1 : 1);
        drift[k][0] = 3.2 * sin(0.37 * (double)k + 0.4) + 0.9 * cos(1.3 * (double)k);
        drift[k][1] = -2.9 * cos(0.23 * (double)k) + 1.1 * sin(0.81 * (double)k + 1.0);
    }
    make_stack(stack, ny, nx, ne, energy, drift, 1000.0);

    int nthr = omp_get_max_threads();
    int counts[2] = {nthr, 1};
    double sink = 0.0, mvox = (double)nvox * 1e-6;
    printf("bench_align: %zu x %zu x %zu float32 stack (%.0f MiB), %d threads available\n", ne, ny,
           nx, (double)nvox * 4.0 / 1048576.0, nthr);
    printf("%-18s %7s %9s %10s %14s %9s\n", "stage", "threads", "seconds", "Mvoxel/s",
           "x memory pass", "cpu s");
    double t_est[2] = {0, 0}, t_app[2] = {0, 0}, t_mem[2] = {0, 0}, err_px = 0.0;
    double c_est[2] = {0, 0}, c_app[2] = {0, 0};
    for (int c = 0; c < (nthr > 1 ? 2 : 1); c++) {
        int t = counts[c];
        omp_set_num_threads(t);
        t_mem[c] = memory_pass(stack, nvox, t, &sink);
        xanes_error err;
        xanes_error_clear(&err);
        double t0 = now_s();
        xanes_align *a = xanes_align_alloc(ny, nx, NULL, &err);
        double t_alloc = now_s() - t0;
        if (a == NULL) {
            fprintf(stderr, "bench_align: %s\n", err.message);
            return 1;
        }
        t_est[c] = INFINITY;
        for (int rep = 0; rep < 2; rep++) {
            t0 = now_s();
            double c0 = cpu_s();
            if (xanes_align_estimate(a, stack, ne, energy, shift, ok, &err) != XANES_OK) {
                fprintf(stderr, "bench_align: %s\n", err.message);
                return 1;
            }
            if (now_s() - t0 < t_est[c])
                c_est[c] = cpu_s() - c0;
            t_est[c] = fmin(t_est[c], now_s() - t0);
        }
        if (c == 0)
            err_px = rms_error(shift, drift, ne);
        /* Apply changes the stack, so it runs last and once per thread
         * count; the second run shifts already shifted frames, which costs
         * the same. */
        t0 = now_s();
        double c1 = cpu_s();
        if (xanes_align_apply(a, stack, ne, shift, &err) != XANES_OK) {
            fprintf(stderr, "bench_align: %s\n", err.message);
            return 1;
        }
        t_app[c] = now_s() - t0;
        c_app[c] = cpu_s() - c1;
        xanes_align_free(a);
        double tot = t_est[c] + t_app[c];
        printf("%-18s %7d %9.4f %10.0f %14.2f\n", "memory pass", t, t_mem[c], mvox / t_mem[c], 1.0);
        printf("%-18s %7d %9.4f %10s %14s\n", "align alloc+plan", t, t_alloc, "-", "-");
        printf("%-18s %7d %9.4f %10.0f %14.2f %9.4f\n", "align estimate", t, t_est[c],
               mvox / t_est[c], t_est[c] / t_mem[c], c_est[c]);
        printf("%-18s %7d %9.4f %10.0f %14.2f %9.4f\n", "align apply", t, t_app[c], mvox / t_app[c],
               t_app[c] / t_mem[c], c_app[c]);
        printf("%-18s %7d %9.4f %10.0f %14.2f %9.4f\n", "align total", t, tot, mvox / tot,
               tot / t_mem[c], c_est[c] + c_app[c]);
    }
    size_t nok = 0;
    for (size_t k = 0; k < ne; k++)
        nok += ok[k];
    if (nthr > 1)
        printf("speedup %d threads vs 1: estimate %.2fx, apply %.2fx\n", nthr, t_est[1] / t_est[0],
               t_app[1] / t_app[0]);
    printf("frames aligned: %zu of %zu; drift rms error vs imposed: %.4f px (1000 counts)\n", nok,
           ne, err_px);
    if (sink == 12345.678)
        printf(" ");
    free(ok);
    free(shift);
    free(drift);
    free(energy);
    free(stack);
    return 0;
}
