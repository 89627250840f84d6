#ifndef CLOCKSTAT_BPF_H
#define CLOCKSTAT_BPF_H
/* The contention module's BPF mode: what the BPF programs (bpf/contention.bpf.c) and lockstat
   share. Included by the BPF program too, so it uses the kernel's fixed-width types only. */
#ifdef __bpf__
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#endif

/* Wait times are counted in log2 buckets of nanoseconds: bucket i holds [2^i, 2^(i+1)) ns, the
   last everything from 2^39 ns (~9 minutes) on. */
#define LS_BPF_BUCKETS 40

/* What a lock is, when the BPF program can tell (a field of the waiting task's). */
#define LS_LOCK_KIND_MMAP 1      /* &mm->mmap_lock of the waiting task */
#define LS_LOCK_KIND_SIGHAND 2   /* &sighand->siglock of the waiting task */

/* Lock names the BPF programs find (the lock_caches, cache_names and rq_locks maps). */
#define LS_BPF_NAMED_LOCKS 16384
#define LS_BPF_CACHES 1024
#define LS_BPF_CACHE_NAME 32
enum ls_bpf_lock_name_source {
    LS_LOCK_NAME_SLAB = 1,       /* a slab object: name is its kmem_cache's */
    LS_LOCK_NAME_RUNQUEUE = 2,   /* a CPU's &rq->__lock: name is empty */
};

/* One lock's name as lockstat stores it in the raw log. */
struct ls_bpf_lock_name {
    __u64 lock;
    __u32 source;                  /* enum ls_bpf_lock_name_source */
    __u32 pad;
    char name[LS_BPF_CACHE_NAME];
};

/* One aggregation entry: the waits of one task, on one lock, from one call stack, in one cgroup. */
struct ls_bpf_key {
    __u64 lock;
    __s32 stack_id;   /* in the stack map; < 0 when the stack could not be taken */
    __u32 tid;
    __u64 cgroup;     /* the waiting task's cgroup v2 id (bpf_get_current_cgroup_id): its directory's inode */
};

struct ls_bpf_value {
    __u64 count;
    __u64 total_ns;
    __u64 max_ns;
    __u64 min_ns;
    __u32 flags;      /* contention_begin's LCB_F_* flags */
    __u32 kind;       /* LS_LOCK_KIND_*, 0 when not known */
    __u32 buckets[LS_BPF_BUCKETS];
};

/* A spinning wait that ended, left for its CPU's next spinning contention_begin to aggregate:
   contention_end runs with the lock held, so aggregating there would lengthen every hold it
   measures. lockstat adds what is left when the run ends (ls_bpf_contention_settle). */
struct ls_bpf_ended {
    struct ls_bpf_key key;
    __u64 ns;
    __u32 flags;
    __u32 kind;
};

/* One per CPU: up to one ended wait per context that can spin (task, softirq, hardirq, NMI). */
#define LS_BPF_CPU_DEPTH 4
struct ls_bpf_cpu_ended {
    struct ls_bpf_ended ended[LS_BPF_CPU_DEPTH];
    __u32 n;
    __u32 busy;   /* a program on this CPU is changing it: one it interrupted leaves it alone */
};

/* Waits behind one owner of a mutex or rwsem (the owner field of the lock at contention_begin). */
struct ls_bpf_owner_key {
    __u64 lock;
    __u32 owner_tid;
    __u32 pad;
};

struct ls_bpf_owner_value {
    __u64 count;
    __u64 total_ns;
};

/* Counters, per CPU, summed by lockstat. */
enum ls_bpf_counter {
    LS_BPF_BEGINS = 0,        /* contention_begin events the kernel fired */
    LS_BPF_RECORDED,          /* waits added to the aggregation */
    LS_BPF_NESTED,            /* a begin while the same task already waited (optimistic spinning, then sleeping; perf ignores it too), or a spin nested deeper than task, softirq, hardirq and NMI */
    LS_BPF_STACK_FAILED,      /* bpf_get_stackid failed: aggregated under stack id -1 */
    LS_BPF_MAP_FULL,          /* waits dropped: the aggregation map was full */
    LS_BPF_TSTAMP_FAILED,     /* begins dropped: no room to keep their start time */
    LS_BPF_FILTERED,          /* begins of tasks outside the program's process tree (scope program) */
    LS_BPF_OWNERS_FULL,       /* owner waits dropped: the owner map was full */
    LS_BPF_WAITER_WAKES,      /* sched_waking of a task waiting on a sleeping lock (contention.wakers) */
    LS_BPF_SELF_WAKES,        /* of them, the waiter waking itself: not a release, ignored */
    LS_BPF_PC_UNKNOWN,        /* wakes whose context (task or interrupt) could not be read: taken as task */
    LS_BPF_WAKERS_FULL,       /* waits left out of the waker aggregation: its map was full */
    LS_BPF_WAKER_STACKS_REUSED, /* task wakes whose stacks this wait already had from the same waker and call */
    LS_BPF_WAKES_IN_FLIGHT,   /* sleeping waits that ended while a wake of theirs was still in its program: that wake added them */
    LS_BPF_RECURSION_MISSED,  /* lock events the kernel ran none of lockstat's programs for, another BPF program running on that CPU
                                 (bpf_prog_info.recursion_misses, summed over the programs: filled by lockstat, not the BPF programs) */
    LS_BPF_PATH_HITS,         /* kernel stacks found again by their call path's return addresses on the stack (walked only to check) */
    LS_BPF_PATH_CONFLICTS,    /* of them, checked by a walk that gave another stack (the path is walked every time since) */
    LS_BPF_COUNTERS = 17
};

