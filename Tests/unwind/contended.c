/* A contended mutex reached through functions without frame pointers (built -O2
   -fomit-frame-pointer): THREADS threads call lock_and_work, which takes one mutex through
   glibc's pthread_mutex_lock and holds it a few microseconds, so the others sleep in the futex
   system call under __lll_lock_wait. The DWARF unwinder must pass through libc's frames to
   lock_and_work, worker and start_thread; main takes the lock too, so some waits reach main.
   usage: contended SECONDS [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double seconds;
static volatile unsigned long shared;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* The caller the unwinder must find: it locks in one function, in a frame of its own. */
__attribute__((noinline)) void lock_and_work(unsigned long rounds) {
    pthread_mutex_lock(&lock);
    for (unsigned long i = 0; i < rounds; i++) shared = shared * 31 + i;
    pthread_mutex_unlock(&lock);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void *worker(void *arg) {
    double end = now() + seconds;
    while (now() < end)
        for (int k = 0; k < 100; k++) lock_and_work(2000 + (unsigned long)arg);
    __asm__ volatile("" ::: "memory");
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 1;
    int threads = argc > 2 ? atoi(argv[2]) : 3;
    if (threads < 1 || threads > 64) threads = 3;
    pthread_t t[64];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    worker((void *)99);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("%lu\n", shared);
    return 0;
}
