/* A lock-heavy workload for the lock_stat end-to-end test: parallel mkdir/rmdir in one
   directory (the directory's i_rwsem, dentry locks), a fork storm (tasklist_lock, mm locks)
   and pipe ping-pong (pipe mutex, wait queues), for about SECONDS seconds.
   usage: lock-workload DIR SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s DIR SECONDS\n", argv[0]); return 2; }
    double end = now() + atof(argv[2]);
    for (int w = 0; w < 4; w++) {
        if (fork() == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/d%d", argv[1], w);
            long n = 0;
            while (now() < end) { mkdir(path, 0755); rmdir(path); n++; }
            printf("mkdir/rmdir worker %d: %ld rounds\n", w, n);
            return 0;
        }
    }
    if (fork() == 0) {
        long n = 0;
        while (now() < end) { pid_t p = fork(); if (p == 0) _exit(0); waitpid(p, NULL, 0); n++; }
        printf("fork storm: %ld forks\n", n);
        return 0;
    }
    int ab[2], ba[2];
    if (pipe(ab) || pipe(ba)) return 1;
    if (fork() == 0) {
        char c;
        close(ab[1]);   /* else this end keeps our own read from ever seeing EOF */
        close(ba[0]);
        while (read(ab[0], &c, 1) == 1) write(ba[1], &c, 1);
        return 0;
    }
    long n = 0;
    char c = 'x';
    while (now() < end) { write(ab[1], &c, 1); read(ba[0], &c, 1); n++; }
    close(ab[1]);
    printf("pipe ping-pong: %ld round trips\n", n);
    while (wait(NULL) > 0) {}
    return 0;
}
