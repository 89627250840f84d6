#define _GNU_SOURCE
#include "clockstat.h"
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

/* ---- unlinked scratch files ------------------------------------------ */
int ls_open_unlinked(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/lockstat-spill.XXXXXX", dir) >= (int)sizeof path) { errno = ENAMETOOLONG; return -1; }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

/* ---- CRC-32C ---------------------------------------------------------- */
static uint32_t crc_table[8][256];
static int crc_ready, crc_hw;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
    crc_ready = 1;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw_run(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    while (n >= 8) { uint64_t v; memcpy(&v, p, 8); c64 = __builtin_ia32_crc32di(c64, v); p += 8; n -= 8; }
    c = (uint32_t)c64;
    while (n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t ls_crc32c(uint32_t crc, const void *data, size_t len) {
    if (!crc_ready) crc_init();
    const unsigned char *p = data;
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw) return ~crc_hw_run(c, p, len);
#endif
    while (len >= 8) {
        uint32_t lo, hi; memcpy(&lo, p, 4); memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8; len -= 8;
    }
    while (len--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

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

/* ---- supervisor -------------------------------------------------------
   A process forked before anything is changed holds the read end of a pipe; every restore
   registered or cancelled, and every helper process lockstat wants gone with it, is mirrored
   to it as one message (one write of less than PIPE_BUF: atomic). When the pipe reaches EOF,
   lockstat has ended somehow (kill -9 included): it kills the helpers still registered, puts
   back the restores still registered, and exits. A normal exit has cancelled everything. */
enum { MSG_RESTORE = 'R', MSG_CANCEL = 'C', MSG_PID = 'P', MSG_UNPID = 'U' };
struct supervisor_message { char op; pid_t pid; char path[256]; char value[64]; };
static volatile int supervisor_fd = -1;
#define SUPERVISED_PIDS 64
static pid_t supervised[SUPERVISED_PIDS];

static void supervisor_send(char op, pid_t pid, const char *path, const char *value) {
    int fd = supervisor_fd;
    if (fd < 0) return;
    struct supervisor_message m;
    memset(&m, 0, sizeof m);
    m.op = op;
    m.pid = pid;
    if (path) strncpy(m.path, path, sizeof m.path - 1);
    if (value) strncpy(m.value, value, sizeof m.value - 1);
    ssize_t w;
    do { w = write(fd, &m, sizeof m); } while (w < 0 && errno == EINTR);
}

/* ---- restores --------------------------------------------------------- */
#define RESTORES 8
static struct { char path[256]; char value[64]; volatile sig_atomic_t used; } restores[RESTORES];

int ls_restore_register(const char *path, const char *value) {
    for (int i = 0; i < RESTORES; i++) {
        if (restores[i].used) continue;
        if (strlen(path) >= sizeof restores[i].path || strlen(value) >= sizeof restores[i].value) return -1;
        strcpy(restores[i].path, path);
        strcpy(restores[i].value, value);
        restores[i].used = 1;
        supervisor_send(MSG_RESTORE, 0, path, value);
        return 0;
    }
    return -1;
}

static void forget_restore(const char *path) {
    for (int i = 0; i < RESTORES; i++)
        if (restores[i].used && strcmp(restores[i].path, path) == 0) restores[i].used = 0;
}

void ls_restore_cancel(const char *path) {
    forget_restore(path);
    supervisor_send(MSG_CANCEL, 0, path, NULL);
}

static void write_restores(void) {
    for (int i = 0; i < RESTORES; i++) {
        if (!restores[i].used) continue;
        int fd = open(restores[i].path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t ignored = write(fd, restores[i].value, strlen(restores[i].value));
            (void)ignored;
            close(fd);
        }
        restores[i].used = 0;
    }
}

void ls_restore_run(void) {
    for (int i = 0; i < RESTORES; i++)
        if (restores[i].used) supervisor_send(MSG_CANCEL, 0, restores[i].path, NULL);
    write_restores();
}

void ls_supervise(pid_t pid) { supervisor_send(MSG_PID, pid, NULL, NULL); }
void ls_unsupervise(pid_t pid) { supervisor_send(MSG_UNPID, pid, NULL, NULL); }

static void supervisor_main(void) {
    if (chdir("/") != 0) {}   /* never holds the test directory (or its file system) */
    for (;;) {
        struct supervisor_message m;
        ssize_t n = read(0, &m, sizeof m);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof m) break;   /* EOF: lockstat is gone */
        m.path[sizeof m.path - 1] = 0;
        m.value[sizeof m.value - 1] = 0;
        switch (m.op) {
        case MSG_RESTORE:
            for (int i = 0; i < RESTORES; i++) {
                if (restores[i].used) continue;
                strcpy(restores[i].path, m.path);
                strcpy(restores[i].value, m.value);
                restores[i].used = 1;
                break;
            }
            break;
        case MSG_CANCEL: forget_restore(m.path); break;
        case MSG_PID:
            for (int i = 0; i < SUPERVISED_PIDS; i++) if (supervised[i] == 0) { supervised[i] = m.pid; break; }
            break;
        case MSG_UNPID:
            for (int i = 0; i < SUPERVISED_PIDS; i++) if (supervised[i] == m.pid) supervised[i] = 0;
            break;
        }
    }
    /* The helpers first, so none changes anything after the restores. */
    for (int i = 0; i < SUPERVISED_PIDS; i++) if (supervised[i] > 0) kill(supervised[i], SIGKILL);
    write_restores();
    _exit(0);
}

int ls_supervisor_start(void) {
    if (supervisor_fd >= 0) return 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        /* Signals to the terminal's process group (Ctrl-C, a hangup) or any other must not end it
           before lockstat has; only the pipe's EOF does. */
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        for (int sig = 1; sig < NSIG; sig++) if (sig != SIGCHLD) sigaction(sig, &ign, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The restores registered so far are inherited; the pids start empty. */
        memset(supervised, 0, sizeof supervised);
        dup2(fds[0], 0);
        syscall(SYS_close_range, 1, ~0U, 0);
        supervisor_main();
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(fds[0]);
    if (pid < 0) { close(fds[1]); return -fork_errno; }
    supervisor_fd = fds[1];
    return 0;
}

/* ---- signals ----------------------------------------------------------
   Terminating signals that end a run as SIGTERM does (forwarded to the program, which is then
   continued in case it had stopped itself); SIGPIPE and SIGXFSZ only make the write fail. */
static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t sigints;
static volatile sig_atomic_t first_signal;
static volatile sig_atomic_t stop_signals;
static const int stopping[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
                                SIGXCPU, SIGSTKFLT, SIGPWR };

/* A crash of lockstat itself still restores what it changed, then dies of the same signal. */
static void on_fatal(int sig) {
    ls_restore_run();
    signal(sig, SIG_DFL);
    raise(sig);
}

int ls_signals_first(void) { return first_signal; }
int ls_signals_count(void) { return stop_signals; }

static void on_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    if (!first_signal) first_signal = sig;
    stop_signals++;
    if (sig == SIGINT && ++sigints >= 2) {
        if (child_pid > 0) kill(child_pid, SIGKILL);
        ls_restore_run();
        _exit(130);
    }
    if (child_pid <= 0) return;
    /* SI_KERNEL for these three: the terminal signalled the whole foreground group, child included. */
    int from_terminal = info->si_code == SI_KERNEL && (sig == SIGINT || sig == SIGQUIT || sig == SIGHUP);
    if (!from_terminal) kill(child_pid, sig);
    /* A program that stopped itself would never see it. */
    kill(child_pid, SIGCONT);
}

static void on_failed_write(int sig) { (void)sig; }

void ls_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (unsigned i = 0; i < sizeof stopping / sizeof stopping[0]; i++) sigaction(stopping[i], &sa, NULL);
    /* Caught rather than ignored: exec puts them back to their defaults for the program. */
    struct sigaction quiet;
    memset(&quiet, 0, sizeof quiet);
    quiet.sa_handler = on_failed_write;
    quiet.sa_flags = SA_RESTART;
    sigemptyset(&quiet.sa_mask);
    sigaction(SIGPIPE, &quiet, NULL);
    sigaction(SIGXFSZ, &quiet, NULL);
    int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGSYS };
    for (unsigned i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], on_fatal);
}
void ls_signals_set_child(pid_t child) { child_pid = child; }

