/* The contention module's BPF mode: lock:contention_begin/end aggregated in the kernel, so no
   event crosses to user space and none is lost to a full ring at any rate. Compiled by
   scripts/build-bpf.sh (clang -target bpf) into Sources/CLockstat/contention_bpf_object.c.

   The kernel structs it reads are declared here with the few fields used, marked
   preserve_access_index: libbpf relocates each field access against the running kernel's BTF
   (CO-RE), so the object needs no vmlinux.h and runs on any kernel with BTF. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "clockstat_bpf.h"

/* include/trace/events/lock.h */
#define LCB_F_SPIN  (1U << 0)
#define LCB_F_READ  (1U << 1)
#define LCB_F_WRITE (1U << 2)
#define LCB_F_MUTEX (1U << 5)

struct rw_semaphore { struct { long counter; } owner; } __attribute__((preserve_access_index));
struct mutex { struct { long counter; } owner; } __attribute__((preserve_access_index));
struct spinlock { int unused; } __attribute__((preserve_access_index));
struct mm_struct { struct rw_semaphore mmap_lock; } __attribute__((preserve_access_index));
struct sighand_struct { struct spinlock siglock; } __attribute__((preserve_access_index));
struct task_struct {
    struct mm_struct *mm;
    struct sighand_struct *sighand;
    int pid;
    int tgid;
    char comm[16];
    struct task_struct *real_parent;
} __attribute__((preserve_access_index));

/* When a wait began, per waiting task (sleeping locks) or per CPU (spinning ones). */
struct start {
    __u64 time;
    __u64 lock;
    __s32 stack_id;
    __u32 flags;
    __u32 owner_tid;
    __u32 kind;
};

/* Sized by lockstat before loading (contention.entries). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, struct ls_bpf_key); __type(value, struct ls_bpf_value); } waits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct ls_bpf_owner_key); __type(value, struct ls_bpf_owner_value); } owners SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 16384);
         __uint(key_size, sizeof(__u32)); __uint(value_size, LS_BPF_MAX_STACK * sizeof(__u64)); } stacks SEC(".maps");
/* Sleeping locks: a hash by task (the wait can move to another CPU). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, struct start); } task_starts SEC(".maps");
/* Spinning locks: the waiter stays on its CPU, so a per-CPU slot needs no lock at all (a hash
   update takes a bucket lock, the very thing being measured). One slot per context that can
   spin inside another's spin on the same CPU — task, softirq, hardirq, NMI — used last in,
   first out: an interrupt's wait inside a task's is a contention of its own (perf counts it so,
   for the interrupted task). */
#define LS_CPU_DEPTH 4
struct cpu_waits { struct start slot[LS_CPU_DEPTH]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct cpu_waits); } cpu_starts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, char[LS_BPF_COMM]); } comms SEC(".maps");
/* scope program: the tgids followed (the program's, then every process it forks). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536);
         __type(key, __u32); __type(value, __u8); } followed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, LS_BPF_COUNTERS);
         __type(key, __u32); __type(value, __u64); } counters SEC(".maps");
/* settings[0]: 1 for scope program. */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } settings SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64 *c = bpf_map_lookup_elem(&counters, &which);
    if (c) *c += 1;   /* per CPU: no other writer */
}

static __always_inline int scope_program(void) {
    __u32 zero = 0;
    __u64 *s = bpf_map_lookup_elem(&settings, &zero);
    return s && *s;
}

/* log2 of a duration in ns, as a bucket index (no clz instruction in BPF). */
static __always_inline __u32 bucket(__u64 ns) {
    __u32 b = 0;
    if (ns >> 32) { ns >>= 32; b += 32; }
    if (ns >> 16) { ns >>= 16; b += 16; }
    if (ns >> 8) { ns >>= 8; b += 8; }
    if (ns >> 4) { ns >>= 4; b += 4; }
    if (ns >> 2) { ns >>= 2; b += 2; }
    if (ns >> 1) { b += 1; }
    return b < LS_BPF_BUCKETS ? b : LS_BPF_BUCKETS - 1;
}

