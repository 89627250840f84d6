/* The minimal reference sampler the benchmark measures lockstat against: the same files at the
   same rate on absolute CLOCK_MONOTONIC deadlines, pread into a buffer, one append per file.
   No framing, no checksum, one thread.

   usage: lockstat-refsampler RATE_HZ SECONDS OUTPUT FILE...
   prints: samples=N missed=M cpu_us_per_sample=X late_p50_us=A late_p99_us=B */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s RATE_HZ SECONDS OUTPUT FILE...\n", argv[0]);
        return 2;
    }
    double rate = atof(argv[1]), seconds = atof(argv[2]);
    int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    int nfiles = argc - 4;
    int fds[16];
    if (out < 0 || nfiles > 16) { perror("open"); return 1; }
    for (int i = 0; i < nfiles; i++) {
        fds[i] = open(argv[4 + i], O_RDONLY);
        if (fds[i] < 0) { perror(argv[4 + i]); return 1; }
    }
    uint64_t interval = (uint64_t)(1e9 / rate);
    uint64_t ticks = (uint64_t)(seconds * rate);
    uint64_t *late = calloc(ticks + 1, sizeof *late);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    uint64_t taken = 0, missed = 0;
    uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    for (uint64_t tick = 0; tick < ticks; tick++) {
        uint64_t due = start + tick * interval;
        struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull) };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        uint64_t latest = (now - start) / interval;
        if (latest > tick) { missed += latest - tick; tick = latest; if (tick >= ticks) break; }
        late[taken++] = now - (start + tick * interval);
        for (int i = 0; i < nfiles; i++) {
            size_t len = 0;
            ssize_t n;
            while ((n = pread(fds[i], buf + len, cap - len, (off_t)len)) > 0) len += (size_t)n;
            if (write(out, buf, len) < 0) { perror("write"); return 1; }
        }
    }
    uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    qsort(late, taken, sizeof *late, cmp_u64);
    printf("samples=%llu missed=%llu cpu_us_per_sample=%.3f late_p50_us=%.1f late_p99_us=%.1f\n",
           (unsigned long long)taken, (unsigned long long)missed, taken ? cpu / 1e3 / taken : 0.0,
           taken ? late[taken / 2] / 1e3 : 0.0, taken ? late[(taken * 99) / 100] / 1e3 : 0.0);
    return 0;
}
