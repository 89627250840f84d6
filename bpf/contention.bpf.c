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
/* For contention.wakers: the waiter's sleep state and pending signals, the waker's runqueue
   (to reach this CPU's preempt_count). */
typedef struct { unsigned long sig[1]; } ls_sigset;
struct sigpending { ls_sigset signal; } __attribute__((preserve_access_index));
struct signal_struct { struct sigpending shared_pending; } __attribute__((preserve_access_index));
/* __lock on 5.14+, lock before: the runqueue's own spinlock (rq_lock). */
typedef struct { int unused; } ls_raw_spinlock;
struct rq { int cpu; ls_raw_spinlock __lock; ls_raw_spinlock lock; } __attribute__((preserve_access_index));
struct kmem_cache { const char *name; } __attribute__((preserve_access_index));
/* The waker's system call number (x86-64: orig_ax; arm64: syscallno). */
struct pt_regs { long orig_ax; long syscallno; } __attribute__((preserve_access_index));
struct cfs_rq { struct rq *rq; } __attribute__((preserve_access_index));
struct sched_entity { struct cfs_rq *cfs_rq; } __attribute__((preserve_access_index));
struct cred {
    struct { unsigned int val; } uid;
    struct { unsigned int val; } euid;
} __attribute__((preserve_access_index));
struct task_struct {
    struct cred *cred;
    struct mm_struct *mm;
    struct sighand_struct *sighand;
    int pid;
    int tgid;
    char comm[16];
    struct task_struct *real_parent;
    unsigned int __state;
    unsigned int flags;
    unsigned long nvcsw;
    struct sigpending pending;
    ls_sigset blocked;
    struct signal_struct *signal;
    struct sched_entity se;
} __attribute__((preserve_access_index));

/* Kernels 6.2+: the owner's stack at begin. Weak, so the object still loads without them
   (bpf_ksym_exists is then false and no owner stack is taken). */
extern struct task_struct *bpf_task_from_pid(__s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
/* Kernels 6.13+: the slab cache an address lies in (a lock inside a slab object). */
extern struct kmem_cache *bpf_get_kmem_cache(__u64 addr) __ksym __weak;
/* Kernels 6.17+, which name the feature in enum bpf_features: bpf_rdonly_cast to void gives
   memory read by probe loads (the stack words of a call path, read in place: no helper's copy). */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym __weak;
enum bpf_features { BPF_FEAT_RDONLY_CAST_TO_VOID = 0 };
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); !!sym; })
#endif

/* include/linux/preempt.h, include/linux/sched.h */
#define LS_SOFTIRQ_OFFSET 0x00000100U
#define LS_HARDIRQ_MASK 0x000f0000U
#define LS_NMI_MASK 0x00f00000U
#define LS_TASK_INTERRUPTIBLE 0x0001
#define LS_TASK_WAKEKILL 0x0100
#define LS_PF_KTHREAD 0x00200000
#define LS_SIGKILL 9

/* A waker's stacks already taken in this wait, by (waker task, its system call): a re-wake by
   the same task in the same call reuses them instead of walking both stacks again. */
#define LS_WAKER_CACHE 2
struct waker_seen {
    __u32 tid;   /* 0: empty */
    __s32 syscall;
    __s32 stack;
    __s32 ustack;
};

/* A sleeping wait's handshake with its wakes still in their program: a wake's stack walks take
   microseconds, and a waiter that had not yet slept runs on at once, so its end can come before
   the wake it owes the lock to has written its waker. The word holds the wait's generation (upper
   half, 0: slot free), ENDED, and the wakes in flight; the last party out adds the wait to the
   waker aggregation. */
#define LS_WAIT_ENDED (1ULL << 31)
#define LS_WAIT_IN_FLIGHT 0x7fffffffULL

/* When a wait began, per waiting task (sleeping locks) or per CPU (spinning ones). */
struct start {
    __u64 time;
    __u64 lock;
    __u64 cgroup;
    __s32 stack_id;
    __u32 flags;
    __u32 owner_tid;
    __u32 kind;
    /* contention.wakers, sleeping locks: the task's voluntary switches at begin (did it sleep?)
       and its last wake before the end (written by sched_waking in the waker's context). */
    __u64 nvcsw;
    __s32 waker_stack;
    __s32 waker_ustack;
    __u32 waker_tgid;
    __u32 wake_class;
    __u32 next_seen;   /* the seen[] slot the next new (waker, call) replaces */
    struct waker_seen seen[LS_WAKER_CACHE];
    /* Sleeping locks: the handshake (above); the wakes begun, and the latest whose waker is
       written (the last wake begun names the waker, whichever finishes first). */
    __u64 word;
    __u32 tid;     /* the waiting task, spinning waits too (their end reads it here) */
    __u32 wakes;
    __u32 published;
    /* Written at the end for whoever adds the wait to the waker aggregation. */
    __s32 ret;
    __u64 ns;
    __u32 slept;
};

/* A task's sleeping waits: the current one, and the one before while its wakes finish it. */
struct task_waits {
    __u32 cur;   /* slot[cur & 1] is the current (or last) wait */
    __u32 gen;
    struct start slot[2];
};

/* Sized by lockstat before loading (contention.entries). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, struct ls_bpf_key); __type(value, struct ls_bpf_value); } waits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct ls_bpf_owner_key); __type(value, struct ls_bpf_owner_value); } owners SEC(".maps");
/* contention.wakers: sized as waits by lockstat. */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, struct ls_bpf_waker_key); __type(value, struct ls_bpf_waker_value); } wakers SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 4096); __uint(key_size, sizeof(__u32));
         __uint(value_size, LS_BPF_MAX_STACK * sizeof(__u64)); } user_stacks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 16384);
         __uint(key_size, sizeof(__u32)); __uint(value_size, LS_BPF_MAX_STACK * sizeof(__u64)); } stacks SEC(".maps");
