/* A mkdir/rmdir storm whose release sites are known: THREADS threads of one process create and
   remove directories in DIR for SECONDS, contending on DIR's inode rwsem. Each creation is made
   by create_entry (through make_dir) and each removal by remove_entry (through remove_dir), none
   inlined, built with frame pointers: a waker's user stack names them. Prints the operations.
   usage: release-sites DIR SECONDS [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static double end;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* The system call's wrapper keeps no frame pointer: the frame walk names the caller's caller. */
__attribute__((noinline)) static int make_dir(const char *path) { return mkdir(path, 0755); }
__attribute__((noinline)) static int remove_dir(const char *path) { return rmdir(path); }
__attribute__((noinline)) int create_entry(const char *path) { return make_dir(path) == 0; }
__attribute__((noinline)) int remove_entry(const char *path) { return remove_dir(path) == 0; }

static void *worker(void *arg) {
    long w = (long)arg, n = 0;
    char path[4200];
    for (unsigned long i = 0; now() < end; i++) {
        snprintf(path, sizeof path, "%s/s%ld-%lu", dir, w, i % 64);
        n += create_entry(path);
        n += remove_entry(path);
    }
    return (void *)n;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DIR SECONDS [THREADS]\n", argv[0]); return 2; }
    dir = argv[1];
    end = now() + atof(argv[2]);
    long threads = argc > 3 ? atol(argv[3]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    pthread_t t[64];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    long total = 0;
    for (long i = 0; i < threads; i++) {
        void *n;
        pthread_join(t[i], &n);
        total += (long)n;
    }
    printf("%ld\n", total);
    return 0;
}
