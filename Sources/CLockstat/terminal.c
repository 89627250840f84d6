/* `lockstat top`'s terminal: raw mode and the alternate screen, put back however top ends. */
#define _GNU_SOURCE
#include "clockstat_terminal.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static volatile sig_atomic_t entered;
static int terminal_in = -1, terminal_out = -1;
static volatile sig_atomic_t resizes, children;

static const char enter_sequence[] = "\033[?1049h\033[?25l\033[?7l\033[H\033[2J";
static const char leave_sequence[] = "\033[?7h\033[?25h\033[?1049l";

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

int ls_terminal_enter(int in_fd, int out_fd) {
    if (tcgetattr(in_fd, &saved) != 0) return -errno;
    struct termios raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
    raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSAFLUSH, &raw) != 0) return -errno;
    terminal_in = in_fd;
    terminal_out = out_fd;
    entered = 1;
    write_all(out_fd, enter_sequence, sizeof enter_sequence - 1);
    return 0;
}

void ls_terminal_leave(void) {
    if (!entered) return;
    entered = 0;
    write_all(terminal_out, leave_sequence, sizeof leave_sequence - 1);
    tcsetattr(terminal_in, TCSAFLUSH, &saved);
}

int ls_terminal_size(int fd, int *columns, int *rows) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -errno;
    *columns = ws.ws_col;
    *rows = ws.ws_row;
    return 0;
}

static void on_resize(int sig) { (void)sig; resizes++; }
static void on_child(int sig) { (void)sig; children++; }

void ls_terminal_watch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_resize;
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
}

int ls_terminal_resizes(void) { return resizes; }
int ls_terminal_children_exited(void) { return children; }