/* contention.wakers: each sleeping lock's handover timeline, and hold under contention (sized by
   lockstat: LS_BPF_HANDOVER_ENTRIES, or 1 without wakers). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, __u64); __type(value, struct ls_bpf_handover); } locks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct ls_bpf_hold_key); __type(value, struct ls_bpf_hold_value); } holds SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct ls_bpf_owner_stack); __type(value, __u64); } owner_stacks SEC(".maps");
/* Per lock, the owner stack its current hold's first waiter took (the locks entry's
   owner_stack_tid says whose): later waiters of the same hold count it without a walk. */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, __u64); __type(value, struct ls_bpf_owner_stack); } owner_last SEC(".maps");
/* Owner stacks at begin: [0] walked, [1] reused from the hold's first waiter. */
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, __u64); } owner_stack_counts SEC(".maps");
/* Scratch for one owner stack (too large for the BPF stack). */
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct ls_bpf_owner_stack); } owner_scratch SEC(".maps");
/* Sleeping locks: a hash by task (the wait can move to another CPU). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, struct task_waits); } task_starts SEC(".maps");
/* Spinning locks: the waiter stays on its CPU, so a per-CPU slot needs no lock at all (a hash
   update takes a bucket lock, the very thing being measured). One slot per context that can
   spin inside another's spin on the same CPU — task, softirq, hardirq, NMI — used last in,
   first out: an interrupt's wait inside a task's is a contention of its own (perf counts it so,
   for the interrupted task). */
#define LS_CPU_DEPTH LS_BPF_CPU_DEPTH
struct cpu_waits { struct start slot[LS_CPU_DEPTH]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct cpu_waits); } cpu_starts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct ls_bpf_cpu_ended); } cpu_ended SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, char[LS_BPF_COMM]); } comms SEC(".maps");
/* Per CPU, the tasks whose comm is already in comms and the followed processes, by tid (tgid)
   modulo LS_KNOWN: most begins find theirs here instead of in a hash. A followed process stays
   followed, so a remembered yes is as true as the map's; a no is never remembered. */
#define LS_KNOWN 64
struct known_ids { __u32 comm[LS_KNOWN]; __u32 followed[LS_KNOWN]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct known_ids); } known SEC(".maps");
/* scope program: the tgids followed (the program's, then every process it forks). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536);
         __type(key, __u32); __type(value, __u8); } followed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, LS_BPF_COUNTERS);
         __type(key, __u32); __type(value, __u64); } counters SEC(".maps");
/* Lock names (read by lockstat, which deletes what it read): a slab object's lock → its cache,
   noted once per new aggregation key; each cache's name, read once per cache; each CPU's
   &rq->__lock, stored once. */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, LS_BPF_NAMED_LOCKS);
         __type(key, __u64); __type(value, __u64); } lock_caches SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, LS_BPF_CACHES);
         __type(key, __u64); __type(value, char[LS_BPF_CACHE_NAME]); } cache_names SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } rq_locks SEC(".maps");
/* enum ls_bpf_setting. */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, LS_BPF_SETTINGS);
         __type(key, __u32); __type(value, __u64); } settings SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64 *c = bpf_map_lookup_elem(&counters, &which);
    if (c) *c += 1;   /* per CPU: no other writer */
}

static __always_inline __u64 setting(__u32 which) {
    __u64 *s = bpf_map_lookup_elem(&settings, &which);
    return s ? *s : 0;
}

static __always_inline int scope_program(void) { return setting(LS_BPF_SETTING_SCOPE) != 0; }

/* A kernel stack found again by its call path, without the unwinder: the unwinder's walk is
   most of a program's time (3.5 µs of the futex storm's 3.9 µs a begin, on this kernel's ORC
   with return thunks), while the stack words above the program's context hold the call path's
   return addresses at fixed distances. The first LS_PATH_WORDS words there that point into the
   kernel's text, hashed, with the task's system call, name the path; a path seen before gives
   its stack id. Deeper paths that share those words would share a stack: a path's first
   LS_PATH_LEARN uses and then one in LS_PATH_CHECK, at random, walk anyway, and a path whose
   walk gives another stack is walked every time from then on (counted). The words below the
   system call's frame move with the kernel's per-call stack offset and hold stale addresses: a
   path whose first words reach them is found less often. */
#define LS_PATH_WORDS 8
#define LS_PATH_HALF 64       /* words read at once: the second half only when the first had too few */
#define LS_PATH_LEARN 16
#define LS_PATH_CHECK 64
#define LS_THREAD_SIZE 16384  /* x86-64, arm64 (without KASAN): a longer stack only reads less */
struct path_key {
    __u64 hash;   /* FNV-1a over the words */
    __s32 syscall;
    __u32 words;
};
struct path_value {
    __s32 stack_id;
    __u16 conflict;
    __u16 uses;   /* counted up to LS_PATH_LEARN only: no write to a path's entry after that */
};
struct path_scratch {
    __u64 window[2 * LS_PATH_HALF];
    struct path_key key;
};
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct path_key); __type(value, struct path_value); } paths SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct path_scratch); } path_scratch SEC(".maps");

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
    __u32 zero = 0;
    struct known_ids *k = bpf_map_lookup_elem(&known, &zero);
    if (k && tid && k->comm[tid % LS_KNOWN] == tid) return;
    if (k) k->comm[tid % LS_KNOWN] = tid;
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
        struct mm_struct *mm = task->mm;
        if (mm && (__u64)&mm->mmap_lock == lock) return LS_LOCK_KIND_MMAP;
    } else if (flags == LCB_F_SPIN) {
        struct sighand_struct *sighand = task->sighand;
        if (sighand && (__u64)&sighand->siglock == lock) return LS_LOCK_KIND_SIGHAND;
    }
    return 0;
}

