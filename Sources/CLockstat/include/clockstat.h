#ifndef CLOCKSTAT_H
#define CLOCKSTAT_H
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include "clockstat_perf.h"
#include "clockstat_demangle.h"
#include "clockstat_bpf.h"
#include "clockstat_unwind.h"
#include "clockstat_futex.h"

/* A file with no name in `dir`, for reading and writing (0600): O_TMPFILE where the file system
   has it, else mkstemp and unlink at once. Nothing can be linked or swapped in its place. -1 and errno on failure. */
int ls_open_unlinked(const char *dir);

/* CRC-32C (Castagnoli), hardware SSE4.2 when the CPU has it. Continue a CRC by passing it back. */
uint32_t ls_crc32c(uint32_t crc, const void *data, size_t len);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ls_monotonic_ns(void);
/* CPU time of the calling thread, in nanoseconds. */
uint64_t ls_thread_cpu_ns(void);

/* A sleeper waits for an absolute CLOCK_MONOTONIC deadline and can be woken early by ls_sleeper_stop
   from another thread (SIGURG to the sleeping thread; repeat the stop until the thread is done). */
typedef struct ls_sleeper ls_sleeper;
ls_sleeper *ls_sleeper_new(void);
void ls_sleeper_free(ls_sleeper *s);
/* Returns 1 once stopped, 0 when the deadline came. */
int ls_sleeper_wait_until(ls_sleeper *s, uint64_t deadline_ns);
void ls_sleeper_stop(ls_sleeper *s);

/* Signal forwarding to the measured program. The terminating signals (those ls_signal_name names)
   sent to lockstat by kill(2) are passed to `child`, then SIGCONT
   (a program that stopped itself sees them); terminal-generated INT/QUIT/HUP already reached the child
   (same process group) and are not doubled. A second SIGINT SIGKILLs the child and _exits(130) at once.
   SIGPIPE and SIGXFSZ are caught and do nothing: the write fails instead. */
void ls_signals_install(void);
void ls_signals_set_child(pid_t child);
/* The first terminating signal lockstat received, or 0: one before the program started cancels the run. */
int ls_signals_first(void);
/* How many terminating signals lockstat has received (a call that waits compares it with its own start). */
int ls_signals_count(void);
/* "SIGTERM" for each terminating signal lockstat stops on (HUP, INT, QUIT, TERM, USR1, USR2, ALRM,
   VTALRM, PROF, XCPU, STKFLT, PWR), NULL for any other. */
const char *ls_signal_name(int sig);

/* The supervisor: a process that puts back the registered restores and SIGKILLs the registered
   helpers when lockstat ends in any way (kill -9 included); started once, before anything is
   changed. 0, or -errno of the fork. */
int ls_supervisor_start(void);
/* A helper process (a drop-in's interpreter) that must not outlive lockstat; unregister once reaped. */
void ls_supervise(pid_t pid);
void ls_unsupervise(pid_t pid);

/* fork of a child that will exec `path` with argv/envp, stdin, stdout and stderr from in_fd,
   out_fd, err_fd (each when >= 0),
   default signals, no other descriptors, and SIGKILL when lockstat dies (PR_SET_PDEATHSIG).
   The child waits before its exec until ls_spawn_start, so lockstat can note its pid first.
   Returns the pid, or -errno of the fork. */
typedef struct { pid_t pid; int go; int report; } ls_spawned;
pid_t ls_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
               ls_spawned *spawned);
/* Lets the child exec; 0, or -errno of the exec (the child is reaped then). */
int ls_spawn_start(ls_spawned *spawned);

/* pipe2 with O_CLOEXEC: no child started meanwhile by another thread inherits it. 0, or -1 and errno. */
int ls_pipe(int fds[2]);

/* A process that copies in_fd to file_fd and tty_fd until EOF, outliving lockstat (--tee). */
pid_t ls_spawn_copier(int in_fd, int file_fd, int tty_fd);

/* Become uid/gid for good (every thread): no supplementary groups, then setresgid and setresuid.
   Returns 0, or -errno. */
int ls_become(uid_t uid, gid_t gid);

/* Wait for pid, retrying on EINTR. Returns the raw wait status, or -errno. */
int ls_wait(pid_t pid);
int ls_wifexited(int status);
int ls_wexitstatus(int status);
int ls_wifsignaled(int status);
int ls_wtermsig(int status);

/* Restores that must happen on every exit path, signals and crashes included: `value` is
   written to `path` by ls_restore_run, which is async-signal-safe, or by the supervisor when
   lockstat died without it. Up to 8 entries. */
int ls_restore_register(const char *path, const char *value);
void ls_restore_cancel(const char *path);
void ls_restore_run(void);

/* Batched raw-log records (batch.c): whole records staged by the sampling thread, written by
   the batch's thread at most every `period_seconds` as one zstd record of kind `kind_alone`
   (standalone) or `kind_chained` (against the previous batch's last 64 KiB), each holding at
   most `max_batch` bytes of records (a larger record is written as it is). */
typedef struct ls_batch ls_batch;
ls_batch *ls_batch_start(int fd, double period_seconds, int level, unsigned keyframe_every, size_t max_batch,
                         uint16_t kind_alone, uint16_t kind_chained);
/* Writes one whole record at once (the log's header), after the batches written so far. */
int ls_batch_write_now(ls_batch *b, const void *record, size_t len);
/* Copies one whole record; 0, or -1 when the staging buffer could not grow. */
int ls_batch_stage(ls_batch *b, const void *record, size_t len);
/* Writes what is staged, stops the thread, frees the batch; returns the failed writes, with
   the first errno. */
int ls_batch_finish(ls_batch *b, int *first_error);

/* gzip (zlib), for pprof files: returns the bytes written into `dst`, -1 when `capacity` is too
   small (ls_gzip_bound(len) is enough) or zlib fails. */
size_t ls_gzip_bound(size_t len);
long ls_gzip(const void *src, size_t len, void *dst, size_t capacity);

/* zstd, for snapshots stored as differences from the previous one: compress `src` with
   `prefix` (the previous snapshot, may be NULL) as a reference. Returns the frame size, or 0 on
   error. Decompress the same way; returns the decompressed size, or -1 on error. */
typedef struct ls_zstd ls_zstd;
ls_zstd *ls_zstd_new(void);
void ls_zstd_free(ls_zstd *z);
size_t ls_zstd_bound(size_t len);
size_t ls_zstd_compress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len, int level);
/* The content size a frame's header declares; -1 when it declares none or is no frame. */
long long ls_zstd_content_size(const void *src, size_t len);
long long ls_zstd_decompress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len);


#endif
