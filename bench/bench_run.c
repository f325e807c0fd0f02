/* bench_run.c: the whole `xanes run` pipeline on a 1024 x 1024 x 80 uint16
 * stack, stage by stage, against one plain memory pass over the same stack
 * measured in the same run (issue 4, "Performance").
 *
 *   bench_run [NX NY NE] [--keep FILE]
 *
 * A synthetic APS-layout stack (raw uint16 counts, 4 flats, 2 darks, ~60
 * spherical particles with arctan Ni K edges at particle-dependent energies,
 * a sub-pixel random-walk drift, Gaussian counting noise at 10^4 counts) is
 * written to /tmp (not timed).  The baseline is one pass that converts the
 * uint16 stack, already in memory, to float32 (read 2 + write 4 bytes per
 * voxel) with the same thread count: the least any reader+correction must
 * do (its output is already touched, so it pays no page faults); it runs in
 * every round, between the pipeline runs, and its best is kept.  The
 * pipeline (xanes_run: read + correction, calibration, alignment, edge map,
 * segmentation, particles, outputs) runs in a forked child per thread count
 * (1 and 2), so each child's peak resident memory (getrusage) is the
 * pipeline's own; it is compared with the float32 size of the stack.  Each
 * stage's time is the best of 5 runs (the sums are sums of bests); the
 * median and worst whole runs are printed too.
 * Targets: read+correction+edge map within 5x the memory pass; 2 threads
 * >= 1.8x faster than 1; peak RSS <= 1.5x float32 stack; the whole run well
 * under 1 s on 2 cores.
 */
#define _POSIX_C_SOURCE 200809L

#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xanes/run.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Deterministic per-voxel standard normal (hash -> two uniforms -> Box-Muller),
 * so the generator is parallel and reproducible. */