/* Whether the kernel has a weak kfunc, and the tests did not ask to act as if it had none. */
#define ls_kfunc(sym) (bpf_ksym_exists(sym) && !setting(LS_BPF_SETTING_NO_KFUNCS))
/* Whether kernel memory is read in place (bpf_rdonly_cast to void, above), not copied by
   bpf_probe_read_kernel: a helper's call and return each time. */
#define ls_direct_reads() \
    (bpf_core_enum_value_exists(enum bpf_features, BPF_FEAT_RDONLY_CAST_TO_VOID) && !setting(LS_BPF_SETTING_NO_KFUNCS))

/* This CPU's &rq->__lock, stored the first time a spinning wait begins on the CPU while a task
   of a CFS group runs on it (its cfs_rq names its runqueue): lockstat names that address. */
static __always_inline void note_rq_lock(struct task_struct *task) {
    __u32 zero = 0;
    __u64 *known = bpf_map_lookup_elem(&rq_locks, &zero);
    if (!known || *known || setting(LS_BPF_SETTING_NO_KFUNCS) || !bpf_core_field_exists(task->se.cfs_rq)) return;
    struct rq *rq = BPF_CORE_READ(task, se.cfs_rq, rq);
    if (!rq || BPF_CORE_READ(rq, cpu) != (int)bpf_get_smp_processor_id()) return;
    if (bpf_core_field_exists(rq->__lock)) *known = (__u64)&rq->__lock;
    else if (bpf_core_field_exists(rq->lock)) *known = (__u64)&rq->lock;
}

/* A new aggregation key's lock, when it lies in a slab object: its cache, and the cache's name
   the first time the cache is seen. */
static __always_inline void note_slab_lock(__u64 lock) {
    if (!ls_kfunc(bpf_get_kmem_cache)) return;
    struct kmem_cache *cache = bpf_get_kmem_cache(lock);
    if (!cache) return;
    __u64 c = (__u64)cache;
    if (!bpf_map_lookup_elem(&cache_names, &c)) {
        char name[LS_BPF_CACHE_NAME] = {};
        const char *p = BPF_CORE_READ(cache, name);
        if (!p || bpf_probe_read_kernel_str(name, sizeof name, p) <= 0) return;
        bpf_map_update_elem(&cache_names, &c, &name, BPF_NOEXIST);
    }
    bpf_map_update_elem(&lock_caches, &lock, &c, BPF_ANY);
}

/* The system call the current task is in (-1 outside one, or where pt_regs names none). */
static __always_inline __s32 syscall_of(struct task_struct *task) {
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    if (!regs) return -1;
    if (bpf_core_field_exists(regs->orig_ax)) return (__s32)regs->orig_ax;
    if (bpf_core_field_exists(regs->syscallno)) return (__s32)regs->syscallno;
    return -1;
}

/* One word of the path's scan: unrolled, with no index that depends on the words (the verifier
   merges both sides of each test) and no call per word (a bpf_loop's call and return thunk cost
   more than the test). */
#define LS_PATH_WORD(i)                                                   \
    if ((i) >= words) goto scanned;                                       \
    x = w[(i)];                                                           \
    if (x - start < span) {                                               \
        h = (h ^ x) * 0x100000001b3ULL;                                   \
        if (++n == LS_PATH_WORDS) goto scanned;                           \
    }
#define LS_PATH_WORDS8(i) LS_PATH_WORD(i) LS_PATH_WORD(i + 1) LS_PATH_WORD(i + 2) LS_PATH_WORD(i + 3) \
    LS_PATH_WORD(i + 4) LS_PATH_WORD(i + 5) LS_PATH_WORD(i + 6) LS_PATH_WORD(i + 7)

/* This CPU's preempt_count with x86's inverted PREEMPT_NEED_RESCHED (bit 31) masked off; -1
   when not known. No ksym reaches it where the kernel lacks CONFIG_KALLSYMS_ALL, so it is read
   at its BTF-given distance from this CPU's runqueue, which the current task's cfs_rq names. */
static __always_inline int preempt_count(struct task_struct *task) {
    if (!setting(LS_BPF_SETTING_PC_KNOWN) || !bpf_core_field_exists(task->se.cfs_rq)) return -1;
    /* Direct loads where the verifier allows them (probe loads, no helper call): this runs at
       every begin. The runqueue's address as a number takes a read: no arithmetic on the pointer. */
    struct cfs_rq *cfs_rq = task->se.cfs_rq;
    struct rq *rq = cfs_rq ? cfs_rq->rq : 0;
    if (!rq || rq->cpu != (int)bpf_get_smp_processor_id()) return -1;
    unsigned int pc = 0;
    if (ls_direct_reads()) {
        const __u8 *r = bpf_rdonly_cast(rq, 0);
        pc = *(const unsigned int *)(r + setting(LS_BPF_SETTING_PC_FROM_RQ));
        return (int)(pc & 0x7fffffff);
    }
    __u64 address = 0;
    if (bpf_probe_read_kernel(&address, sizeof address, &cfs_rq->rq) != 0 ||
        bpf_probe_read_kernel(&pc, sizeof pc, (void *)(address + setting(LS_BPF_SETTING_PC_FROM_RQ))) != 0)
        return -1;
    return (int)(pc & 0x7fffffff);
}

/* The call path's key (above) from the stack over `ctx`; 0 where it cannot be read, or in an
   interrupt (its stack continues into whatever task it interrupted, wherever that was: the same
   words, another stack). */