/* The counters a raw log written before LS_BPF_PATH_HITS holds. */
#define LS_BPF_COUNTERS_BEFORE_PATHS 15

/* The counters a raw log written before LS_BPF_RECURSION_MISSED holds. */
#define LS_BPF_COUNTERS_BEFORE_RECURSION 14

/* The counters a raw log written before LS_BPF_WAKES_IN_FLIGHT holds. */
#define LS_BPF_COUNTERS_BEFORE_IN_FLIGHT 13

/* The counters a raw log written before contention.wakers holds (its record is shorter). */
#define LS_BPF_COUNTERS_BEFORE_WAKERS 8

/* How a wait on a sleeping lock ended: by whom its task was last woken before contention_end. */
enum ls_bpf_wake_class {
    LS_WAKE_NONE = 0,       /* never woken: acquired without sleeping, or slept and was never woken */
    LS_WAKE_TASK = 1,       /* a user task in process context (a system call, a fault): kernel + user stack */
    LS_WAKE_KTHREAD = 2,    /* a kernel thread: kernel stack */
    LS_WAKE_HARDIRQ = 3,    /* an interrupt handler: not the lock's release, no stack */
    LS_WAKE_SOFTIRQ = 4,
    LS_WAKE_NMI = 5,
    LS_WAKE_SIGNAL = 6,     /* a signal for an interruptible (or killable, SIGKILL) waiter: the sender's stack */
    LS_WAKE_SPINNING = 7,   /* a mutex's optimistic spin that ended without sleeping or a wake */
};

/* settings[] of the BPF programs, written by the loader before attaching. */
enum ls_bpf_setting {
    LS_BPF_SETTING_SCOPE = 0,       /* 1: scope program */
    LS_BPF_SETTING_WAKERS,          /* 1: contention.wakers yes */
    LS_BPF_SETTING_PC_FROM_RQ,      /* __preempt_count's offset from runqueues in the per-CPU area */
    LS_BPF_SETTING_PC_KNOWN,        /* 1: that offset was found in the kernel's BTF */
    LS_BPF_SETTING_USER_STACKS_OF,  /* scope system: whose waker user stacks are kept (below) */
    LS_BPF_SETTING_NO_KFUNCS,       /* 1 (tests only): act as a kernel without the weak kfuncs and rq_lock,
                                       and copy kernel memory (bpf_probe_read_kernel), not read it in place */
    LS_BPF_SETTING_OWNER_STACKS,    /* 1: contention.owner_stacks yes (with wakers) */
    LS_BPF_SETTING_TEXT_START,      /* the kernel's text, [_stext, _etext) from /proc/kallsyms: 0 when unknown */
    LS_BPF_SETTING_TEXT_END,
    LS_BPF_SETTING_CHECK_PATHS,     /* 1 (tests only): every stack found by its path is walked too and compared */
    LS_BPF_SETTINGS = 10
};

/* LS_BPF_SETTING_USER_STACKS_OF: 0 nobody's (until lockstat says), uid + 1 that user's, or all. */
#define LS_BPF_USER_STACKS_OF_ALL 0xffffffffffffffffULL

/* The waits on one sleeping lock from one waiter stack, ended by one (last) waker. */
struct ls_bpf_waker_key {
    __u64 lock;
    __s32 stack_id;      /* the waiter's kernel stack (the waits map's) */
    __s32 waker_stack;   /* the waker's kernel stack, same stack map; -1: none */
    __s32 waker_ustack;  /* the waker's user stack (LS_WAKE_TASK); -1: none */
    __u32 wake_class;    /* enum ls_bpf_wake_class */
    __u32 waker_tgid;    /* the process whose user stack waker_ustack is (its maps name it); 0: none */
    __u32 reserved;      /* zero: a hash key has no padding */
};

