/* testutil.h: helpers shared by the cmocka test programs. */
#ifndef XANES_TESTUTIL_H
#define XANES_TESTUTIL_H

#include <stddef.h>

/* Result of running the xanes CLI: exit code and captured streams
 * (NUL-terminated, owned by the struct; free with tu_cli_result_free). */
typedef struct {
    int exit_code; /* -1 when the process died by a signal */
    char *out;
    char *err;
} tu_cli_result;

/* Runs XANES_CLI_PATH with the given argument string through /bin/sh (the
 * string is appended verbatim after the binary path, so quote paths). */
tu_cli_result tu_run_cli(const char *args_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void tu_cli_result_free(tu_cli_result *r);

/* Runs the CLI as tu_run_cli does and asserts its exit code and that needle
 * occurs in what it printed: stdout when exit_code is 0, stderr otherwise.
 * A failure shows the arguments and both streams. */
void tu_cli_expect(int exit_code, const char *needle, const char *args_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Makes a fresh empty directory under $TMPDIR (or /tmp) and returns its path
 * in buf.  Aborts the test on failure. */
void tu_make_tempdir(char *buf, size_t size);

/* Removes a directory tree (best effort). */
void tu_remove_tree(const char *path);

/* Reads a whole file into a new NUL-terminated buffer (NULL if unreadable). */
char *tu_read_file(const char *path, size_t *size);

/* Writes text to path; aborts the test on failure. */
void tu_write_file(const char *path, const char *text);

/* Path of a file under tests/data. */
const char *tu_data_path(char *buf, size_t size, const char *name);

/* Path of the ../shared checkout beside the source tree, or NULL when the
 * machine has none (tests that need it must skip, the suite must pass). */
const char *tu_shared_dir(char *buf, size_t size);

#endif