static __always_inline struct path_key *path_of(void *ctx, struct task_struct *task) {
    __u64 start = setting(LS_BPF_SETTING_TEXT_START), end = setting(LS_BPF_SETTING_TEXT_END);
    __u32 zero = 0;
    struct path_scratch *p = start ? bpf_map_lookup_elem(&path_scratch, &zero) : 0;
    if (!p) return 0;
    int pc = preempt_count(task);
    if (pc < 0 || (pc & (LS_NMI_MASK | LS_HARDIRQ_MASK | LS_SOFTIRQ_OFFSET))) return 0;
    /* The context's address: the verifier allows no arithmetic on the pointer itself. */
    void *volatile spilled = ctx;
    __u64 base = 0;
    if (bpf_probe_read_kernel(&base, sizeof base, (void *)&spilled) != 0 || !base) return 0;
    __u64 room = ((base | (LS_THREAD_SIZE - 1)) + 1) - base;
    __u64 span = end - start, h = 0xcbf29ce484222325ULL, n = 0, words, x;
    const __u64 *w;
    if (ls_direct_reads()) {
        /* In place: a probe load a word, only as far as the path's words reach. */
        w = bpf_rdonly_cast(ctx, 0);
        words = room / 8 < 2 * LS_PATH_HALF ? room / 8 : 2 * LS_PATH_HALF;
        LS_PATH_WORDS8(0) LS_PATH_WORDS8(8) LS_PATH_WORDS8(16) LS_PATH_WORDS8(24)
        LS_PATH_WORDS8(32) LS_PATH_WORDS8(40) LS_PATH_WORDS8(48) LS_PATH_WORDS8(56)
        LS_PATH_WORDS8(64) LS_PATH_WORDS8(72) LS_PATH_WORDS8(80) LS_PATH_WORDS8(88)
        LS_PATH_WORDS8(96) LS_PATH_WORDS8(104) LS_PATH_WORDS8(112) LS_PATH_WORDS8(120)
        goto scanned;
    }
    w = p->window;
    __u32 half = sizeof p->window / 2;
    __u32 size = room < half ? (__u32)room : half;
    if (size < 64 || bpf_probe_read_kernel(p->window, size, (void *)base) != 0) return 0;
    words = size / 8;
    LS_PATH_WORDS8(0) LS_PATH_WORDS8(8) LS_PATH_WORDS8(16) LS_PATH_WORDS8(24)
    LS_PATH_WORDS8(32) LS_PATH_WORDS8(40) LS_PATH_WORDS8(48) LS_PATH_WORDS8(56)
    if (room <= half) goto scanned;
    size = room - half < half ? (__u32)(room - half) : half;
    if (size < 8 || bpf_probe_read_kernel(&p->window[LS_PATH_HALF], size, (void *)(base + half)) != 0) return 0;
    words = LS_PATH_HALF + size / 8;
    LS_PATH_WORDS8(64) LS_PATH_WORDS8(72) LS_PATH_WORDS8(80) LS_PATH_WORDS8(88)
    LS_PATH_WORDS8(96) LS_PATH_WORDS8(104) LS_PATH_WORDS8(112) LS_PATH_WORDS8(120)
scanned:
    p->key.hash = h;
    p->key.words = (__u32)n;
    p->key.syscall = syscall_of(task);
    return &p->key;
}

/* The current kernel stack's id in `map`: found again by its call path, or walked. The walk
   skips its first frame, the program's own address, which differs between the program's call
   sites of the helper (lockstat drops the tracing frames anyway). */
static __always_inline __s32 kernel_stack(void *ctx, void *map, struct task_struct *task) {
    struct path_key *key = path_of(ctx, task);
    struct path_value *known = key ? bpf_map_lookup_elem(&paths, key) : 0;
    int check = 0;
    if (known && !known->conflict) {
        count(LS_BPF_PATH_HITS);
        if (known->uses < LS_PATH_LEARN) {
            known->uses++;   /* racy between CPUs: a use more or less */
            check = 1;
        } else {
            check = setting(LS_BPF_SETTING_CHECK_PATHS) || bpf_get_prandom_u32() % LS_PATH_CHECK == 0;
        }
        if (!check) return known->stack_id;
    }
    __s32 id = bpf_get_stackid(ctx, map, BPF_F_FAST_STACK_CMP | 1);
    if (id < 0) return id;
    if (check && id != known->stack_id) {
        known->conflict = 1;
        count(LS_BPF_PATH_CONFLICTS);
    } else if (key && !known) {
        struct path_value first = { .stack_id = id };
        bpf_map_update_elem(&paths, key, &first, BPF_NOEXIST);
    }
    return id;
}

/* One wait into the aggregation. */
static __always_inline void add_wait(struct ls_bpf_key *key, __u64 ns, __u32 flags, __u32 kind) {
    struct ls_bpf_value *v = bpf_map_lookup_elem(&waits, key);
    if (!v) {
        /* Before the entry exists: a drain that reads the entry finds its lock's name too. */
        note_slab_lock(key->lock);
        struct ls_bpf_value first = { .count = 1, .total_ns = ns, .max_ns = ns, .min_ns = ns, .flags = flags, .kind = kind };
        __u32 b = bucket(ns);
        if (b < LS_BPF_BUCKETS) first.buckets[b] = 1;
        if (bpf_map_update_elem(&waits, key, &first, BPF_NOEXIST) == 0) { count(LS_BPF_RECORDED); return; }
        /* Another CPU may have made it in between: add to that one. */
        v = bpf_map_lookup_elem(&waits, key);
        if (!v) { count(LS_BPF_MAP_FULL); return; }
    }
    __sync_fetch_and_add(&v->count, 1);
    __sync_fetch_and_add(&v->total_ns, ns);
    if (ns > v->max_ns) v->max_ns = ns;   /* racy by a few ns at worst, as perf's */
    if (ns < v->min_ns) v->min_ns = ns;
    __u32 b = bucket(ns);
    if (b < LS_BPF_BUCKETS) __sync_fetch_and_add(&v->buckets[b], 1);
    count(LS_BPF_RECORDED);
}

