#define _GNU_SOURCE
#include "clockstat.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- signals ----------------------------------------------------------
   Terminating signals that end a run as SIGTERM does (forwarded to the program, which is then
   continued in case it had stopped itself); SIGPIPE and SIGXFSZ only make the write fail. */
static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t sigints;
static volatile sig_atomic_t first_signal;
static volatile sig_atomic_t stop_signals;
static const struct { int sig; const char *name; } stopping[] = {
    { SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" }, { SIGTERM, "SIGTERM" },
    { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" }, { SIGALRM, "SIGALRM" }, { SIGVTALRM, "SIGVTALRM" },
    { SIGPROF, "SIGPROF" }, { SIGXCPU, "SIGXCPU" }, { SIGSTKFLT, "SIGSTKFLT" }, { SIGPWR, "SIGPWR" },
};

const char *ls_signal_name(int sig) {
    for (unsigned i = 0; i < sizeof stopping / sizeof stopping[0]; i++)
        if (stopping[i].sig == sig) return stopping[i].name;
    return NULL;
}

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
    for (unsigned i = 0; i < sizeof stopping / sizeof stopping[0]; i++) sigaction(stopping[i].sig, &sa, NULL);
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
