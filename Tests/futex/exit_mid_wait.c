/* A program that exits while its threads wait: main holds held_lock, starts WAITERS threads that
   block on it in the kernel (futex wait), waits until each is asleep there (its /proc state is
   in system call 202, futex), then calls _exit(0): the waiters are killed
   mid-wait. Usage: exit_mid_wait [WAITERS]. Prints "asleep N lock 0x..." (held_lock's address)
   before it exits. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile pid_t tids[64];

__attribute__((noinline)) static void wait_for_held(void) {
    pthread_mutex_lock(&held_lock);
    pthread_mutex_unlock(&held_lock);
}

static void *waiter(void *arg) {
    tids[(long)arg] = (pid_t)syscall(SYS_gettid);
    wait_for_held();
    return NULL;
}

/* Whether the task sleeps in a futex wait: state S and its syscall (/proc/.../syscall) futex (202). */
static int asleep_in_futex(pid_t tid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int nr = -1;
    if (fgets(buf, sizeof buf, f)) nr = atoi(buf);
    fclose(f);
    return nr == 202;
}

int main(int argc, char **argv) {
    int waiters = argc > 1 ? atoi(argv[1]) : 3;
    if (waiters < 1 || waiters > 64) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_mutex_lock(&held_lock);
    pthread_t t;
    for (long i = 0; i < waiters; i++) pthread_create(&t, NULL, waiter, (void *)i);
    for (int tries = 0; tries < 10000; tries++) {
        int asleep = 0;
        for (int i = 0; i < waiters; i++) asleep += tids[i] && asleep_in_futex(tids[i]);
        if (asleep == waiters) {
            /* Long enough asleep for lockstat to have drained the waits' starts once. */
            usleep(700000);
            printf("asleep %d lock %p\n", asleep, (void *)&held_lock);
            _exit(0);
        }
        usleep(1000);
    }
    printf("asleep 0\n");
    return 1;
}
