/* Threads of one process mapping and unmapping a page for SECONDS: each mmap and munmap takes
   the process's mmap_lock for writing, so they contend on &mm->mmap_lock (an rwsem).
   usage: mmap-storm SECONDS [THREADS] */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double seconds;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *storm(void *arg) {
    (void)arg;
    double end = now() + seconds;
    while (now() < end) {
        for (int k = 0; k < 100; k++) {
            char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) { p[0] = 1; munmap(p, 4096); }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 2;
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    pthread_t t[64];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, storm, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