int ls_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -1; }

/* ---- spawn ------------------------------------------------------------ */
/* Every signal back to its default disposition and unblocked: the child starts clean, whatever
   lockstat installed. Only async-signal-safe calls between fork and exec. */
static void reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t ls_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
               ls_spawned *spawned) {
    /* The child waits on `go` before it execs, so lockstat can register it (the BPF mode's
       process tree) before it can fork; the exec's errno comes back through `report` (close-on-
       exec: nothing read means it ran). */
    int go[2], report[2];
    if (pipe2(go, O_CLOEXEC) != 0) return -errno;
    if (pipe2(report, O_CLOEXEC) != 0) { int e = errno; close(go[0]); close(go[1]); return -e; }
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* no lockstat handler runs in the child */
    pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        /* kill -9 of lockstat must not leave the program running: the kernel sends SIGKILL when
           the thread that forked it (lockstat's main thread, alive for the whole run) dies. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        if (in_fd >= 0) dup2(in_fd, 0);
        if (out_fd >= 0) dup2(out_fd, 1);
        if (err_fd >= 0) dup2(err_fd, 2);
        /* The program gets stdin, stdout and stderr, nothing else of lockstat's (or of whoever
           started lockstat: a descriptor a supervisor waits on must not outlive lockstat). */
        /* Above 4 first, so neither lands on the other's target. Out of descriptors is told to
           lockstat like a failed exec, never a silent exit. */
        int high_go = fcntl(go[0], F_DUPFD_CLOEXEC, 5), high_report = fcntl(report[1], F_DUPFD_CLOEXEC, 5);
        if (high_go < 0 || high_report < 0) {
            int err = errno;
            ssize_t ignored = write(report[1], &err, sizeof err);
            (void)ignored;
            _exit(127);
        }
        dup3(high_go, 3, O_CLOEXEC);
        dup3(high_report, 4, O_CLOEXEC);
        syscall(SYS_close_range, 5, ~0U, 0);
        char byte;
        ssize_t r;
        do { r = read(3, &byte, 1); } while (r < 0 && errno == EINTR);
        if (r != 1) _exit(127);   /* lockstat gave up on it */
        execve(path, argv, envp);
        int err = errno;
        ssize_t ignored = write(4, &err, sizeof err);
        (void)ignored;
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(go[0]);
    close(report[1]);
    if (pid < 0) { close(go[1]); close(report[0]); return -fork_errno; }
    spawned->pid = pid;
    spawned->go = go[1];
    spawned->report = report[0];
    return pid;
}

