/* The rename storm: WORKERS processes rename a file of their own back and forth inside one
   directory for SECONDS, so they contend on that directory's i_rwsem (lock_rename takes it for
   writing); the releaser is do_renameat2 -> unlock_rename -> up_write.
   usage: rename-storm DIR SECONDS [WORKERS] ; prints renames done */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DIR SECONDS [WORKERS]\n", argv[0]); return 2; }
    double end = now() + atof(argv[2]);
    int workers = argc > 3 ? atoi(argv[3]) : 4;
    unsigned long *ops = mmap(NULL, 64 * sizeof *ops, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int w = 0; w < workers && w < 64; w++) {
        if (fork() == 0) {
            char a[4096], b[4096];
            snprintf(a, sizeof a, "%s/r%d-a", argv[1], w);
            snprintf(b, sizeof b, "%s/r%d-b", argv[1], w);
            close(open(a, O_CREAT | O_WRONLY, 0644));
            unsigned long n = 0;
            while (now() < end) {
                if (rename(a, b) == 0) n++;
                if (rename(b, a) == 0) n++;
            }
            unlink(a); unlink(b);
            ops[w] = n;
            _exit(0);
        }
    }
    unsigned long total = 0;
    for (int w = 0; w < workers && w < 64; w++) wait(NULL);
    for (int w = 0; w < workers && w < 64; w++) total += ops[w];
    printf("%lu\n", total);
    return 0;
}
