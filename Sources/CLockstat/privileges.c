#define _GNU_SOURCE
#include "clockstat.h"
#include <errno.h>
#include <grp.h>
#include <unistd.h>

int ls_become(uid_t uid, gid_t gid) {
    if (setgroups(0, NULL) != 0) return -errno;
    if (setresgid(gid, gid, gid) != 0) return -errno;
    if (setresuid(uid, uid, uid) != 0) return -errno;
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) return -EPERM;
    if (getresgid(&gr, &ge, &gs) != 0 || gr != gid || ge != gid || gs != gid) return -EPERM;
    return 0;
}