struct ls_bpf_waker_value {
    __u64 count;
    __u64 total_ns;
    __u64 slept;         /* waits in which the task switched out voluntarily */
    __u64 slept_ns;
    __u64 wakes;         /* wakes of these waits (more than count: woken, lock taken by another, slept again) */
    __u64 failed;        /* contention_end with an error (-EINTR: a signal) */
};

struct ls_bpf_waker_entry {
    struct ls_bpf_waker_key key;
    struct ls_bpf_waker_value value;
};

/* contention.wakers, per sleeping lock: its timeline while tasks wait for it (an episode),
   split at each release (the wake of a waiter by a task) and each acquisition after a wait
   (contention_end with 0) into holds and handover gaps. Only waits lockstat keeps count. */
struct ls_bpf_handover {
    /* The programs' working state. */
    __s64 nwait;            /* tasks waiting now */
    __u64 since;            /* the episode's start (ns) */
    __u64 mark;             /* the last release or acquisition in it (ns) */
    __u64 acquired_at;      /* the tracked holder's acquisition (ns) */
    __u32 holder_tid;       /* the task that took the lock exclusively after waiting; 0: none tracked */
    __s32 holder_stack;     /* its wait's stack id (the caller a hold is counted under) */
    __u32 gap;              /* 1: released, no waiter has taken it yet; 0: held */
    __u32 owner_stack_tid;  /* the owner whose stack this hold's first waiter took (owner_last); 0: none */
    /* Totals (ns): contended = holds + gaps + untracked holds, up to races between CPUs. */
    __u64 contended_ns;
    __u64 episodes;
    __u64 hold_ns;          /* holds of tracked holders: acquired after waiting, released to a waiter */
    __u64 gap_ns;           /* from a release to a waiter's acquisition (holds of lock stealers included) */
    __u64 untracked_ns;     /* held by a task not tracked: the episode's first holder, readers, handoffs */
    __u64 holds;
    __u64 untracked_releases;
};

struct ls_bpf_handover_entry {
    __u64 lock;
    struct ls_bpf_handover value;
};

/* Hold under contention: per lock and the holder's caller (its wait's stack). */
struct ls_bpf_hold_key {
    __u64 lock;
    __s32 stack_id;
    __u32 pad;
};

struct ls_bpf_hold_value {
    __u64 count;
    __u64 total_ns;
    __u64 max_ns;
    __u32 buckets[LS_BPF_BUCKETS];
};

struct ls_bpf_hold_entry {
    struct ls_bpf_hold_key key;
    struct ls_bpf_hold_value value;
};

/* contention.wakers: the owner's kernel stack when a waiter began waiting for a mutex or rwsem
   (perf's owner stack: stale when the owner runs on another CPU), by content, counted. */
#define LS_BPF_OWNER_STACK 16
struct ls_bpf_owner_stack {
    __u64 lock;
    __u64 ips[LS_BPF_OWNER_STACK];   /* innermost first, 0 after the last */
};

struct ls_bpf_owner_stack_entry {
    struct ls_bpf_owner_stack key;
    __u64 count;
};

/* One changed entry as lockstat stores it in the raw log. */
struct ls_bpf_entry {
    struct ls_bpf_key key;
    struct ls_bpf_value value;
};

struct ls_bpf_owner_entry {
    struct ls_bpf_owner_key key;
    struct ls_bpf_owner_value value;
};

#define LS_BPF_MAX_STACK 32
#define LS_BPF_COMM 16

#ifndef __bpf__
/* The loader (bpf.c, libbpf). */
typedef struct ls_bpf_contention ls_bpf_contention;

/* Loads and attaches the programs with an aggregation map of `entries` entries. On failure NULL
   and a one-line reason in `error`. scope_program: only tasks added with ls_bpf_contention_follow
   and their descendants. wakers: also the waker of each sleeping wait (sched_waking);
   owner_stacks (with wakers): also the owner's kernel stack at a waiter's begin. */
/* Whether a fentry program (contention.holds all: klockstat's method) loads and attaches at
   `function` here: 0 yes; -1 no, with the reason in `error` (EPERM where trampolines are refused). */
int ls_bpf_fentry_probe(const char *function, char *error, size_t error_size);
ls_bpf_contention *ls_bpf_contention_open(int entries, int scope_program, int wakers, int owner_stacks, char *error,
                                          size_t error_size);
