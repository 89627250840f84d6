#ifndef CLOCKSTAT_CGROUP_H
#define CLOCKSTAT_CGROUP_H
#include <stddef.h>
#include <stdint.h>

/* A cgroup v2 id (bpf_get_current_cgroup_id: the kernfs id, its directory's inode number) to its
   path, through the v2 mount open as `mount_fd`: the directory is opened by its file handle
   (FILEID_KERNFS, no walk, no symlink followed) and the path of that descriptor read back.
   Writes the path below `mount_point` ("/" for the root, "/a/b"), NUL-terminated, into `out`;
   returns its length, or -errno (-ESTALE: no such cgroup now, -ENAMETOOLONG: `size` too small). */
long ls_cgroup_path(int mount_fd, const char *mount_point, uint64_t id, char *out, size_t size);
#endif