static __always_inline int spinning(__u32 flags) { return (flags & (LCB_F_SPIN | LCB_F_MUTEX)) == LCB_F_SPIN; }

static __always_inline void remember_comm(struct task_struct *task, __u32 tid) {
    if (bpf_map_lookup_elem(&comms, &tid)) return;
    char comm[LS_BPF_COMM] = {};
    BPF_CORE_READ_STR_INTO(&comm, task, comm);
    bpf_map_update_elem(&comms, &tid, &comm, BPF_NOEXIST);
}

/* The owner of a mutex or rwsem: its owner field holds the task pointer in the upper bits. */
static __always_inline struct task_struct *owner_of(__u64 lock, __u32 flags) {
    long owner = 0;
    if (flags & LCB_F_MUTEX) {
        struct mutex *m = (void *)lock;
        owner = BPF_CORE_READ(m, owner.counter);
    } else if (flags == LCB_F_READ || flags == LCB_F_WRITE) {
        struct rw_semaphore *s = (void *)lock;
        owner = BPF_CORE_READ(s, owner.counter);
    }
    return (struct task_struct *)(owner & ~7L);
}

/* Locks the waiting task itself can name: its mm's mmap_lock, its sighand's siglock. */
static __always_inline __u32 kind_of(struct task_struct *task, __u64 lock, __u32 flags) {
    if (flags == LCB_F_READ || flags == LCB_F_WRITE) {
        struct mm_struct *mm = BPF_CORE_READ(task, mm);
        if (mm && (__u64)&mm->mmap_lock == lock) return LS_LOCK_KIND_MMAP;
    } else if (flags == LCB_F_SPIN) {
        struct sighand_struct *sighand = BPF_CORE_READ(task, sighand);
        if (sighand && (__u64)&sighand->siglock == lock) return LS_LOCK_KIND_SIGHAND;
    }
    return 0;
}

SEC("tp_btf/contention_begin")
int BPF_PROG(contention_begin, void *lock, unsigned int flags) {
    count(LS_BPF_BEGINS);
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
    if (scope_program() && !bpf_map_lookup_elem(&followed, &tgid)) { count(LS_BPF_FILTERED); return 0; }
    struct start *s;
    __u32 zero = 0;
    if (spinning(flags)) {
        struct cpu_waits *w = bpf_map_lookup_elem(&cpu_starts, &zero);
        if (!w) return 0;
        int depth = 0;
        while (depth < LS_CPU_DEPTH && w->slot[depth].lock) depth++;
        if (depth >= LS_CPU_DEPTH) { count(LS_BPF_NESTED); return 0; }   /* deeper than NMI: not kept */
        s = &w->slot[depth];
    } else {
        s = bpf_map_lookup_elem(&task_starts, &tid);
        if (s && s->lock) { count(LS_BPF_NESTED); return 0; }   /* still the first wait's */
        if (!s) {
            struct start empty = {};
            if (bpf_map_update_elem(&task_starts, &tid, &empty, BPF_NOEXIST) != 0) { count(LS_BPF_TSTAMP_FAILED); return 0; }
            s = bpf_map_lookup_elem(&task_starts, &tid);
            if (!s) { count(LS_BPF_TSTAMP_FAILED); return 0; }
        }
    }
    struct task_struct *task = bpf_get_current_task_btf();
    s->lock = (__u64)lock;
    s->flags = flags;
    s->stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_FAST_STACK_CMP);
    if (s->stack_id < 0) count(LS_BPF_STACK_FAILED);
    s->kind = kind_of(task, (__u64)lock, flags);
    s->owner_tid = 0;
    struct task_struct *owner = owner_of((__u64)lock, flags);
    if (owner) {
        s->owner_tid = BPF_CORE_READ(owner, pid);
        remember_comm(owner, s->owner_tid);
    }
    remember_comm(task, tid);
    s->time = bpf_ktime_get_ns();
    return 0;
}

