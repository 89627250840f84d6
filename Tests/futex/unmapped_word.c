/* A lock word in an anonymous mmap'd region, unmapped before the program ends: WORKERS threads
   contend for a mutex placed at offset 0x100 of a fresh 64 KiB mapping for SECONDS, then the
   region is munmap'd and the program lives on another 0.6 s (lockstat reads its maps after the
   words are gone, or before). Prints "region 0x... lock 0x... heavy_ns N" (the threads' own
   time inside pthread_mutex_lock). Usage: unmapped_word SECONDS [WORKERS] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t *lock;
static volatile int stop;
static volatile unsigned long sink;
static unsigned long long waited[64];

static unsigned long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void *worker(void *arg) {
    long i = (long)arg;
    while (!stop) {
        unsigned long long t0 = now_ns();
        pthread_mutex_lock(lock);
        waited[i] += now_ns() - t0;
        unsigned long long end = now_ns() + 30000;
        while (now_ns() < end) sink++;
        pthread_mutex_unlock(lock);
        end = now_ns() + 5000;
        while (now_ns() < end) sink++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1;
    int workers = argc > 2 ? atoi(argv[2]) : 4;
    if (workers < 1 || workers > 64) return 2;
    char *region = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 1;
    lock = (pthread_mutex_t *)(region + 0x100);
    pthread_mutex_init(lock, NULL);
    pthread_t threads[64];
    for (long i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    usleep((useconds_t)(seconds * 1e6));
    stop = 1;
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    munmap(region, 65536);
    usleep(600000);
    unsigned long long total = 0;
    for (int i = 0; i < workers; i++) total += waited[i];
    printf("region %p lock %p heavy_ns %llu\n", (void *)region, (void *)lock, total);
    return 0;
}
