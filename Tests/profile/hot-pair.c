/* Two hot functions with the same loop body and trip counts 3:1, so hot_a takes 75 % of the
   pair's CPU time, called in turn from main for `seconds` (argv[1]). No system calls in the
   loop (the clock is read through the vDSO once per round of ~0.5 ms): nothing but the two
   functions runs. Each ends with a call, so it is no leaf function and keeps its frame
   pointer (-fno-omit-frame-pointer): the call chains reach main from inside it. Prints how
   many rounds it ran (the benchmark's measure of work done).
   usage: hot-pair [SECONDS [1:3]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void keep(unsigned long x) { sink = x; }

#define SPIN(n) do { unsigned long x = sink; \
    for (unsigned long i = 0; i < (n); i++) x = x * 6364136223846793005UL + 1442695040888963407UL; \
    keep(x); } while (0)

__attribute__((noinline)) void hot_a(unsigned long n) { SPIN(3 * n); }
__attribute__((noinline)) void hot_b(unsigned long n) { SPIN(n); }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double end = now() + (argc > 1 ? atof(argv[1]) : 3);
    /* "1:3" turns the pair around: hot_a a quarter of the time, hot_b three quarters. */
    int swapped = argc > 2 && argv[2][0] == '1';
    unsigned long rounds = 0;
    for (; now() < end; rounds++) {
        hot_a(swapped ? 33333 : 100000);
        hot_b(swapped ? 300000 : 100000);
    }
    printf("%lu\n", rounds);
    return 0;
}
