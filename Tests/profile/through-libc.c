/* A hot function reached only through the C library: main → sort_round → qsort (glibc, built
   without frame pointers) → compare_keys, for `seconds` (argv[1]). Built -O2 without frame
   pointers, a frame-pointer walk from compare_keys cannot get back to main; DWARF call-frame
   information can. Prints the rounds it ran.
   usage: through-libc [SECONDS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define KEYS 4096
static unsigned long keys[KEYS];
volatile unsigned long sink;

/* Some work per comparison, so that the comparisons are most of the program's time. */
static int compare_keys(const void *a, const void *b) {
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    for (int i = 0; i < 16; i++) {
        x = x * 6364136223846793005UL + 1;
        y = y * 6364136223846793005UL + 1;
    }
    return x < y ? -1 : x > y;
}

__attribute__((noinline)) void sort_round(unsigned long seed) {
    for (int i = 0; i < KEYS; i++) keys[i] = seed = seed * 2862933555777941757UL + 3037000493UL;
    qsort(keys, KEYS, sizeof keys[0], compare_keys);
    sink = keys[0];   /* no tail call: sort_round stays on the stack */
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double end = now() + (argc > 1 ? atof(argv[1]) : 3);
    unsigned long rounds = 0;
    for (; now() < end; rounds++) sort_round(rounds);
    printf("%lu\n", rounds);
    return 0;
}
