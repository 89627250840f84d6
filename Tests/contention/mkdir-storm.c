/* The mkdir/rmdir storm: THREADS processes create and remove directories in one directory for
   SECONDS, so they contend on that directory's inode rwsem (i_rwsem, for writing), the lock
   whose holder is another worker. With `private`, each worker works in a directory of its own
   (DIR/wN): the same work without that contention. Prints the operations done (mkdir + rmdir).
   usage: mkdir-storm DIR SECONDS [THREADS [private]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DIR SECONDS [THREADS [private]]\n", argv[0]); return 2; }
    int private = argc > 4 && strcmp(argv[4], "private") == 0;
    double end = now() + atof(argv[2]);
    int workers = argc > 3 ? atoi(argv[3]) : 4;
    if (workers < 1 || workers > 64) workers = 4;
    unsigned long *ops = mmap(NULL, 64 * sizeof *ops, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int w = 0; w < workers; w++) {
        if (fork() == 0) {
            char path[8192], dir[4096];
            unsigned long n = 0;
            snprintf(dir, sizeof dir, private ? "%s/w%d" : "%s", argv[1], w);
            if (private) mkdir(dir, 0755);
            for (unsigned long i = 0; now() < end; i++) {
                snprintf(path, sizeof path, "%s/s%d-%lu", dir, w, i % 64);
                if (mkdir(path, 0755) == 0) n++;
                if (rmdir(path) == 0) n++;
            }
            ops[w] = n;
            _exit(0);
        }
    }
    unsigned long total = 0;
    for (int w = 0; w < workers; w++) wait(NULL);
    for (int w = 0; w < workers; w++) total += ops[w];
    printf("%lu\n", total);
    return 0;
}