static double hash_normal(uint64_t key)
{
    uint64_t z = key * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u1 = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (double)(z & 0x7FF) / 2048.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

typedef struct {
    double cy, cx, r, e0;
} particle;

static int write_stack(const char *path, size_t nx, size_t ny, size_t ne)
{
    enum { NP = 60, NFLAT = 4, NDARK = 2 };
    const double dose = 10000.0, dark = 100.0;
    particle parts[NP];
    uint64_t seed = 12345;
    for (size_t i = 0; i < NP; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const double u1 = (double)(seed >> 11) / 9007199254740992.0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const double u2 = (double)(seed >> 11) / 9007199254740992.0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const double u3 = (double)(seed >> 11) / 9007199254740992.0;
        parts[i].r = (0.02 + 0.03 * u3) * (double)nx;
        parts[i].cy = parts[i].r + 8 + u1 * ((double)ny - 2 * parts[i].r - 16);
        parts[i].cx = parts[i].r + 8 + u2 * ((double)nx - 2 * parts[i].r - 16);
        parts[i].e0 = 8355.0 + 3.0 * u3;
    }
    double *energy = malloc(ne * sizeof *energy), *dy = malloc(ne * sizeof *dy),
           *dx = malloc(ne * sizeof *dx);
    uint16_t *frame = malloc(nx * ny * sizeof *frame);
    float *flat = malloc(nx * ny * sizeof *flat);
    if (energy == NULL || dy == NULL || dx == NULL || frame == NULL || flat == NULL)
        return 1;
    /* 8300..8450 eV: 60 % of the points in 8340..8375 (the simulator's grid rule). */
    const size_t n_edge = (size_t)(0.6 * (double)ne), n_lo = (ne - n_edge) / 3;
    const size_t n_hi = ne - n_edge - n_lo;
    for (size_t k = 0; k < n_lo; k++)
        energy[k] = 8300.0 + 40.0 * (double)k / (double)n_lo;
    for (size_t k = 0; k < n_edge; k++)
        energy[n_lo + k] = 8340.0 + 35.0 * (double)k / (double)n_edge;
    for (size_t k = 0; k < n_hi; k++)
        energy[n_lo + n_edge + k] = 8375.0 + 75.0 * (double)k / (double)(n_hi - 1);
    double wy = 0.0, wx = 0.0;
    for (size_t k = 0; k < ne; k++) {
        wy += 0.4 * hash_normal(1000 + k);
        wx += 0.4 * hash_normal(5000 + k);
        dy[k] = wy;
        dx[k] = wx;
    }
    for (size_t i = 0; i < nx * ny; i++) {
        const double y = (double)(i / nx) / (double)ny, x = (double)(i % nx) / (double)nx;
        flat[i] = (float)(dose * (1.0 + 0.15 * sin(3.0 * x + 1.0) * cos(2.0 * y)));
    }

    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "/exchange", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d3[3] = {ne, ny, nx}, chunk[3] = {1, ny, nx}, e1[1] = {ne};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    hid_t sp = H5Screate_simple(3, d3, NULL);
    hid_t ds = H5Dcreate2(g, "data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hid_t msp = H5Screate_simple(3, chunk, NULL);
    for (size_t k = 0; k < ne; k++) {
#pragma omp parallel for schedule(static) default(none)                                            \
    shared(frame, flat, parts, energy, dy, dx, nx, ny, k, dose, dark)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                double mu = 0.05;
                const double py = (double)y - dy[k], px = (double)x - dx[k];
                for (size_t i = 0; i < NP; i++) {
                    const double ry = py - parts[i].cy, rx = px - parts[i].cx;
                    const double d2 = ry * ry + rx * rx, r2 = parts[i].r * parts[i].r;
                    if (d2 >= r2)
                        continue;
                    const double t = sqrt(1.0 - d2 / r2);
                    const double step =
                        0.5 + atan((energy[k] - parts[i].e0) / 1.5) / 3.141592653589793;
                    mu += t * (0.4 + 0.6 * step);
                }
                const double c = flat[y * nx + x] * exp(-mu);
                double v = dark + c + sqrt(c) * hash_normal(((uint64_t)k * ny + y) * nx + x);
                v = v < 0.0 ? 0.0 : v > 65534.0 ? 65534.0 : v;
                frame[y * nx + x] = (uint16_t)lround(v);
            }
        hsize_t start[3] = {k, 0, 0};
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, chunk, NULL);
        H5Dwrite(ds, H5T_NATIVE_UINT16, msp, sp, H5P_DEFAULT, frame);
    }
    H5Dclose(ds);
    H5Sclose(sp);
    /* Flats and darks. */
    hsize_t fd[3] = {NFLAT, ny, nx};
    sp = H5Screate_simple(3, fd, NULL);
    ds = H5Dcreate2(g, "data_white", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    for (size_t j = 0; j < NFLAT; j++) {
        for (size_t i = 0; i < nx * ny; i++) {
            const double c = flat[i];
            frame[i] =
                (uint16_t)lround(dark + c + sqrt(c) * hash_normal(900000000ull + j * nx * ny + i));
        }
        hsize_t start[3] = {j, 0, 0};
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, chunk, NULL);
        H5Dwrite(ds, H5T_NATIVE_UINT16, msp, sp, H5P_DEFAULT, frame);
    }
    H5Dclose(ds);
    H5Sclose(sp);
    fd[0] = NDARK;
    sp = H5Screate_simple(3, fd, NULL);
    ds = H5Dcreate2(g, "data_dark", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    for (size_t j = 0; j < NDARK; j++) {
        for (size_t i = 0; i < nx * ny; i++)
            frame[i] = (uint16_t)lround(dark + 3.0 * hash_normal(990000000ull + j * nx * ny + i));
        hsize_t start[3] = {j, 0, 0};
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, chunk, NULL);
        H5Dwrite(ds, H5T_NATIVE_UINT16, msp, sp, H5P_DEFAULT, frame);
    }
    H5Dclose(ds);
    H5Sclose(sp);
    H5Sclose(msp);
    sp = H5Screate_simple(1, e1, NULL);
    ds = H5Dcreate2(g, "energy", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, energy);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 2);
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(ds, "units", st, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "eV");
    H5Aclose(a);
    H5Sclose(as);
    H5Tclose(st);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Gclose(g);
    int rc = H5Fclose(f) < 0;
    free(energy);
    free(dy);
    free(dx);
    free(frame);
    free(flat);
    return rc;
}

