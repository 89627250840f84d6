#define _GNU_SOURCE
#include "clockstat.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- clocks ----------------------------------------------------------- */
static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
uint64_t ls_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t ls_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

/* ---- sleeper ----------------------------------------------------------
   clock_nanosleep(TIMER_ABSTIME) is one syscall per tick (a condition variable costs two on
   glibc, and syscalls are dear in these VMs). A stop interrupts the sleep with SIGURG sent to
   the sleeping thread; ls_sleeper_stop is repeated by the caller until the thread has finished,
   which covers a stop that lands between the check and the sleep. */
struct ls_sleeper { volatile int stopped; volatile int has_thread; pthread_t thread; };

static void on_wake(int sig) { (void)sig; }

static void install_wake_handler_once(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_wake; /* no SA_RESTART: the sleep returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, NULL);
}

static void install_wake_handler(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_wake_handler_once);
}

ls_sleeper *ls_sleeper_new(void) {
    install_wake_handler();
    return calloc(1, sizeof(ls_sleeper));
}
void ls_sleeper_free(ls_sleeper *s) { free(s); }

int ls_sleeper_wait_until(ls_sleeper *s, uint64_t deadline_ns) {
    if (!s->has_thread) {
        s->thread = pthread_self();
        __atomic_store_n(&s->has_thread, 1, __ATOMIC_RELEASE);
    }
    struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ull), .tv_nsec = (long)(deadline_ns % 1000000000ull) };
    while (!__atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE)) {
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == 0) break;
    }
    return __atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE);
}
void ls_sleeper_stop(ls_sleeper *s) {
    __atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
    if (__atomic_load_n(&s->has_thread, __ATOMIC_ACQUIRE)) pthread_kill(s->thread, SIGURG);
}
