#define _GNU_SOURCE
#include "clockstat.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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