/* One pass over the stack in memory: uint16 -> float32, `threads` threads;
 * the best of 5. */
static double memory_pass_s(size_t n, int threads)
{
    uint16_t *in = malloc(n * sizeof *in);
    float *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL) {
        fprintf(stderr, "bench_run: out of memory for the baseline\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (uint16_t)(i * 2654435761u >> 18);
    memset(out, 0, n * sizeof *out);
    double best = INFINITY;
    omp_set_num_threads(threads);
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = now_s();
#pragma omp parallel for schedule(static) default(none) shared(in, out, n)
        for (size_t i = 0; i < n; i++)
            out[i] = (float)in[i];
        const double t = now_s() - t0;
        best = t < best ? t : best;
    }
    volatile float sink = out[n / 2];
    (void)sink;
    free(in);
    free(out);
    return best;
}

/* memory_pass_s in a forked child (the parent keeps clear of OpenMP until
 * every child has run); INFINITY when the child fails. */
static double memory_pass_child(size_t n, int threads)
{
    int fd[2];
    double best = INFINITY;
    if (pipe(fd) != 0)
        return best;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        double t = memory_pass_s(n, threads);
        _exit(write(fd[1], &t, sizeof t) == (ssize_t)sizeof t ? 0 : 1);
    }
    close(fd[1]);
    if (pid > 0) {
        if (read(fd[0], &best, sizeof best) != (ssize_t)sizeof best)
            best = INFINITY;
        waitpid(pid, NULL, 0);
    }
    close(fd[0]);
    return best;
}

typedef struct {
    int ok;
    double seconds[XANES_RUN_N_STAGES];
    double cpu_seconds[XANES_RUN_N_STAGES];
    double wall_s;
    long maxrss_kb;
    size_t n_particles;
    size_t rank_blocks, rank_means; /* subspace ranks (projection cost ~ rank) */
} child_report;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs the pipeline in a child with `threads` threads. */
static child_report run_child(const char *stack, const char *outdir, int threads)
{
    child_report rep;
    memset(&rep, 0, sizeof rep);
    int fd[2];
    if (pipe(fd) != 0)
        return rep;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        omp_set_num_threads(threads);
        child_report c;
        memset(&c, 0, sizeof c);
        xanes_run_params p;
        xanes_run_default_params(&p);
        p.command_line = "bench_run";
        xanes_run_result *r = NULL;
        xanes_error err;
        xanes_error_clear(&err);
        const double t0 = now_s();
        if (xanes_run(stack, &p, outdir, &r, &err) == XANES_OK) {
            c.wall_s = now_s() - t0;
            c.ok = 1;
            memcpy(c.seconds, r->seconds, sizeof c.seconds);
            memcpy(c.cpu_seconds, r->cpu_seconds, sizeof c.cpu_seconds);
            c.n_particles = r->n_particles;
            c.rank_blocks = r->subspace_rank;
            c.rank_means = r->means_subspace_rank;
        } else {
            fprintf(stderr, "bench_run: %s\n", err.message);
        }
        xanes_run_result_free(r);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        c.maxrss_kb = ru.ru_maxrss;
        if (write(fd[1], &c, sizeof c) != (ssize_t)sizeof c)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (pid > 0) {
        if (read(fd[0], &rep, sizeof rep) != (ssize_t)sizeof rep)
            rep.ok = 0;
        waitpid(pid, NULL, 0);
    }
    close(fd[0]);
    return rep;
}