/* At a spinning begin (preemption is off: only an interrupt's program can come in between),
   the CPU's ended spinning waits into the aggregation. */
static __always_inline void add_ended(void) {
    __u32 zero = 0;
    struct ls_bpf_cpu_ended *e = bpf_map_lookup_elem(&cpu_ended, &zero);
    if (!e || e->busy || !e->n) return;
    e->busy = 1;
    for (int i = 0; i < LS_CPU_DEPTH; i++) {
        if (i >= e->n) break;
        add_wait(&e->ended[i].key, e->ended[i].ns, e->ended[i].flags, e->ended[i].kind);
    }
    e->n = 0;
    e->busy = 0;
}

/* scope program: whether the process is one of the program's tree. */
static __always_inline int is_followed(__u32 tgid) {
    __u32 zero = 0;
    struct known_ids *k = bpf_map_lookup_elem(&known, &zero);
    if (k && tgid && k->followed[tgid % LS_KNOWN] == tgid) return 1;
    if (!bpf_map_lookup_elem(&followed, &tgid)) return 0;
    if (k) k->followed[tgid % LS_KNOWN] = tgid;
    return 1;
}

/* A kept wait on a sleeping lock begins: the first waiter starts the lock's episode, whose
   first holder (whoever held it then) is not tracked. */
static __always_inline void handover_begin(__u64 lock, __u64 now) {
    struct ls_bpf_handover *l = bpf_map_lookup_elem(&locks, &lock);
    if (!l) {
        struct ls_bpf_handover zero = {};
        bpf_map_update_elem(&locks, &lock, &zero, BPF_NOEXIST);   /* or another CPU made it */
        l = bpf_map_lookup_elem(&locks, &lock);
        if (!l) return;
    }
    if (__sync_fetch_and_add(&l->nwait, 1) == 0) {
        l->since = now;
        l->mark = now;
        l->gap = 0;
        l->holder_tid = 0;
    }
}

static __always_inline void add_hold(__u64 lock, __s32 stack_id, __u64 ns) {
    struct ls_bpf_hold_key key = { .lock = lock, .stack_id = stack_id };
    struct ls_bpf_hold_value *v = bpf_map_lookup_elem(&holds, &key);
    if (!v) {
        struct ls_bpf_hold_value zero = {};
        bpf_map_update_elem(&holds, &key, &zero, BPF_NOEXIST);
        v = bpf_map_lookup_elem(&holds, &key);
        if (!v) return;
    }
    __sync_fetch_and_add(&v->count, 1);
    __sync_fetch_and_add(&v->total_ns, ns);
    if (ns > v->max_ns) v->max_ns = ns;
    __u32 b = bucket(ns);
    if (b < LS_BPF_BUCKETS) __sync_fetch_and_add(&v->buckets[b], 1);
}

/* A task (not an interrupt, not a signal) woke a waiter of `lock`: the lock was released. The
   first release after an acquisition ends that hold; later ones (a stealer's) fall in the gap. */
static __always_inline void handover_release(__u64 lock, __u32 waker, __u64 now) {
    struct ls_bpf_handover *l = bpf_map_lookup_elem(&locks, &lock);
    if (!l) return;
    l->owner_stack_tid = 0;   /* the hold ends: the next owner's stack is walked again */
    if (l->nwait <= 0 || l->gap) return;
    __u64 span = now > l->mark ? now - l->mark : 0;
    if (l->holder_tid && l->holder_tid == waker) {
        add_hold(lock, l->holder_stack, now > l->acquired_at ? now - l->acquired_at : 0);
        __sync_fetch_and_add(&l->hold_ns, span);
        __sync_fetch_and_add(&l->holds, 1);
    } else {
        __sync_fetch_and_add(&l->untracked_ns, span);
        __sync_fetch_and_add(&l->untracked_releases, 1);
    }
    l->holder_tid = 0;
    l->mark = now;
    l->gap = 1;
}

/* A kept wait on a sleeping lock ended: acquired (ret 0) ends a gap, and an exclusive holder is
   tracked until its release; the last waiter's end ends the episode. */
static __always_inline void handover_end(__u64 lock, __u32 tid, int ret, __u32 flags, __s32 stack_id, __u64 now) {
    struct ls_bpf_handover *l = bpf_map_lookup_elem(&locks, &lock);
    if (!l) return;
    __u64 span = now > l->mark ? now - l->mark : 0;
    int last = __sync_fetch_and_add(&l->nwait, -1) == 1;
    if (ret == 0 || last) {
        /* Held with no release seen: the holder's end was not a wake (handoff, reader). */
        if (l->gap) __sync_fetch_and_add(&l->gap_ns, span);
        else __sync_fetch_and_add(&l->untracked_ns, span);
        l->mark = now;
        l->gap = 0;
        l->holder_tid = 0;
        l->owner_stack_tid = 0;
    }
    if (last) {
        __sync_fetch_and_add(&l->contended_ns, now > l->since ? now - l->since : 0);
        __sync_fetch_and_add(&l->episodes, 1);
    } else if (ret == 0 && !(flags & LCB_F_READ)) {
        l->holder_tid = tid;
        l->holder_stack = stack_id;
        l->acquired_at = now;
    }
}

static __always_inline void count_owner_stack(__u32 which) {
    __u64 *c = bpf_map_lookup_elem(&owner_stack_counts, &which);
    if (c) *c += 1;
}

