/* The futex module: every futex wait of the tasks in scope, timed from the system call's entry
   to its exit, with the waiter's and (when a task woke it) the waker's stacks, aggregated in the
   kernel. Compiled by scripts/build-bpf.sh into Sources/CLockstat/futex_bpf_object.c.

   x86-64: the user registers are read as x86-64's pt_regs (CO-RE relocates the fields). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "clockstat_futex.h"

#define FUTEX_CMD_MASK (~(128 | 256))   /* FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME */
#define EAGAIN 11
#define EINTR 4
#define ETIMEDOUT 110
#define ERESTARTSYS 512
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
/* x86-64 system call numbers of the futex calls a waker may be in. */
#define NR_futex 202
#define NR_futex_waitv 449
#define NR_futex_wake 454
#define NR_futex_wait 455
#define NR_futex_requeue 456

struct pt_regs { unsigned long di, bp, ip, sp, orig_ax; } __attribute__((preserve_access_index));
struct mm_struct { unsigned long start_code, end_code; } __attribute__((preserve_access_index));
/* mm_struct's flags: an unsigned long before Linux 6.18, a bitmap (mm_flags_t) since; its low two
   bits are the dumpable state either way. */
struct mm_flags___bitmap { unsigned long __mm_flags[1]; };
struct mm_struct___bitmap { struct mm_flags___bitmap flags; } __attribute__((preserve_access_index));
struct mm_struct___long { unsigned long flags; } __attribute__((preserve_access_index));
struct task_struct {
    struct mm_struct *mm;
    int pid;
    int tgid;
    char comm[16];
} __attribute__((preserve_access_index));

struct trace_enter { __u64 unused; long id; unsigned long args[6]; };
struct trace_exit { __u64 unused; long id; long ret; };

/* A wait in progress, per waiting task; the waker's part is filled in at sched_waking. */
struct start {
    __u64 time;
    __u64 uaddr;
    __u32 op, owner_tid;
    __u32 tgid, pad;
    __s32 user_stack, kernel_stack;
    __s32 waker_user_stack, waker_kernel_stack;
    __u32 waker_tid, waker_tgid;
    __u64 scanned[LS_FUTEX_SCANNED];
    __u64 waker_scanned[LS_FUTEX_SCANNED];
};

/* A call path of one process whose stack has been copied once already. */
struct site { __u32 tgid; __s32 user_stack; __u64 scanned[LS_FUTEX_SCANNED]; };

/* Sized by lockstat before loading (futex.entries). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, struct ls_futex_key); __type(value, struct ls_futex_value); } waits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 16384);
         __uint(key_size, sizeof(__u32)); __uint(value_size, LS_FUTEX_MAX_STACK * sizeof(__u64)); } stacks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, struct start); } starts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
         __type(key, struct site); __type(value, __u8); } sampled SEC(".maps");
/* 1 MiB: about 250 stack copies between two drains. */
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } samples SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384);
         __type(key, __u32); __type(value, char[LS_FUTEX_COMM]); } comms SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536);
         __type(key, __u32); __type(value, __u8); } followed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, LS_FUTEX_COUNTERS);
         __type(key, __u32); __type(value, __u64); } counters SEC(".maps");
/* settings[0]: 1 for scope program. */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } settings SEC(".maps");
/* Per CPU: the scanned bytes of a stack (too large for the BPF stack). */
struct scan_buffer { __u64 words[LS_FUTEX_SCAN_BYTES / 8]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, struct scan_buffer); } scan_buffers SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64 *c = bpf_map_lookup_elem(&counters, &which);
    if (c) *c += 1;
}

static __always_inline int scope_program(void) {
    __u32 zero = 0;
    __u64 *s = bpf_map_lookup_elem(&settings, &zero);
    return s && *s;
}

static __always_inline void remember_comm(struct task_struct *task, __u32 tid) {
    if (bpf_map_lookup_elem(&comms, &tid)) return;
    char comm[LS_FUTEX_COMM] = {};
    BPF_CORE_READ_STR_INTO(&comm, task, comm);
    bpf_map_update_elem(&comms, &tid, &comm, BPF_NOEXIST);
}

