/* The futex storm: THREADS threads call FUTEX_WAIT with a wrong expected value on one futex
   word for SECONDS, so every call takes and drops the futex hash-bucket spinlock and returns at
   once (EAGAIN): 30-180 k contentions/s on 2 CPUs (more when a tracer lengthens the holds). Prints
   the calls made (the work done).
   usage: futex-storm SECONDS [THREADS] */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int word = 1;
static double seconds;
static unsigned long calls[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *storm(void *arg) {
    long i = (long)arg;
    double end = now() + seconds;
    while (now() < end) {
        for (int k = 0; k < 1000; k++) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        calls[i] += 1000;
    }
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 3;
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    pthread_t t[64];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, storm, (void *)i);
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) { pthread_join(t[i], NULL); total += calls[i]; }
    printf("%lu\n", total);
    return 0;
}
