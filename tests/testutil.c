/* testutil.c: helpers shared by the cmocka test programs (see testutil.h). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char *slurp_path(const char *path)
{
    size_t n = 0;
    char *s = tu_read_file(path, &n);
    if (s == NULL) {
        s = calloc(1, 1);
        assert_non_null(s);
    }
    return s;
}

tu_cli_result tu_run_cli(const char *args_fmt, ...)
{
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    char args[8192];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    char cmd[10240];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/out' 2>'%s/err' </dev/null", XANES_CLI_PATH, args,
             dir, dir);
    int rc = system(cmd);
    tu_cli_result r;
    r.exit_code = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
    char path[600];
    snprintf(path, sizeof path, "%s/out", dir);
    r.out = slurp_path(path);
    snprintf(path, sizeof path, "%s/err", dir);
    r.err = slurp_path(path);
    tu_remove_tree(dir);
    return r;
}

void tu_cli_result_free(tu_cli_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void tu_cli_expect(int exit_code, const char *needle, const char *args_fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    tu_cli_result r = tu_run_cli("%s", args);
    const char *text = exit_code == 0 ? r.out : r.err;
    if (r.exit_code != exit_code || strstr(text, needle) == NULL)
        fail_msg("xanes %s: exit %d (want %d), want '%s' in %s\nstdout:\n%s\nstderr:\n%s", args,
                 r.exit_code, exit_code, needle, exit_code == 0 ? "stdout" : "stderr", r.out,
                 r.err);
    tu_cli_result_free(&r);
}

void tu_make_tempdir(char *buf, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(buf, size, "%s/xanes-test-XXXXXX", tmp);
    assert_non_null(mkdtemp(buf));
}

void tu_remove_tree(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    int rc = system(cmd);
    (void)rc;
}

char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (size != NULL)
            *size = n;
    }
    return buf;
}

void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t n = strlen(text);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

const char *tu_data_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", XANES_TEST_DATA_DIR, name);
    return buf;
}

const char *tu_shared_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s/../shared/data/real", XANES_SOURCE_DIR);
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(buf, size, "%s/../shared", XANES_SOURCE_DIR);
    return buf;
}