int main(int argc, char **argv)
{
    size_t nx = 1024, ny = 1024, ne = 80;
    const char *keep = NULL;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else if (pos == 0)
            nx = (size_t)atol(argv[i]), pos++;
        else if (pos == 1)
            ny = (size_t)atol(argv[i]), pos++;
        else
            ne = (size_t)atol(argv[i]), pos++;
    }
    xanes_init();
    char path[256], out[256];
    if (keep != NULL)
        snprintf(path, sizeof path, "%s", keep);
    else
        snprintf(path, sizeof path, "/tmp/xanes_bench_run_%ld.h5", (long)getpid());
    snprintf(out, sizeof out, "/tmp/xanes_bench_run_out_%ld", (long)getpid());
    const size_t nvox = nx * ny * ne;
    const double mvox = (double)nvox / 1e6, f32_mb = (double)nvox * 4.0 / 1048576.0;
    double t0 = now_s();
    if (access(path, R_OK) != 0 || keep == NULL) {
        /* In a child: libgomp's thread pool does not survive fork(), so the
         * parent uses no OpenMP until every child has run. */
        pid_t pid = fork();
        if (pid == 0)
            _exit(write_stack(path, nx, ny, ne));
        int status = 1;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_run: cannot write %s\n", path);
            return 1;
        }
    }
    double load[3] = {0, 0, 0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la != NULL) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = NAN;
        fclose(la);
    }
    printf("machine: %ld CPUs online, load average %.2f %.2f %.2f at the start\n",
           sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
    printf("stack: %zu x %zu x %zu uint16 (APS layout, %s), %.1f Mvoxel, float32 %.1f MiB; "
           "generated in %.1f s\n",
           nx, ny, ne, path, mvox, f32_mb, now_s() - t0);

    const int threads[2] = {1, 2};
    double mem[2] = {INFINITY, INFINITY};
    child_report rep[2];
    /* A warm-up run fills the page cache; then REPS runs per thread count,
     * alternating, each stage's best time kept (the machine may be shared),
     * the largest peak RSS kept.  The memory pass is measured in every round
     * too, its best kept, so that a busy moment does not shrink the ratios. */
    enum { REPS = 5 };
    double walls[2][REPS]; /* each run's sum of stage times, for the median */
    if (!run_child(path, out, 2).ok) {
        fprintf(stderr, "bench_run: the pipeline failed\n");
        return 1;
    }
    for (int rep_i = 0; rep_i < REPS; rep_i++)
        for (int t = 0; t < 2; t++) {
            mem[t] = fmin(mem[t], memory_pass_child(nvox, threads[t]));
            child_report c = run_child(path, out, threads[t]);
            if (!c.ok) {
                fprintf(stderr, "bench_run: the pipeline failed with %d thread(s)\n", threads[t]);
                return 1;
            }
            walls[t][rep_i] = 0.0;
            for (int s = 0; s < XANES_RUN_N_STAGES; s++)
                walls[t][rep_i] += c.seconds[s];
            if (rep_i == 0) {
                rep[t] = c;
                continue;
            }
            for (int s = 0; s < XANES_RUN_N_STAGES; s++) {
                rep[t].seconds[s] = fmin(rep[t].seconds[s], c.seconds[s]);
                rep[t].cpu_seconds[s] = fmin(rep[t].cpu_seconds[s], c.cpu_seconds[s]);
            }
            rep[t].maxrss_kb = c.maxrss_kb > rep[t].maxrss_kb ? c.maxrss_kb : rep[t].maxrss_kb;
        }
    printf("memory pass (uint16 -> float32 in RAM): 1 thread %.4f s (%.0f Mvoxel/s), 2 threads "
           "%.4f s (%.0f Mvoxel/s)\n\n",
           mem[0], mvox / mem[0], mem[1], mvox / mem[1]);
    printf("| stage | 1 thread s | Mvoxel/s | x memory pass | 2 threads s | Mvoxel/s | x memory "
           "pass | speed-up |\n|---|---|---|---|---|---|---|---|\n");
    double tot[2] = {0, 0}, core[2] = {0, 0};
    for (int s = 0; s < XANES_RUN_N_STAGES; s++) {
        printf("| %s", xanes_run_stage_name((xanes_run_stage)s));
        for (int t = 0; t < 2; t++) {
            const double sec = rep[t].seconds[s];
            tot[t] += sec;
            if (s == XANES_RUN_STAGE_READ || s == XANES_RUN_STAGE_EDGEMAP)
                core[t] += sec;
            printf(" | %.4f | %.0f | %.2f", sec, sec > 0 ? mvox / sec : 0.0, sec / mem[t]);
        }
        printf(" | %.2f |\n", rep[1].seconds[s] > 0 ? rep[0].seconds[s] / rep[1].seconds[s] : 0.0);
    }
    for (int v = 0; v < 2; v++) {
        const double *x = v == 0 ? core : tot;
        printf("| **%s** | %.4f | %.0f | %.2f | %.4f | %.0f | %.2f | %.2f |\n",
               v == 0 ? "read+correct+edge map" : "whole run", x[0], mvox / x[0], x[0] / mem[0],
               x[1], mvox / x[1], x[1] / mem[1], x[0] / x[1]);
    }
    /* CPU time: on a shared machine the wall time of 2 threads suffers
     * from other processes; CPU time shows the work itself (1 thread: the
     * uncontended wall time; 2 threads: the parallel overhead). */
    printf("\n| stage | 1 thread CPU s | 2 threads CPU s (both threads) |\n|---|---|---|\n");
    double ctot[2] = {0, 0};
    for (int s = 0; s < XANES_RUN_N_STAGES; s++) {
        ctot[0] += rep[0].cpu_seconds[s];
        ctot[1] += rep[1].cpu_seconds[s];
        printf("| %s | %.4f | %.4f |\n", xanes_run_stage_name((xanes_run_stage)s),
               rep[0].cpu_seconds[s], rep[1].cpu_seconds[s]);
    }
    printf("| **whole run** | %.4f | %.4f |\n", ctot[0], ctot[1]);
    printf("\nparticles found: %zu (1 thread) / %zu (2 threads); subspace rank %zu (blocks), %zu "
           "(averaged spectra: projects the pixels when not 0)\n",
           rep[0].n_particles, rep[1].n_particles, rep[1].rank_blocks, rep[1].rank_means);
    printf("peak RSS: 1 thread %.1f MiB (%.2f x float32 stack), 2 threads %.1f MiB (%.2f x)\n",
           rep[0].maxrss_kb / 1024.0, rep[0].maxrss_kb / 1024.0 / f32_mb, rep[1].maxrss_kb / 1024.0,
           rep[1].maxrss_kb / 1024.0 / f32_mb);
    /* The best of each stage hides a run that stalled (a busy neighbour,
     * memory compaction): the median and worst whole runs show them. */
    for (int t = 0; t < 2; t++)
        qsort(walls[t], REPS, sizeof walls[t][0], cmp_double);
    printf("whole run over the %d runs: 1 thread median %.3f s, worst %.3f s; 2 threads median "
           "%.3f s, worst %.3f s (speed-up of the medians %.2f)\n",
           REPS, walls[0][REPS / 2], walls[0][REPS - 1], walls[1][REPS / 2], walls[1][REPS - 1],
           walls[0][REPS / 2] / walls[1][REPS / 2]);
    printf("targets: read+correct+edge map %.2f x memory pass (<= 5) | 2 threads %.2f x faster "
           "than 1 (>= 1.8) | peak RSS %.2f x float32 (<= 1.5) | whole run %.3f s on 2 threads "
           "(well under 1 s)\n",
           core[1] / mem[1], tot[0] / tot[1], rep[1].maxrss_kb / 1024.0 / f32_mb, tot[1]);
    if (keep == NULL)
        remove(path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_run: could not remove %s\n", out);
    return 0;
}
