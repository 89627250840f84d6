/* Waits once on each of N distinct futex words (a 1 us timeout each): N aggregation keys, to
   check that the module's bound holds and the waits past it are counted.
   Usage: many_words N */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    uint32_t *words = calloc((size_t)n, sizeof *words);
    if (!words) return 1;
    int timed_out = 0;
    for (int i = 0; i < n; i++) {
        struct timespec timeout = { 0, 1000 };
        if (syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0) != 0) timed_out++;
    }
    printf("waits %d timed_out %d\n", n, timed_out);
    return 0;
}
