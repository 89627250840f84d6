#ifndef CLOCKSTAT_TERMINAL_H
#define CLOCKSTAT_TERMINAL_H
/* `lockstat top`'s terminal: raw input, the alternate screen, and putting both back. */

/* Saves the terminal's modes, then raw input (keys one at a time, no echo, no signals from
   keys), the alternate screen, no cursor, no line wrap. 0, or -errno. */
int ls_terminal_enter(int in_fd, int out_fd);
/* Puts back what ls_terminal_enter changed; safe to call again, and from a signal handler. */
void ls_terminal_leave(void);
/* The terminal's size: 0, or -errno. */
int ls_terminal_size(int fd, int *columns, int *rows);
/* SIGWINCH and SIGCHLD handlers that only count (no SA_RESTART, so poll returns to look). */
void ls_terminal_watch_signals(void);
int ls_terminal_resizes(void);
int ls_terminal_children_exited(void);
#endif
