/* atomic.c: temporary-file-and-rename writing of output files.
 *
 * The temporary file is made with mkstemp(3) in the directory of the final
 * path, so the closing rename(2) never crosses a file system and is atomic:
 * readers see either the previous file or the complete new one.  Data are
 * fsync'ed before the rename so a crash right after it cannot expose an empty
 * file.  Hidden name ".<name>.tmpXXXXXX" keeps half-written files out of
 * directory listings; discard and every failed commit unlink it.
 */
#define _POSIX_C_SOURCE 200809L
#include "xanes/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct xanes_atomic_file {
    FILE *fp;
    char *final_path;
    char *tmp_path;
};

static void atomic_free(xanes_atomic_file *af)
{
    if (af == NULL)
        return;
    free(af->tmp_path);
    free(af->final_path);
    free(af);
}

xanes_status xanes_atomic_open(const char *path, xanes_atomic_file **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_atomic_file *af = NULL;
    int fd = -1;
    *out = NULL;
    size_t len = path == NULL ? 0 : strlen(path);
    if (len == 0 || path[len - 1] == '/') {
        st = XANES_RAISE(err, XANES_EINVAL, "output path '%s' is empty or a directory",
                         path == NULL ? "(null)" : path);
        goto done;
    }
    /* rename(2) would replace a device or pipe (-o /dev/null, run as root)
     * by a regular file: refuse any existing path that is not one. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "output path '%s' exists and is %s, not a regular file: give a file name",
                         path,
                         S_ISDIR(sb.st_mode)                          ? "a directory"
                         : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                         : S_ISFIFO(sb.st_mode)                       ? "a pipe"
                                                                      : "special");
        goto done;
    }
    af = calloc(1, sizeof *af);
    if (af == NULL)
        goto nomem;
    af->final_path = strdup(path);
    af->tmp_path = malloc(len + 16);
    if (af->final_path == NULL || af->tmp_path == NULL)
        goto nomem;
    /* dir part (with its slash) + "." + base name + ".tmpXXXXXX" */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash == NULL ? 0 : (size_t)(slash - path) + 1;
    memcpy(af->tmp_path, path, dir_len);
    snprintf(af->tmp_path + dir_len, len - dir_len + 16, ".%s.tmpXXXXXX", path + dir_len);
    fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create output file '%s': %s", path,
                         strerror(errno));
        goto done;
    }
    /* mkstemp gives 0600; outputs are for sharing. */
    if (fchmod(fd, 0644) != 0 || (af->fp = fdopen(fd, "wb")) == NULL) {
        st = XANES_RAISE(err, XANES_EIO, "cannot open output file '%s': %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        goto done;
    }
    *out = af;
    af = NULL;
    goto done;
nomem:
    st = XANES_RAISE(err, XANES_ENOMEM, "out of memory opening output file '%s'", path);
done:
    if (af != NULL && st != XANES_OK)
        atomic_free(af);
    return st;
}

FILE *xanes_atomic_stream(xanes_atomic_file *af)
{
    return af->fp;
}

const char *xanes_atomic_tmp_path(const xanes_atomic_file *af)
{
    return af->tmp_path;
}

const char *xanes_atomic_final_path(const xanes_atomic_file *af)
{
    return af->final_path;
}

xanes_status xanes_atomic_close_stream(xanes_atomic_file *af, xanes_error *err)
{
    if (af->fp == NULL)
        return XANES_OK;
    int bad = ferror(af->fp) != 0;
    bad |= fflush(af->fp) != 0;
    int saved = errno;
    bad |= fclose(af->fp) != 0;
    af->fp = NULL;
    if (bad)
        return XANES_RAISE(err, XANES_EIO, "cannot write output file '%s': %s", af->final_path,
                           strerror(saved != 0 ? saved : errno));
    return XANES_OK;
}

xanes_status xanes_atomic_commit(xanes_atomic_file *af, xanes_error *err)
{
    xanes_status st = xanes_atomic_close_stream(af, err);
    if (st != XANES_OK)
        goto done;
    /* fsync through a fresh descriptor: the stream is closed, and HDF5
     * writers never had one. */
    int fd = open(af->tmp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot flush output file '%s': %s", af->final_path,
                         strerror(errno));
        if (fd >= 0)
            close(fd);
        goto done;
    }
    close(fd);
    if (rename(af->tmp_path, af->final_path) != 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot rename '%s' to '%s': %s", af->tmp_path,
                         af->final_path, strerror(errno));
        goto done;
    }
done:
    if (st != XANES_OK)
        unlink(af->tmp_path);
    atomic_free(af);
    return st;
}

void xanes_atomic_discard(xanes_atomic_file *af)
{
    if (af == NULL)
        return;
    if (af->fp != NULL)
        fclose(af->fp);
    unlink(af->tmp_path);
    atomic_free(af);
}