int ls_bpf_contention_follow(ls_bpf_contention *h, __u32 tgid);
/* The entries that changed since the last call, into `out`; returns how many, or -1 when
   `capacity` entries are too few (nothing is lost: call again with more). */
long ls_bpf_contention_changed(ls_bpf_contention *h, struct ls_bpf_entry *out, long capacity);
/* Deletes entries from the aggregation map and from what was read (serve's idle entries, so the
   map never fills); returns how many the map held. */
long ls_bpf_contention_forget(ls_bpf_contention *h, const struct ls_bpf_key *keys, long n);
long ls_bpf_contention_owners_changed(ls_bpf_contention *h, struct ls_bpf_owner_entry *out, long capacity);
/* The waker entries that changed since the last call (as _changed; 0 when wakers are off). */
long ls_bpf_contention_wakers_changed(ls_bpf_contention *h, struct ls_bpf_waker_entry *out, long capacity);
/* Scope system: keep the waker user stacks of processes of `uid` only (real and effective), or of
   everyone when uid < 0. Until called, none are kept; under scope program only the program's. */
int ls_bpf_contention_keep_user_stacks_of(ls_bpf_contention *h, long long uid);
/* The whole handover and hold maps (contention.wakers; 0 when off); -1 when `capacity` is too small. */
long ls_bpf_contention_handovers(ls_bpf_contention *h, struct ls_bpf_handover_entry *out, long capacity);
long ls_bpf_contention_holds(ls_bpf_contention *h, struct ls_bpf_hold_entry *out, long capacity);
#define LS_BPF_HANDOVER_ENTRIES 4096
/* The whole owner-stack map (contention.wakers, kernels with bpf_task_from_pid; else 0). */
long ls_bpf_contention_owner_stacks(ls_bpf_contention *h, struct ls_bpf_owner_stack_entry *out, long capacity);
/* Whether interrupt wakes are told apart here (the kernel's BTF gives __preempt_count's place). */
int ls_bpf_contention_classifies_interrupts(ls_bpf_contention *h);
void ls_bpf_contention_counters(ls_bpf_contention *h, __u64 out[LS_BPF_COUNTERS]);
/* At the run's end: detaches the programs, then adds the spinning waits still left for their
   CPU's next begin (struct ls_bpf_cpu_ended) to the aggregation. Returns how many, or -1. */
long ls_bpf_contention_settle(ls_bpf_contention *h);
/* A stack's frames (innermost first); returns how many, 0 when unknown. */
int ls_bpf_contention_stack(ls_bpf_contention *h, __s32 id, __u64 *ips, int max);
/* A waker's user stack's frames (innermost first); 0 when unknown. */
int ls_bpf_contention_user_stack(ls_bpf_contention *h, __s32 id, __u64 *ips, int max);
/* The name a task had when it first waited (or owned a lock waited for); 0 when known. */
int ls_bpf_contention_comm(ls_bpf_contention *h, __u32 tid, char out[LS_BPF_COMM]);
/* The lock names found since the last call (slab objects' caches, runqueue locks), into `out`;
   returns how many (at most `capacity`: the rest come with the next call). */
long ls_bpf_contention_lock_names(ls_bpf_contention *h, struct ls_bpf_lock_name *out, long capacity);
/* Whether this kernel has bpf_get_kmem_cache (slab names) and the loader gave it to the programs. */
int ls_bpf_contention_names_slabs(ls_bpf_contention *h);
/* A kernel's BTF (a file, or the running kernel's when NULL): whether it has kfunc `name` / whether
   struct `type` has `member`; -1 when the BTF cannot be read. */
int ls_bpf_kernel_has_kfunc(const char *btf_path, const char *name);
int ls_bpf_kernel_has_member(const char *btf_path, const char *type, const char *member);
/* The kernel's BPF run-time statistics on for as long as the returned descriptor is open
   (BPF_ENABLE_STATS with BPF_STATS_RUN_TIME, 5.8+; closed by the kernel when the process ends,
   however it ends); -errno where refused. The corresponding C constant is `BPF_STATS_RUN_TIME`. */
int ls_bpf_run_time_statistics_on(void);
/* The programs' total run time and run count, counted while the statistics are on. */
void ls_bpf_contention_run_time(ls_bpf_contention *h, __u64 *ns, __u64 *count);
/* The times the kernel did not run one of the programs because a BPF program was already
   running on that CPU (bpf_prog_info.recursion_misses, 5.12+): each a lock event not seen. */
__u64 ls_bpf_contention_recursion_misses(ls_bpf_contention *h);
void ls_bpf_contention_close(ls_bpf_contention *h);
#endif
#endif
