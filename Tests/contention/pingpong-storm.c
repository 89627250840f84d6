/* The wake storm: PAIRS pairs of threads pass a byte back and forth over two pipes for SECONDS,
   each pass a wakeup of a thread that sleeps, often on the other CPU: try_to_wake_up takes that
   CPU's runqueue lock, which the scheduler there holds too (rq_lock contention). Prints the
   passes. usage: pingpong-storm SECONDS [PAIRS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double end;
static unsigned long passes[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct side { int in, out, serve; unsigned long *count; };

static void *player(void *arg) {
    struct side *s = arg;
    char b = 0;
    if (s->serve && write(s->out, &b, 1) != 1) return NULL;
    while (read(s->in, &b, 1) == 1) {
        (*s->count)++;
        if (now() > end) b = 1;   /* the ball carries the stop to the other side */
        if (write(s->out, &b, 1) != 1 || b) break;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s SECONDS [PAIRS]\n", argv[0]); return 2; }
    end = now() + atof(argv[1]);
    int pairs = argc > 2 ? atoi(argv[2]) : 4;
    if (pairs < 1 || pairs > 32) pairs = 4;
    pthread_t threads[64];
    struct side sides[64];
    for (int p = 0; p < pairs; p++) {
        int ab[2], ba[2];
        if (pipe(ab) || pipe(ba)) { perror("pipe"); return 1; }
        sides[2 * p] = (struct side){ ba[0], ab[1], 1, &passes[2 * p] };
        sides[2 * p + 1] = (struct side){ ab[0], ba[1], 0, &passes[2 * p + 1] };
    }
    for (int t = 0; t < 2 * pairs; t++) pthread_create(&threads[t], NULL, player, &sides[t]);
    unsigned long total = 0;
    for (int t = 0; t < 2 * pairs; t++) {
        pthread_join(threads[t], NULL);
        total += passes[t];
    }
    printf("%lu\n", total);
    return 0;
}