int ls_spawn_start(ls_spawned *spawned) {
    char byte = 1;
    ssize_t w;
    do { w = write(spawned->go, &byte, 1); } while (w < 0 && errno == EINTR);
    close(spawned->go);
    int err = 0;
    ssize_t n;
    do { n = read(spawned->report, &err, sizeof err); } while (n < 0 && errno == EINTR);
    close(spawned->report);
    if (n == (ssize_t)sizeof err) {
        int status;
        while (waitpid(spawned->pid, &status, 0) < 0 && errno == EINTR) {}
        return -err;
    }
    return 0;
}

pid_t ls_spawn_copier(int in_fd, int file_fd, int tty_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid < 0 ? -errno : pid;
    /* A process of its own, so a daemon the program left behind can write after lockstat has
       returned: it drains the pipe until the last writer closes it. Ctrl-C and a terminal that
       went away do not end it; the file still gets everything. */
    reset_signals();
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    dup3(in_fd, 100, 0); dup3(file_fd, 101, 0); dup3(tty_fd, 102, 0);
    for (int fd = 0; fd < 100; fd++) if (fd != 2) close(fd);
    syscall(SYS_close_range, 103, ~0U, 0);
    char buffer[65536];
    int tty_ok = 1;
    for (;;) {
        ssize_t n = read(100, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (int target = 101; target <= 102; target++) {
            if (target == 102 && !tty_ok) continue;
            ssize_t done = 0;
            while (done < n) {
                ssize_t w = write(target, buffer + done, (size_t)(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) { if (target == 102) tty_ok = 0; break; }
                done += w;
            }
        }
    }
    _exit(0);
}

int ls_become(uid_t uid, gid_t gid) {
    if (setgroups(0, NULL) != 0) return -errno;
    if (setresgid(gid, gid, gid) != 0) return -errno;
    if (setresuid(uid, uid, uid) != 0) return -errno;
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) return -EPERM;
    if (getresgid(&gr, &ge, &gs) != 0 || gr != gid || ge != gid || gs != gid) return -EPERM;
    return 0;
}

int ls_wait(pid_t pid) {
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, 0);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -errno;
    }
}
int ls_wifexited(int s) { return WIFEXITED(s); }
int ls_wexitstatus(int s) { return WEXITSTATUS(s); }
int ls_wifsignaled(int s) { return WIFSIGNALED(s); }
int ls_wtermsig(int s) { return WTERMSIG(s); }

/* ---- zstd ------------------------------------------------------------- */
struct ls_zstd { ZSTD_CCtx *c; ZSTD_DCtx *d; };

ls_zstd *ls_zstd_new(void) {
    ls_zstd *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->c = ZSTD_createCCtx();
    z->d = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax, 27);
    return z;
}

void ls_zstd_free(ls_zstd *z) {
    if (!z) return;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

size_t ls_zstd_bound(size_t len) { return ZSTD_compressBound(len); }

static int window_log(size_t bytes) {
    int log = 20;
    while (log < 27 && ((size_t)1 << log) < bytes) log++;
    return log;
}

size_t ls_zstd_compress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len, int level) {
    ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level);
    /* The window must reach back over the whole previous snapshot. */
    ZSTD_CCtx_setParameter(z->c, ZSTD_c_windowLog, window_log(prefix_len + len));
    if (prefix && prefix_len) ZSTD_CCtx_refPrefix(z->c, prefix, prefix_len);
    size_t r = ZSTD_compress2(z->c, dst, cap, src, len);
    return ZSTD_isError(r) ? 0 : r;
}

long long ls_zstd_content_size(const void *src, size_t len) {
    unsigned long long n = ZSTD_getFrameContentSize(src, len);
    return (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) ? -1 : (long long)n;
}

long long ls_zstd_decompress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len) {
    ZSTD_DCtx_reset(z->d, ZSTD_reset_session_only);
    if (prefix && prefix_len) ZSTD_DCtx_refPrefix(z->d, prefix, prefix_len);
    size_t r = ZSTD_decompressDCtx(z->d, dst, cap, src, len);
    return ZSTD_isError(r) ? -1 : (long long)r;
}