/* The owner's kernel stack at this begin, as perf takes it: a walk of another task's stack, taken
   once per hold (the first begin that sees this owner since the lock's last release or
   acquisition): every waiter of one hold would walk the same owner, each walk microseconds. */
static __always_inline void owner_stack(__u64 lock, __u32 owner_tid) {
    if (!ls_kfunc(bpf_task_from_pid)) return;
    __u32 zero = 0;
    struct ls_bpf_handover *l = bpf_map_lookup_elem(&locks, &lock);
    if (l && l->owner_stack_tid == owner_tid) {
        struct ls_bpf_owner_stack *last = bpf_map_lookup_elem(&owner_last, &lock);
        __u64 *c = last ? bpf_map_lookup_elem(&owner_stacks, last) : 0;
        if (c) {
            __sync_fetch_and_add(c, 1);
            count_owner_stack(1);
            return;
        }
    }
    struct ls_bpf_owner_stack *k = bpf_map_lookup_elem(&owner_scratch, &zero);
    if (!k) return;
    struct task_struct *t = bpf_task_from_pid((__s32)owner_tid);
    if (!t) return;
    __builtin_memset(k, 0, sizeof(*k));
    long n = bpf_get_task_stack(t, k->ips, sizeof(k->ips), 0);
    bpf_task_release(t);
    if (n <= 0) return;
    count_owner_stack(0);
    k->lock = lock;
    __u64 *c = bpf_map_lookup_elem(&owner_stacks, k);
    if (c) __sync_fetch_and_add(c, 1);
    else {
        __u64 one = 1;
        if (bpf_map_update_elem(&owner_stacks, k, &one, BPF_NOEXIST) != 0) return;
    }
    /* The hold's later waiters count this one: its lock entry exists from the episode's first begin. */
    if (!l || bpf_map_update_elem(&owner_last, &lock, k, BPF_ANY) != 0) return;
    l->owner_stack_tid = owner_tid;
}

SEC("tp_btf/contention_begin")
int BPF_PROG(contention_begin, void *lock, unsigned int flags) {
    count(LS_BPF_BEGINS);
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
    if (spinning(flags)) add_ended();
    if (scope_program() && !is_followed(tgid)) { count(LS_BPF_FILTERED); return 0; }
    struct start *s;
    struct task_waits *t = 0;
    __u32 zero = 0, slot = 0;
    if (spinning(flags)) {
        struct cpu_waits *w = bpf_map_lookup_elem(&cpu_starts, &zero);
        if (!w) return 0;
        int depth = 0;
        while (depth < LS_CPU_DEPTH && w->slot[depth].lock) depth++;
        if (depth >= LS_CPU_DEPTH) { count(LS_BPF_NESTED); return 0; }   /* deeper than NMI: not kept */
        s = &w->slot[depth];
    } else {
        t = bpf_map_lookup_elem(&task_starts, &tid);
        if (!t) {
            struct task_waits empty = {};
            if (bpf_map_update_elem(&task_starts, &tid, &empty, BPF_NOEXIST) != 0) { count(LS_BPF_TSTAMP_FAILED); return 0; }
            t = bpf_map_lookup_elem(&task_starts, &tid);
            if (!t) { count(LS_BPF_TSTAMP_FAILED); return 0; }
        }
        struct start *cur = &t->slot[t->cur & 1];
        /* Still the first wait's. */
        if (cur->word && !(cur->word & LS_WAIT_ENDED)) { count(LS_BPF_NESTED); return 0; }
        /* The last wait's slot while wakes of it are still in flight: the other one. */
        slot = cur->word ? t->cur + 1 : t->cur;
        s = &t->slot[slot & 1];
        if (s->word) { count(LS_BPF_TSTAMP_FAILED); return 0; }
    }
    struct task_struct *task = bpf_get_current_task_btf();
    if (!spinning(flags)) {
        s->waker_stack = -1;
        s->waker_ustack = -1;
        s->waker_tgid = 0;
        s->wake_class = LS_WAKE_NONE;
        s->wakes = 0;
        s->published = 0;
        s->next_seen = 0;
        for (int i = 0; i < LS_WAKER_CACHE; i++) s->seen[i].tid = 0;
        s->nvcsw = task->nvcsw;
    }
    s->lock = (__u64)lock;
    s->tid = tid;
    s->flags = flags;
    s->cgroup = bpf_get_current_cgroup_id();
    s->stack_id = kernel_stack(ctx, &stacks, task);
    if (s->stack_id < 0) count(LS_BPF_STACK_FAILED);
    s->kind = kind_of(task, (__u64)lock, flags);
    if (spinning(flags)) note_rq_lock(task);
    s->owner_tid = 0;
    struct task_struct *owner = owner_of((__u64)lock, flags);
    if (owner) {
        s->owner_tid = BPF_CORE_READ(owner, pid);
        remember_comm(owner, s->owner_tid);
    }
    remember_comm(task, tid);
    /* Before the wait's start time: the walk is not the wait's. */
    int wakers = !spinning(flags) && setting(LS_BPF_SETTING_WAKERS);
    if (wakers && s->owner_tid && setting(LS_BPF_SETTING_OWNER_STACKS)) owner_stack((__u64)lock, s->owner_tid);
    s->time = bpf_ktime_get_ns();
    if (wakers) handover_begin((__u64)lock, s->time);
    if (t) {
        /* Published last: a wake joins a wait only once it is whole. */
        t->gen = t->gen + 1 ? t->gen + 1 : 1;
        s->word = (__u64)t->gen << 32;
        t->cur = slot;
    }
    return 0;
}

