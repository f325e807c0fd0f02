/* bench_stack_read.c: xanes_stack_read against the plainest baseline, one
 * H5Dread of the whole stack dataset in its native type (what h5py's
 * `f[name][...]` does), measured in the same run on the same file.
 *
 *   bench_stack_read FILE.h5 [DATASET]     (DATASET default: the reader's choice)
 *
 * Prints both wall times, their ratio, and the peak resident memory of the
 * reader relative to one float32 copy of the stack (the budget is ~1).
 * The baseline runs first, in a child process, so the reader's peak is not
 * mixed with it.
 */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xanes/stack.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double baseline_s(const char *path, const char *dset)
{
    double t0 = now_s();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : H5I_INVALID_HID;
    if (d < 0) {
        fprintf(stderr, "bench: cannot open %s in %s\n", dset, path);
        exit(1);
    }
    hid_t type = H5Dget_type(d);
    hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
    hid_t space = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(space) * H5Tget_size(native);
    void *buf = malloc(n);
    if (buf == NULL || H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "bench: baseline read failed\n");
        exit(1);
    }
    free(buf);
    H5Sclose(space);
    H5Tclose(native);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_stack_read FILE.h5 [DATASET]\n");
        return 2;
    }
    xanes_init();
    const char *path = argv[1];
    xanes_error err;
    xanes_error_clear(&err);
    xanes_stack_info *info = NULL;
    if (xanes_stack_probe(path, NULL, &info, &err) != XANES_OK) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    char dset[256];
    snprintf(dset, sizeof dset, "%s", argc > 2 ? argv[2] : info->stack_dataset);
    double copy_mb = (double)info->n_energy * (double)info->ny * (double)info->nx * 4.0 / 1e6;
    xanes_stack_info_free(info);

    int fd[2];
    if (pipe(fd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        double t = baseline_s(path, dset);
        if (write(fd[1], &t, sizeof t) != (ssize_t)sizeof t)
            _exit(1);
        _exit(0);
    }
    double t_base = 0.0;
    if (read(fd[0], &t_base, sizeof t_base) != (ssize_t)sizeof t_base)
        return 1;
    waitpid(pid, NULL, 0);

    double t0 = now_s();
    xanes_stack *s = NULL;
    if (xanes_stack_read(path, NULL, &s, &err) != XANES_OK) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    double t_read = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_mb = (double)ru.ru_maxrss / 1e3;
    printf("file %s: %zu x %zu x %zu\n", path, s->n_energy, s->ny, s->nx);
    printf("baseline H5Dread (native type, no correction): %.3f s\n", t_base);
    printf("xanes_stack_read (frame by frame + correction): %.3f s  ratio %.2f\n", t_read,
           t_read / t_base);
    printf("peak RSS %.1f MB = %.2f x one float32 copy (%.1f MB)\n", peak_mb, peak_mb / copy_mb,
           copy_mb);
    xanes_stack_free(s);
    return 0;
}
