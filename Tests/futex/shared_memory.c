/* Process-shared pthread mutexes in shared memory, as PostgreSQL places its locks: one in a
 * MAP_SHARED|MAP_ANONYMOUS mapping (listed as `/dev/zero (deleted)`), one in a memfd's
 * (`/memfd:lockstat_shm (deleted)`), each 64 bytes into its mapping. PROCS processes (the
 * parent and its children) take each ROUNDS times (argv[1], default 40) and hold it HOLD_US, so the others sleep on it.
 * Prints `anon ADDRESS memfd ADDRESS` and exits 0 when every process finished. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PROCS = 3, HOLD_US = 1000, OFFSET = 64 };
static int rounds = 40;

static pthread_mutex_t *shared_mutex(void *region) {
    pthread_mutex_t *m = (pthread_mutex_t *)((char *)region + OFFSET);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (pthread_mutex_init(m, &a) != 0) exit(3);
    return m;
}

__attribute__((noinline)) void lock_shared(pthread_mutex_t *m) {
    pthread_mutex_lock(m);
    usleep(HOLD_US);
    pthread_mutex_unlock(m);
}

static void work(pthread_mutex_t *anon, pthread_mutex_t *memfd) {
    for (int i = 0; i < rounds; i++) {
        lock_shared(anon);
        lock_shared(memfd);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atoi(argv[1]);
    void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd = memfd_create("lockstat_shm", 0);
    if (anon == MAP_FAILED || fd < 0 || ftruncate(fd, 4096) != 0) return 2;
    void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) return 2;
    pthread_mutex_t *a = shared_mutex(anon), *b = shared_mutex(mem);
    printf("anon %p memfd %p\n", (void *)a, (void *)b);
    fflush(stdout);
    for (int p = 1; p < PROCS; p++) {
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            work(a, b);
            _exit(0);
        }
    }
    work(a, b);
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}