/* The first LS_FUTEX_SCANNED words above sp that point into the program's text or within 4 MiB
   of the call's ip (the C library's code, where the wait or wake call is made). */
static __always_inline void scan(struct task_struct *task, __u64 ip, __u64 sp, __u64 out[LS_FUTEX_SCANNED]) {
    __u32 zero = 0;
    struct scan_buffer *b = bpf_map_lookup_elem(&scan_buffers, &zero);
    if (!b) return;
    if (bpf_probe_read_user(b->words, sizeof b->words, (void *)sp) != 0 &&
        bpf_probe_read_user(b->words, sizeof b->words / 4, (void *)sp) != 0) return;
    __u64 lo = BPF_CORE_READ(task, mm, start_code), hi = BPF_CORE_READ(task, mm, end_code);
    __u64 near_lo = ip - (4 << 20), near_hi = ip + (4 << 20);
    int n = 0;
    for (int i = 0; i < LS_FUTEX_SCAN_BYTES / 8; i++) {
        __u64 w = b->words[i];
        if ((w >= lo && w < hi) || (w >= near_lo && w < near_hi)) {
            if (n < LS_FUTEX_SCANNED) out[n & (LS_FUTEX_SCANNED - 1)] = w;
            n++;
        }
        if (n >= LS_FUTEX_SCANNED) break;
    }
}

/* Whether the kernel lets the task's own user read its memory (SUID_DUMP_USER): not after a
   set-user-ID exec or a change of credentials, whose memory is another user's. */
static __always_inline int dumpable(struct task_struct *task) {
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    unsigned long flags;
    if (!mm) return 0;
    if (bpf_core_field_exists(struct mm_struct___bitmap, flags))
        flags = BPF_CORE_READ((struct mm_struct___bitmap *)mm, flags.__mm_flags[0]);
    else if (bpf_core_field_exists(struct mm_struct___long, flags))
        flags = BPF_CORE_READ((struct mm_struct___long *)mm, flags);
    else
        return 0;
    return (flags & 3) == 1;
}

/* The first wait (or wake) of each process and call path: the registers and a copy of the
   stack for a DWARF unwinder. Only for the run's own processes, and only while the kernel would
   let their user read their memory: the bytes are the process's data. */
static __always_inline void sample(__u32 waker, __u32 tgid, __u32 tid, __s32 user_stack, __u64 scanned[LS_FUTEX_SCANNED],
                                   struct pt_regs *regs) {
    if (!bpf_map_lookup_elem(&followed, &tgid)) return;
    if (!dumpable(bpf_get_current_task_btf())) return;
    struct site site = { .tgid = tgid, .user_stack = user_stack };
    for (int i = 0; i < LS_FUTEX_SCANNED; i++) site.scanned[i] = scanned[i];
    if (bpf_map_lookup_elem(&sampled, &site)) return;
    __u8 yes = 1;
    if (bpf_map_update_elem(&sampled, &site, &yes, BPF_NOEXIST) != 0) { count(LS_FUTEX_SAMPLES_DROPPED); return; }
    struct ls_futex_sample *s = bpf_ringbuf_reserve(&samples, sizeof *s, 0);
    if (!s) { count(LS_FUTEX_SAMPLES_DROPPED); return; }
    s->waker = waker;
    s->tgid = tgid;
    s->tid = tid;
    s->user_stack = user_stack;
    for (int i = 0; i < LS_FUTEX_SCANNED; i++) s->scanned[i] = scanned[i];
    s->ip = BPF_CORE_READ(regs, ip);
    s->sp = BPF_CORE_READ(regs, sp);
    s->bp = BPF_CORE_READ(regs, bp);
    s->pad = 0;
    /* The read is all or nothing and fails past the top of the thread's stack: halve until it fits. */
    __u32 size = LS_FUTEX_COPY_BYTES;
    for (int i = 0; i < 5; i++) {
        if (bpf_probe_read_user(s->stack, size, (void *)s->sp) == 0) break;
        size >>= 1;
    }
    if (size < LS_FUTEX_COPY_BYTES >> 4) size = 0;
    s->size = size;
    bpf_ringbuf_submit(s, 0);
    count(LS_FUTEX_SAMPLES);
}