SEC("tp_btf/contention_end")
int BPF_PROG(contention_end, void *lock, int ret) {
    __u64 now = bpf_ktime_get_ns();
    __u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
    /* A spinning wait is this CPU's, the innermost one on this lock; else the task's (it
       cannot sleep inside a spinning one). */
    struct cpu_waits *w = bpf_map_lookup_elem(&cpu_starts, &zero);
    struct start *s = 0;
    int per_task = 0, matched = -1;
    if (w) {
        for (int depth = LS_CPU_DEPTH - 1; depth >= 0; depth--) {
            if (w->slot[depth].lock == (__u64)lock) { s = &w->slot[depth]; matched = depth; break; }
        }
    }
    if (!s) {
        s = bpf_map_lookup_elem(&task_starts, &tid);
        if (!s || s->lock != (__u64)lock) return 0;   /* the end of a begin that was not kept */
        per_task = 1;
    }
    __u64 ns = now > s->time ? now - s->time : 0;
    struct ls_bpf_key key = { .lock = s->lock, .stack_id = s->stack_id, .tid = tid };
    struct ls_bpf_value *v = bpf_map_lookup_elem(&waits, &key);
    if (!v) {
        struct ls_bpf_value first = { .count = 1, .total_ns = ns, .max_ns = ns, .min_ns = ns, .flags = s->flags, .kind = s->kind };
        __u32 b = bucket(ns);
        if (b < LS_BPF_BUCKETS) first.buckets[b] = 1;
        if (bpf_map_update_elem(&waits, &key, &first, BPF_NOEXIST) != 0) {
            /* Another CPU may have made it in between: add to that one. */
            v = bpf_map_lookup_elem(&waits, &key);
            if (!v) { count(LS_BPF_MAP_FULL); goto owner; }
        } else {
            count(LS_BPF_RECORDED);
            goto owner;
        }
    }
    __sync_fetch_and_add(&v->count, 1);
    __sync_fetch_and_add(&v->total_ns, ns);
    if (ns > v->max_ns) v->max_ns = ns;   /* racy by a few ns at worst, as perf's */
    if (ns < v->min_ns) v->min_ns = ns;
    __u32 b = bucket(ns);
    if (b < LS_BPF_BUCKETS) __sync_fetch_and_add(&v->buckets[b], 1);
    count(LS_BPF_RECORDED);
owner:
    if (s->owner_tid) {
        struct ls_bpf_owner_key ok = { .lock = s->lock, .owner_tid = s->owner_tid };
        struct ls_bpf_owner_value *ov = bpf_map_lookup_elem(&owners, &ok);
        if (ov) {
            __sync_fetch_and_add(&ov->count, 1);
            __sync_fetch_and_add(&ov->total_ns, ns);
        } else {
            struct ls_bpf_owner_value first = { .count = 1, .total_ns = ns };
            if (bpf_map_update_elem(&owners, &ok, &first, BPF_NOEXIST) != 0) count(LS_BPF_OWNERS_FULL);
        }
    }
    s->lock = 0;
    if (per_task) bpf_map_delete_elem(&task_starts, &tid);
    /* Waits of contexts inside this one have ended by now; a slot still held above it is an
       interrupt's whose end came while this program ran on the CPU (the kernel skips a program
       re-entered there), and would pair with a later end of the same lock: free them. A
       task's sleeping wait has no spinning one around it. */
    if (w) {
        for (int depth = 0; depth < LS_CPU_DEPTH; depth++) {
            if (depth > matched) w->slot[depth].lock = 0;
        }
    }
    return 0;
}

/* scope program: a process forked by a followed one is followed too. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child) {
    if (!scope_program()) return 0;
    __u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
    if (ptgid == ctgid || !bpf_map_lookup_elem(&followed, &ptgid)) return 0;
    __u8 yes = 1;
    bpf_map_update_elem(&followed, &ctgid, &yes, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
