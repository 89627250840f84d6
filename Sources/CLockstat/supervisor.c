#define _GNU_SOURCE
#include "clockstat.h"
#include "clockstat_terminal.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Takes a free slot, in lockstat and in the supervisor alike; -1 when none is free or a string is too long. */
static int remember_restore(const char *path, const char *value) {
    for (int i = 0; i < RESTORES; i++) {
        if (restores[i].used) continue;
        if (strlen(path) >= sizeof restores[i].path || strlen(value) >= sizeof restores[i].value) return -1;
        strcpy(restores[i].path, path);
        strcpy(restores[i].value, value);
        restores[i].used = 1;
        return 0;
    }
    return -1;
}

int ls_restore_register(const char *path, const char *value) {
    if (remember_restore(path, value) != 0) return -1;
    supervisor_send(MSG_RESTORE, 0, path, value);
    return 0;
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
    /* `lockstat top`'s terminal too, when a crash or a second SIGINT ends it. */
    ls_terminal_leave();
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
        case MSG_RESTORE: remember_restore(m.path, m.value); break;
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
