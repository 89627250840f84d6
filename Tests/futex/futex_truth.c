/* A pthread program whose lock waits are known: each worker measures its own time inside
   pthread_mutex_lock (clock_gettime around the call) and prints it, per lock, at exit.
   - heavy_lock: locked in lock_heavy(), unlocked in unlock_heavy(), held about 30 us by every
     worker in turn: heavily contended;
   - light_lock: taken by two other threads, held (asleep) about 100 us, then a 100 us sleep: less contended;
   - a condition variable one thread waits on, signalled by the main thread every 20 ms.
   Usage: futex_truth SECONDS [WORKERS]. Output lines:
     worker TID heavy_ns N light_ns M
     condvar TID waits N
     addresses heavy 0x... light 0x... cond 0x...
     heavy_ops N   (the times heavy_lock was taken: the program's throughput) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

pthread_mutex_t heavy_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t light_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cond_ready = PTHREAD_COND_INITIALIZER;
static volatile int stop, cond_generation;
static unsigned long heavy_ops;
static volatile unsigned long sink;

static unsigned long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void spin_ns(unsigned long long ns) {
    unsigned long long end = now_ns() + ns;
    while (now_ns() < end) sink++;
}

__attribute__((noinline)) unsigned long long lock_heavy(void) {
    unsigned long long t0 = now_ns();
    pthread_mutex_lock(&heavy_lock);
    return now_ns() - t0;
}

/* The empty asm after the call keeps it a call (not a tail jump), so unlock_heavy is on the waker's stack. */
__attribute__((noinline)) void unlock_heavy(void) {
    pthread_mutex_unlock(&heavy_lock);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) unsigned long long lock_light(void) {
    unsigned long long t0 = now_ns();
    pthread_mutex_lock(&light_lock);
    unsigned long long waited = now_ns() - t0;
    usleep(100);
    pthread_mutex_unlock(&light_lock);
    return waited;
}

static void *worker(void *arg) {
    (void)arg;
    unsigned long long heavy = 0;
    while (!stop) {
        heavy += lock_heavy();
        heavy_ops++;
        spin_ns(30000);
        unlock_heavy();
        spin_ns(5000);
    }
    printf("worker %ld heavy_ns %llu light_ns 0\n", (long)syscall(SYS_gettid), heavy);
    return NULL;
}

__attribute__((noinline)) void wait_for_signal(int *seen) {
    pthread_mutex_lock(&cond_lock);
    while (cond_generation == *seen && !stop) pthread_cond_wait(&cond_ready, &cond_lock);
    *seen = cond_generation;
    pthread_mutex_unlock(&cond_lock);
}

static void *light_worker(void *arg) {
    (void)arg;
    unsigned long long light = 0;
    while (!stop) {
        light += lock_light();
        /* Sleeping, not spinning, while holding and between takes: on a 2-CPU machine busy
           threads preempt a woken waiter inside pthread_mutex_lock but outside the futex wait,
           time the kernel cannot count as the lock's (the program's own measure would). */
        usleep(100);
    }
    printf("worker %ld heavy_ns 0 light_ns %llu\n", (long)syscall(SYS_gettid), light);
    return NULL;
}

static void *condvar_waiter(void *arg) {
    (void)arg;
    int seen = 0, waits = 0;
    while (!stop) {
        wait_for_signal(&seen);
        waits++;
    }
    printf("condvar %ld waits %d\n", (long)syscall(SYS_gettid), waits);
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    int workers = argc > 2 ? atoi(argv[2]) : 4;
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t threads[64], light[2], waiter;
    if (workers < 1 || workers > 64) return 2;
    for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++) pthread_create(&light[i], NULL, light_worker, NULL);
    pthread_create(&waiter, NULL, condvar_waiter, NULL);
    unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
    while (now_ns() < end) {
        usleep(20000);
        pthread_mutex_lock(&cond_lock);
        cond_generation++;
        pthread_cond_signal(&cond_ready);
        pthread_mutex_unlock(&cond_lock);
    }
    stop = 1;
    pthread_mutex_lock(&cond_lock);
    cond_generation++;
    pthread_cond_broadcast(&cond_ready);
    pthread_mutex_unlock(&cond_lock);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) pthread_join(light[i], NULL);
    pthread_join(waiter, NULL);
    printf("addresses heavy %p light %p cond %p\n", (void *)&heavy_lock, (void *)&light_lock, (void *)&cond_ready);
    printf("heavy_ops %lu\n", heavy_ops);
    return 0;
}