static __always_inline int begin(void *ctx, __u64 uaddr, __u32 op) {
    /* The wait is timed from the call's entry: the program waits through this program's work too. */
    __u64 entered = bpf_ktime_get_ns();
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
    if (scope_program() && !bpf_map_lookup_elem(&followed, &tgid)) { count(LS_FUTEX_FILTERED); return 0; }
    count(LS_FUTEX_WAITS);
    struct start empty = {};
    if (bpf_map_update_elem(&starts, &tid, &empty, BPF_ANY) != 0) { count(LS_FUTEX_STARTS_FULL); return 0; }
    struct start *s = bpf_map_lookup_elem(&starts, &tid);
    if (!s) { count(LS_FUTEX_STARTS_FULL); return 0; }
    struct task_struct *task = bpf_get_current_task_btf();
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    s->uaddr = uaddr;
    s->op = op;
    s->tgid = tgid;
    s->user_stack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
    s->kernel_stack = bpf_get_stackid(ctx, &stacks, BPF_F_FAST_STACK_CMP);
    if (s->user_stack < 0 || s->kernel_stack < 0) count(LS_FUTEX_STACK_FAILED);
    s->waker_user_stack = -1;
    s->waker_kernel_stack = -1;
    scan(task, BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp), s->scanned);
    /* glibc's pthread_mutex_t keeps its owner's tid at offset 8; a PI futex's word is the owner's tid. */
    __u32 owner = 0;
    if (op == LS_FUTEX_OP_LOCK_PI || op == LS_FUTEX_OP_LOCK_PI2) {
        bpf_probe_read_user(&owner, sizeof owner, (void *)uaddr);
        owner &= 0x3fffffff;   /* FUTEX_TID_MASK */
    } else if (op != LS_FUTEX_OP_WAITV) {
        bpf_probe_read_user(&owner, sizeof owner, (void *)(uaddr + 8));
    }
    s->owner_tid = owner;
    remember_comm(task, tid);
    sample(0, tgid, tid, s->user_stack, s->scanned, regs);
    s->time = entered;
    return 0;
}

/* A syscall tracepoint's BPF programs returning 0 drop the event for every perf event on it
   (perf_syscall_enter/exit): the programs return KEEP so perf, run beside lockstat, still sees them. */
#define KEEP 1

SEC("tracepoint/syscalls/sys_enter_futex")
int futex_enter(struct trace_enter *ctx) {
    __u32 op = (__u32)ctx->args[1] & FUTEX_CMD_MASK;
    if (op == LS_FUTEX_OP_WAIT || op == LS_FUTEX_OP_LOCK_PI || op == LS_FUTEX_OP_WAIT_BITSET ||
        op == LS_FUTEX_OP_WAIT_REQUEUE_PI || op == LS_FUTEX_OP_LOCK_PI2) begin(ctx, ctx->args[0], op);
    return KEEP;
}

SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int futex_waitv_enter(struct trace_enter *ctx) {
    __u64 uaddr = 0;   /* struct futex_waitv { u64 val; u64 uaddr; u32 flags; u32 reserved; } */
    bpf_probe_read_user(&uaddr, sizeof uaddr, (void *)(ctx->args[0] + 8));
    begin(ctx, uaddr, LS_FUTEX_OP_WAITV);
    return KEEP;
}

SEC("tracepoint/syscalls/sys_enter_futex_wait")
int futex_wait_enter(struct trace_enter *ctx) {
    begin(ctx, ctx->args[0], LS_FUTEX_OP_WAIT2);
    return KEEP;
}

static __always_inline __u32 outcome(long ret) {
    if (ret >= 0) return LS_FUTEX_WOKEN;
    if (ret == -ETIMEDOUT) return LS_FUTEX_TIMED_OUT;
    if (ret == -EAGAIN) return LS_FUTEX_NO_SLEEP;
    if (ret == -EINTR || ret == -ERESTARTSYS || ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK)
        return LS_FUTEX_INTERRUPTED;
    return LS_FUTEX_OTHER_ERROR;
}

