#ifndef CLOCKSTAT_FUTEX_H
#define CLOCKSTAT_FUTEX_H
/* The futex module: what the BPF programs (bpf/futex.bpf.c) and lockstat share. Included by the
   BPF program too, so it uses the kernel's fixed-width types only. */
#ifdef __bpf__
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#endif

/* Return-address-like words kept from the first LS_FUTEX_SCAN_BYTES above a task's user stack
   pointer: the frame-pointer walk loses the caller of a libc function built without frame
   pointers, and these words (pointers into the program's text or into the code around the
   futex call) are where its return address is. */
#define LS_FUTEX_SCANNED 4
#define LS_FUTEX_SCAN_BYTES 512
/* A sampled stack copy for a DWARF unwinder: at most this many bytes from the user sp. */
#define LS_FUTEX_COPY_BYTES 4096
#define LS_FUTEX_MAX_STACK 32
#define LS_FUTEX_COMM 16

/* How a wait ended. */
enum ls_futex_outcome {
    LS_FUTEX_WOKEN = 0,        /* returned 0: woken (or its PI lock acquired) */
    LS_FUTEX_TIMED_OUT = 1,    /* -ETIMEDOUT */
    LS_FUTEX_INTERRUPTED = 2,  /* -EINTR, -ERESTARTSYS and the like: a signal */
    LS_FUTEX_NO_SLEEP = 3,     /* -EAGAIN / -EWOULDBLOCK: the word had changed; counted, not timed */
    LS_FUTEX_OTHER_ERROR = 4,  /* any other error */
};

/* The wait calls (futex(2)'s op & FUTEX_CMD_MASK; futex_waitv and futex_wait as their own). */
enum ls_futex_op {
    LS_FUTEX_OP_WAIT = 0,
    LS_FUTEX_OP_LOCK_PI = 6,
    LS_FUTEX_OP_WAIT_BITSET = 9,
    LS_FUTEX_OP_WAIT_REQUEUE_PI = 11,
    LS_FUTEX_OP_LOCK_PI2 = 13,
    LS_FUTEX_OP_WAITV = 100,   /* futex_waitv(2): the lock word is the first waiter's */
    LS_FUTEX_OP_WAIT2 = 101,   /* futex_wait(2) (futex2) */
};

/* One aggregation entry: the waits of one task on one lock word, from one call path, ended one
   way, by one waker from one call path. */
struct ls_futex_key {
    __u64 uaddr;
    __u32 tgid, tid;
    __s32 user_stack, kernel_stack;              /* the waiter's, in the stack map (< 0: none) */
    __s32 waker_user_stack, waker_kernel_stack;  /* the waker's, < 0 when no task woke it */
    __u32 waker_tid, waker_tgid;                 /* 0: no waker (timeout, signal, did not sleep) */
    __u32 outcome, op;
    __u64 scanned[LS_FUTEX_SCANNED];             /* the waiter's return-address-like words, 0-padded */
    __u64 waker_scanned[LS_FUTEX_SCANNED];
};

struct ls_futex_value {
    __u64 count;
    __u64 total_ns;
    __u64 max_ns;
    __u64 min_ns;
    __u32 owner_tid;   /* at the last wait's start: the word at uaddr+8 (a glibc mutex's __owner),
                          or the PI word's tid for LOCK_PI */
    __u32 pad;
};

struct ls_futex_entry {
    struct ls_futex_key key;
    struct ls_futex_value value;
};

/* One sampled stack copy, the first wait (or wake) of each (process, call path): the user
   registers at the call and the bytes from sp up, for a DWARF unwinder to walk later. */
struct ls_futex_sample {
    __u32 waker;       /* 0: a waiter's copy at its futex call; 1: a waker's at sched_waking */
    __u32 tgid, tid;
    __s32 user_stack;
    __u64 scanned[LS_FUTEX_SCANNED];
    __u64 ip, sp, bp;
    __u32 size;        /* bytes copied: 4096, else the largest of 2048..256 that could be read */
    __u32 pad;
    __u8 stack[LS_FUTEX_COPY_BYTES];
};

enum ls_futex_counter {
    LS_FUTEX_WAITS = 0,        /* wait calls begun by the tasks in scope */
    LS_FUTEX_RECORDED,         /* waits added to the aggregation */
    LS_FUTEX_FILTERED,         /* wait calls of tasks outside the program's processes (scope program) */
    LS_FUTEX_MAP_FULL,         /* waits dropped: the aggregation map was full */
    LS_FUTEX_STARTS_FULL,      /* waits dropped: no room to keep their start */
    LS_FUTEX_STACK_FAILED,     /* a stack could not be taken: kept under stack id -1 */
    LS_FUTEX_SAMPLES,          /* stack copies written */
    LS_FUTEX_SAMPLES_DROPPED,  /* stack copies not written: the ring or the sampled-sites map was full */
    LS_FUTEX_WAKES,            /* wakes of a waiting task by a task in a futex call */
    LS_FUTEX_COUNTERS = 9
};

#ifndef __bpf__
typedef struct ls_bpf_futex ls_bpf_futex;

/* Loads and attaches the programs with an aggregation map of `entries` entries; NULL and a
   one-line reason in `error` on failure. scope_program: only the followed processes. */
ls_bpf_futex *ls_bpf_futex_open(int entries, int scope_program, char *error, size_t error_size);
int ls_bpf_futex_follow(ls_bpf_futex *h, __u32 tgid);
/* The entries that changed since the last call; -1 when `capacity` is too few (call again). */
long ls_bpf_futex_changed(ls_bpf_futex *h, struct ls_futex_entry *out, long capacity);
/* Deletes the entries of `keys` (serve's idle ones) from the map and from what was last read;
   the number deleted, or -ENOMEM. */
long ls_bpf_futex_forget(ls_bpf_futex *h, const struct ls_futex_key *keys, long n);
/* The processes (tgids, with repeats) of the waits in progress now: a process whose waits
   have not ended yet, whose map is read before it can exit. At most `capacity`. */
long ls_bpf_futex_waiting(ls_bpf_futex *h, __u32 *tgids, long capacity);
/* The sampled stack copies waiting in the ring, packed into the handle's buffer; its bytes. */
long ls_bpf_futex_samples(ls_bpf_futex *h, const unsigned char **bytes);
void ls_bpf_futex_counters(ls_bpf_futex *h, __u64 out[LS_FUTEX_COUNTERS]);
int ls_bpf_futex_stack(ls_bpf_futex *h, __s32 id, __u64 *ips, int max);
int ls_bpf_futex_comm(ls_bpf_futex *h, __u32 tid, char out[LS_FUTEX_COMM]);
void ls_bpf_futex_run_time(ls_bpf_futex *h, __u64 *ns, __u64 *count);
void ls_bpf_futex_close(ls_bpf_futex *h);
#endif
#endif
