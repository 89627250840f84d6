/* Lock contention on many distinct locks: THREADS threads visit directories DIR/0 ... DIR/N-1
 * together, one every SLICE ms by the clock, each doing mkdir/rmdir of its own entry there, so
 * they contend on each directory's i_rwsem in turn: N distinct locks, one caller.
 * usage: many-locks DIR N SLICE_MS THREADS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *base;
static int count, slice_ms;
static struct timespec start;

static double elapsed_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6;
}

static void *worker(void *arg) {
    long id = (long)arg;
    char path[4096];
    for (int d = 0; d < count; d++) {
        snprintf(path, sizeof path, "%s/%d/w%ld", base, d, id);
        while (elapsed_ms() < (double)(d + 1) * slice_ms) {
            mkdir(path, 0700);
            rmdir(path);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s DIR N SLICE_MS THREADS\n", argv[0]); return 2; }
    base = argv[1];
    count = atoi(argv[2]);
    slice_ms = atoi(argv[3]);
    int threads = atoi(argv[4]);
    char path[4096];
    for (int d = 0; d < count; d++) {
        snprintf(path, sizeof path, "%s/%d", base, d);
        mkdir(path, 0700);
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_t t[64];
    for (long i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (long i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
    for (int d = 0; d < count; d++) {
        snprintf(path, sizeof path, "%s/%d", base, d);
        rmdir(path);
    }
    return 0;
}