/* A sleeping lock's wait into the waker aggregation: its last wake's waker, or why none. */
static __always_inline void add_waker(struct start *s) {
    __u64 ns = s->ns;
    int slept = s->slept, ret = s->ret;
    __u32 wakes = s->wakes;
    struct ls_bpf_waker_key key = { .lock = s->lock, .stack_id = s->stack_id, .waker_stack = s->waker_stack,
                                    .waker_ustack = s->waker_ustack, .wake_class = s->wake_class,
                                    .waker_tgid = s->waker_ustack >= 0 ? s->waker_tgid : 0 };
    /* A mutex's optimistic spin (begun with LCB_F_SPIN) that took the lock without sleeping. */
    if (!slept && !wakes && (s->flags & LCB_F_SPIN)) key.wake_class = LS_WAKE_SPINNING;
    struct ls_bpf_waker_value *v = bpf_map_lookup_elem(&wakers, &key);
    if (!v) {
        struct ls_bpf_waker_value zero = {};
        bpf_map_update_elem(&wakers, &key, &zero, BPF_NOEXIST);   /* or another CPU made it */
        v = bpf_map_lookup_elem(&wakers, &key);
        if (!v) { count(LS_BPF_WAKERS_FULL); return; }
    }
    __sync_fetch_and_add(&v->count, 1);
    __sync_fetch_and_add(&v->total_ns, ns);
    if (slept) {
        __sync_fetch_and_add(&v->slept, 1);
        __sync_fetch_and_add(&v->slept_ns, ns);
    }
    if (wakes) __sync_fetch_and_add(&v->wakes, wakes);
    if (ret) __sync_fetch_and_add(&v->failed, 1);
}

/* The last party out of an ended sleeping wait: its waker counted, its slot freed. */
static __always_inline void finish_wait(struct start *s) {
    if (setting(LS_BPF_SETTING_WAKERS)) add_waker(s);
    s->lock = 0;
    s->word = 0;
}

/* A wake leaves its wait's handshake; the last one out of a wait that has ended finishes it. */
static __always_inline void leave_wait(struct start *s) {
    __u64 w = __sync_fetch_and_add(&s->word, -1) - 1;
    if ((w & LS_WAIT_ENDED) && !(w & LS_WAIT_IN_FLIGHT)) finish_wait(s);
}

/* A wake joins its waiter's current wait unless that has ended (or the slot is another task's:
   an element freed and reused since the lookup). */
static __always_inline int join_wait(struct start *s, __u32 waiter) {
    for (int i = 0; i < 4; i++) {
        __u64 w = s->word;
        if (!w || (w & LS_WAIT_ENDED)) return 0;
        if (__sync_val_compare_and_swap(&s->word, w, w + 1) != w) continue;
        if (s->tid == waiter) return 1;
        leave_wait(s);
        return 0;
    }
    return 0;
}

/* Whether `p` is being woken for a signal: it sleeps interruptibly with an unblocked signal
   pending, or killably with SIGKILL pending. Read from the pending sets, as the bit of
   TIF_SIGPENDING differs between kernels. */
static __always_inline int woken_by_signal(struct task_struct *p) {
    unsigned int state = BPF_CORE_READ(p, __state);
    if (!(state & (LS_TASK_INTERRUPTIBLE | LS_TASK_WAKEKILL))) return 0;
    unsigned long pending = BPF_CORE_READ(p, pending.signal.sig[0]);
    pending |= BPF_CORE_READ(p, signal, shared_pending.signal.sig[0]);
    if (state & LS_TASK_INTERRUPTIBLE) return (pending & ~BPF_CORE_READ(p, blocked.sig[0])) != 0;
    return (pending & (1UL << (LS_SIGKILL - 1))) != 0;
}

/* Whether a waker's user stack may be kept: they land in files the invoking user reads, so only
   the program's tasks' (scope program) or the invoking user's own processes' (real and effective
   uid theirs), or everyone's when that user is root. */
static __always_inline int user_stack_kept(struct task_struct *waker) {
    if (scope_program()) {
        __u32 tgid = BPF_CORE_READ(waker, tgid);
        return bpf_map_lookup_elem(&followed, &tgid) != 0;
    }
    __u64 who = setting(LS_BPF_SETTING_USER_STACKS_OF);
    if (who == LS_BPF_USER_STACKS_OF_ALL) return 1;
    if (who == 0) return 0;
    return BPF_CORE_READ(waker, cred, uid.val) == who - 1 && BPF_CORE_READ(waker, cred, euid.val) == who - 1;
}

/* contention.wakers: a wake of a task waiting on a sleeping lock, in the waker's context. The
   last wake before contention_end is the one kept (a wake whose lock another task took first
   is followed by another). */
