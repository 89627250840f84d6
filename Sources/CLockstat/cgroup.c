/* Cgroup v2 ids to paths, without allocating (the contention module resolves ids as its drain
   first sees them, on the sampling thread). */
#define _GNU_SOURCE
#include "clockstat_cgroup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* include/linux/exportfs.h: kernfs (cgroup2) file handles hold the 64-bit kernfs id. */
#define LS_FILEID_KERNFS 0xfe

long ls_cgroup_path(int mount_fd, const char *mount_point, uint64_t id, char *out, size_t size) {
    struct {
        struct file_handle handle;
        uint64_t id;
    } h;
    h.handle.handle_bytes = sizeof h.id;
    h.handle.handle_type = LS_FILEID_KERNFS;
    h.id = id;
    int fd = open_by_handle_at(mount_fd, &h.handle, O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char full[4096];
    /* readlink reads the descriptor's path; nothing is followed. */
    ssize_t n = readlink(link, full, sizeof full - 1);
    int err = errno;
    close(fd);
    if (n < 0) return -err;
    if ((size_t)n >= sizeof full - 1) return -ENAMETOOLONG;
    full[n] = 0;
    size_t m = strlen(mount_point);
    while (m > 0 && mount_point[m - 1] == '/') m--;   /* "/" and "/x/" alike */
    /* Outside the mount point (another mount namespace's view): not a path lockstat can name. */
    if (strncmp(full, mount_point, m) != 0 || (full[m] != 0 && full[m] != '/')) return -EXDEV;
    const char *rest = full[m] ? full + m : "/";
    size_t len = strlen(rest);
    if (len + 1 > size) return -ENAMETOOLONG;
    memcpy(out, rest, len + 1);
    return (long)len;
}
