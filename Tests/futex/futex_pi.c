/* A priority-inheritance mutex (PTHREAD_PRIO_INHERIT) heavily contended by WORKERS threads: its
   waiters sleep in FUTEX_LOCK_PI and the holder wakes one in FUTEX_UNLOCK_PI; the futex word
   holds the owner's tid. pi_lock is locked in lock_pi() and unlocked in unlock_pi(), held about
   30 us by every worker in turn.
   Usage: futex_pi SECONDS [WORKERS]. Output lines:
     worker TID
     pi_ops N   (the times pi_lock was taken) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

pthread_mutex_t pi_lock;
static volatile int stop;
static unsigned long pi_ops;
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

__attribute__((noinline)) void lock_pi(void) {
    pthread_mutex_lock(&pi_lock);
    __asm__ volatile("" ::: "memory");
}

/* The empty asm after the call keeps it a call (not a tail jump), so unlock_pi is on the waker's stack. */
__attribute__((noinline)) void unlock_pi(void) {
    pthread_mutex_unlock(&pi_lock);
    __asm__ volatile("" ::: "memory");
}

static void *worker(void *arg) {
    (void)arg;
    printf("worker %ld\n", (long)syscall(SYS_gettid));
    while (!stop) {
        lock_pi();
        pi_ops++;
        spin_ns(30000);
        unlock_pi();
        spin_ns(5000);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int seconds = argc > 1 ? atoi(argv[1]) : 2;
    int workers = argc > 2 ? atoi(argv[2]) : 4;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT) != 0 || pthread_mutex_init(&pi_lock, &attr) != 0) {
        fprintf(stderr, "futex_pi: no priority-inheritance mutex\n");
        return 1;
    }
    pthread_t t[64];
    if (workers < 1 || workers > 64) workers = 4;
    for (int i = 0; i < workers; i++) pthread_create(&t[i], NULL, worker, NULL);
    struct timespec d = {seconds, 0};
    nanosleep(&d, NULL);
    stop = 1;
    for (int i = 0; i < workers; i++) pthread_join(t[i], NULL);
    fflush(stdout);
    printf("pi_ops %lu\n", pi_ops);
    return 0;
}