SEC("tp_btf/sched_waking")
int BPF_PROG(sched_waking, struct task_struct *p) {
    __u32 waiter = p->pid;
    struct task_waits *t = bpf_map_lookup_elem(&task_starts, &waiter);
    if (!t) return 0;
    struct start *s = &t->slot[t->cur & 1];
    if (!join_wait(s, waiter)) return 0;
    count(LS_BPF_WAITER_WAKES);
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    if (tid == waiter) { count(LS_BPF_SELF_WAKES); leave_wait(s); return 0; }
    __u32 seq = __sync_fetch_and_add(&s->wakes, 1) + 1;
    struct task_struct *waker = bpf_get_current_task_btf();
    int pc = preempt_count(waker);
    __u16 class;
    if (pc < 0) { count(LS_BPF_PC_UNKNOWN); pc = 0; }
    if (pc & LS_NMI_MASK) class = LS_WAKE_NMI;
    else if (pc & LS_HARDIRQ_MASK) class = LS_WAKE_HARDIRQ;
    else if (pc & LS_SOFTIRQ_OFFSET) class = LS_WAKE_SOFTIRQ;
    else if (woken_by_signal(p)) class = LS_WAKE_SIGNAL;
    else class = (BPF_CORE_READ(waker, flags) & LS_PF_KTHREAD) ? LS_WAKE_KTHREAD : LS_WAKE_TASK;
    /* An interrupt's wake is not the lock's release: no stack (the interrupted task is unrelated).
       A signal's keeps the sender's stack, reported as no waker. */
    __s32 stack = -1, ustack = -1;
    __u32 tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
    if (class == LS_WAKE_TASK) {
        /* A releaser that keeps re-taking the lock by optimistic spinning wakes the same waiter
           again and again from the same call: its stacks are walked once per wait and call. */
        __s32 call = syscall_of(waker);
        int hit = -1;
        for (int i = 0; i < LS_WAKER_CACHE; i++) {
            if (s->seen[i].tid == tid && s->seen[i].syscall == call) hit = i;
        }
        if (hit >= 0 && hit < LS_WAKER_CACHE) {
            stack = s->seen[hit].stack;
            ustack = s->seen[hit].ustack;
            count(LS_BPF_WAKER_STACKS_REUSED);
        } else {
            stack = kernel_stack(ctx, &stacks, waker);
            if (user_stack_kept(waker))
                ustack = bpf_get_stackid(ctx, &user_stacks, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
            __u32 slot = s->next_seen % LS_WAKER_CACHE;
            s->seen[slot].tid = tid;
            s->seen[slot].syscall = call;
            s->seen[slot].stack = stack;
            s->seen[slot].ustack = ustack;
            s->next_seen = slot + 1;
        }
    } else if (class == LS_WAKE_KTHREAD || class == LS_WAKE_SIGNAL) {
        stack = bpf_get_stackid(ctx, &stacks, BPF_F_FAST_STACK_CMP);
    }
    if (class == LS_WAKE_TASK || class == LS_WAKE_KTHREAD) handover_release(s->lock, tid, bpf_ktime_get_ns());
    /* A later wake of the same wait that finished first has written its (the last) waker. */
    if (seq > s->published) {
        s->published = seq;
        s->waker_stack = stack;
        s->waker_ustack = ustack;
        s->waker_tgid = tgid;
        s->wake_class = class;
    }
    leave_wait(s);
    return 0;
}

SEC("tp_btf/contention_end")
int BPF_PROG(contention_end, void *lock, int ret) {
    __u64 now = bpf_ktime_get_ns();
    __u32 zero = 0, tid;
    /* A spinning wait is this CPU's, the innermost one on this lock; else the task's (it
       cannot sleep inside a spinning one). A spinning wait's end holds the lock: it does the
       least it can (no helper but the clock; its task's id is the begin's). */
    struct cpu_waits *w = bpf_map_lookup_elem(&cpu_starts, &zero);
    struct start *s = 0;
    struct task_waits *t = 0;
    int per_task = 0, matched = -1;
    if (w) {
        for (int depth = LS_CPU_DEPTH - 1; depth >= 0; depth--) {
            if (w->slot[depth].lock == (__u64)lock) { s = &w->slot[depth]; matched = depth; break; }
        }
    }
    if (s) {
        tid = s->tid;
    } else {
        tid = (__u32)bpf_get_current_pid_tgid();
        t = bpf_map_lookup_elem(&task_starts, &tid);
        if (!t) return 0;
        s = &t->slot[t->cur & 1];
        /* The end of a begin that was not kept. */
        if (s->lock != (__u64)lock || !s->word || (s->word & LS_WAIT_ENDED)) return 0;
        per_task = 1;
    }
    __u64 ns = now > s->time ? now - s->time : 0;
    if (!per_task) {
        /* A spinning wait: its lock is held now, so its aggregation waits for the CPU's next
           spinning begin (or for lockstat, at the run's end) unless a program this one
           interrupted is changing the CPU's ended waits, or they are full. */
        struct ls_bpf_cpu_ended *e = bpf_map_lookup_elem(&cpu_ended, &zero);
        if (e && !e->busy && e->n < LS_CPU_DEPTH) {
            e->busy = 1;
            struct ls_bpf_ended *r = &e->ended[e->n & (LS_CPU_DEPTH - 1)];
            r->key.lock = s->lock;
            r->key.stack_id = s->stack_id;
            r->key.tid = tid;
            r->key.cgroup = s->cgroup;
            r->ns = ns;
            r->flags = s->flags;
            r->kind = s->kind;
            e->n++;
            e->busy = 0;
        } else {
            struct ls_bpf_key key = { .lock = s->lock, .stack_id = s->stack_id, .tid = tid, .cgroup = s->cgroup };
            add_wait(&key, ns, s->flags, s->kind);
        }
        s->lock = 0;
        goto inner;
    }
    struct ls_bpf_key key = { .lock = s->lock, .stack_id = s->stack_id, .tid = tid, .cgroup = s->cgroup };
    add_wait(&key, ns, s->flags, s->kind);
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
    if (setting(LS_BPF_SETTING_WAKERS)) {
        handover_end(s->lock, tid, ret, s->flags, s->stack_id, now);
        struct task_struct *task = bpf_get_current_task_btf();
        s->slept = task->nvcsw != s->nvcsw;
        s->ns = ns;
        s->ret = ret;
    }
    if (__sync_fetch_and_or(&s->word, LS_WAIT_ENDED) & LS_WAIT_IN_FLIGHT) count(LS_BPF_WAKES_IN_FLIGHT);
    else finish_wait(s);
    /* Kept while the wakes of a wait still finish it (the task's next end frees it). */
    if (!t->slot[0].word && !t->slot[1].word) bpf_map_delete_elem(&task_starts, &tid);
inner:
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
