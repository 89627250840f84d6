/* A periodic job: busy for `busy_ms` (argv[3]) at the start of every `period_ns` (argv[2]) of
   CLOCK_MONOTONIC (absolute deadlines), for `seconds` (argv[1]). With the period of a 99 Hz
   profiler (10101010 ns) it runs in lockstep with a fixed-period sampler. Prints its own CPU
   share (CLOCK_THREAD_CPUTIME_ID ÷ elapsed), the truth a profile is checked against. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

volatile unsigned long sink;

__attribute__((noinline)) void periodic_work(long long until) {
    while (now(CLOCK_MONOTONIC) < until) sink++;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    double seconds = atof(argv[1]);
    long long period = atoll(argv[2]), busy = (long long)(atof(argv[3]) * 1e6);
    long long start = now(CLOCK_MONOTONIC), cpu = now(CLOCK_THREAD_CPUTIME_ID);
    for (long long next = (start / period + 1) * period; next < start + seconds * 1e9; next += period) {
        struct timespec t = { next / 1000000000LL, next % 1000000000LL };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        periodic_work(next + busy);
    }
    printf("%.3f\n", 100.0 * (now(CLOCK_THREAD_CPUTIME_ID) - cpu) / (now(CLOCK_MONOTONIC) - start));
    return 0;
}