static __always_inline int end(long ret) {
    __u64 now = bpf_ktime_get_ns();
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid;
    struct start *s = bpf_map_lookup_elem(&starts, &tid);
    if (!s || !s->time) return 0;
    __u64 ns = now > s->time ? now - s->time : 0;
    struct ls_futex_key key = {
        .uaddr = s->uaddr, .tgid = pid_tgid >> 32, .tid = tid, .user_stack = s->user_stack,
        .kernel_stack = s->kernel_stack, .waker_user_stack = -1, .waker_kernel_stack = -1,
        .outcome = outcome(ret), .op = s->op,
    };
    for (int i = 0; i < LS_FUTEX_SCANNED; i++) key.scanned[i] = s->scanned[i];
    /* A timeout or a signal also wakes the task: only a wait that returned 0 has a waker. */
    if (key.outcome == LS_FUTEX_WOKEN && s->waker_tid) {
        key.waker_tid = s->waker_tid;
        key.waker_tgid = s->waker_tgid;
        key.waker_user_stack = s->waker_user_stack;
        key.waker_kernel_stack = s->waker_kernel_stack;
        for (int i = 0; i < LS_FUTEX_SCANNED; i++) key.waker_scanned[i] = s->waker_scanned[i];
    }
    __u32 owner = s->owner_tid;
    bpf_map_delete_elem(&starts, &tid);
    struct ls_futex_value *v = bpf_map_lookup_elem(&waits, &key);
    if (!v) {
        struct ls_futex_value first = { .count = 1, .total_ns = ns, .max_ns = ns, .min_ns = ns, .owner_tid = owner };
        if (bpf_map_update_elem(&waits, &key, &first, BPF_NOEXIST) == 0) { count(LS_FUTEX_RECORDED); return 0; }
        v = bpf_map_lookup_elem(&waits, &key);   /* another CPU may have made it in between */
        if (!v) { count(LS_FUTEX_MAP_FULL); return 0; }
    }
    __sync_fetch_and_add(&v->count, 1);
    __sync_fetch_and_add(&v->total_ns, ns);
    if (ns > v->max_ns) v->max_ns = ns;
    if (ns < v->min_ns) v->min_ns = ns;
    v->owner_tid = owner;
    count(LS_FUTEX_RECORDED);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int futex_exit(struct trace_exit *ctx) {
    end(ctx->ret);
    return KEEP;
}

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int futex_waitv_exit(struct trace_exit *ctx) {
    end(ctx->ret);
    return KEEP;
}

SEC("tracepoint/syscalls/sys_exit_futex_wait")
int futex_wait_exit(struct trace_exit *ctx) {
    end(ctx->ret);
    return KEEP;
}

/* The task that wakes a waiting one, in its own futex call: its stacks, taken in its context. */
SEC("tp_btf/sched_waking")
int BPF_PROG(futex_waking, struct task_struct *p) {
    __u32 woken = BPF_CORE_READ(p, pid);
    struct start *s = bpf_map_lookup_elem(&starts, &woken);
    if (!s || !s->time || s->waker_tid) return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    long nr = BPF_CORE_READ(regs, orig_ax);
    if (nr != NR_futex && nr != NR_futex_wake && nr != NR_futex_requeue && nr != NR_futex_waitv && nr != NR_futex_wait)
        return 0;
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
    if (tid == woken) return 0;
    count(LS_FUTEX_WAKES);
    s->waker_user_stack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP);
    s->waker_kernel_stack = bpf_get_stackid(ctx, &stacks, BPF_F_FAST_STACK_CMP);
    scan(task, BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp), s->waker_scanned);
    s->waker_tgid = tgid;
    s->waker_tid = tid;
    remember_comm(task, tid);
    sample(1, tgid, tid, s->waker_user_stack, s->waker_scanned, regs);
    return 0;
}

/* A process forked by a followed one is followed too (scope program's filter, and in both
   scopes which processes' stacks are copied). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(futex_follow_fork, struct task_struct *parent, struct task_struct *child) {
    __u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
    if (ptgid == ctgid || !bpf_map_lookup_elem(&followed, &ptgid)) return 0;
    __u8 yes = 1;
    bpf_map_update_elem(&followed, &ctgid, &yes, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
