#ifndef CLOCKSTAT_PERF_H
#define CLOCKSTAT_PERF_H
#include <linux/perf_event.h>
#include <stdint.h>
#include <stddef.h>

/* perf_event_open for a tracepoint (PERF_TYPE_TRACEPOINT, config = its tracefs id), sampling
   every event (sample_period 1) with PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |
   PERF_SAMPLE_RAW, plus PERF_SAMPLE_CALLCHAIN (kernel frames only, at most `max_stack`) when
   `callchain`. Times are CLOCK_MONOTONIC (use_clockid), lockstat's own clock. `pid` -1 with a
   `cpu` is every task on that CPU; a pid with `inherit` follows its children, enabled at exec.
   Returns the fd, or -errno. Starts disabled. */
int ls_perf_open_tracepoint(uint64_t id, int pid, int cpu, int callchain, int max_stack, int inherit);
/* perf_event_open for a CPU profiler: the hardware cycles counter when `cycles`, else the
   cpu-clock software event, at `frequency` samples per second, with PERF_SAMPLE_IP | TID | TIME |
   CPU | PERIOD | CALLCHAIN (user and kernel frames, at most `max_stack`), and the MMAP2, COMM
   (exec flagged), FORK and EXIT records, all timed on CLOCK_MONOTONIC with their TID, TIME and
   CPU (sample_id_all). `pid`/`cpu`/`inherit` as for ls_perf_open_tracepoint. Returns the fd, or
   -errno. Starts disabled.
   With `user_stack` > 0 (bytes), each sample also takes the user registers in `user_regs`
   (sample_regs_user) and that many bytes of the user stack, for a DWARF unwinder, and its call
   chain stops at the kernel's frames, as `perf record --call-graph dwarf` does. */
int ls_perf_open_sampler(int pid, int cpu, uint64_t frequency, int cycles, int inherit, int max_stack,
                         uint64_t user_regs, uint32_t user_stack);
/* PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER: what ls_perf_open_sampler adds with a user stack. */
uint64_t ls_perf_sampler_dwarf_sample_type(void);
/* perf_event_open of the dummy software event (PERF_COUNT_SW_DUMMY: no samples) for its side
   records alone: MMAP2 (with the file's build ID in place of device and inode when `build_id`,
   Linux 5.12+), COMM (exec flagged), FORK and EXIT, timed and tagged as the sampler's. What names
   the code of processes that exit, or map a library, between two ticks. `pid`/`cpu`/`inherit` as
   for ls_perf_open_tracepoint. Returns the fd, or -errno. Starts disabled. */
int ls_perf_open_mapping_tracker(int pid, int cpu, int inherit, int build_id);
/* The sample_type bits each opens with (PERF_SAMPLE_*): the parsers decode the records by them. */
uint64_t ls_perf_tracepoint_sample_type(int callchain);
uint64_t ls_perf_sampler_sample_type(void);
int ls_perf_enable(int fd);
int ls_perf_disable(int fd);
/* PERF_EVENT_IOC_PERIOD: a new sampling period; for cpu-clock the timer restarts from now. */
int ls_perf_set_period(int fd, uint64_t period);

/* A ring buffer mmap'ed on a perf fd: 1 + 2^n pages. */
typedef struct ls_ring ls_ring;
ls_ring *ls_ring_map(int fd, int data_pages);
void ls_ring_unmap(ls_ring *r);
size_t ls_ring_size(ls_ring *r);
/* Copies the whole records available (linearised across the wrap) into buf, at most cap bytes,
   and releases them to the kernel. Returns the bytes copied. */
size_t ls_ring_drain(ls_ring *r, void *buf, size_t cap);

/* Open and close one perf event on CPU 0 for every task (pid -1), the way a system-wide
   sampler would: the cpu-clock software event (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK), or
   the hardware cycles counter (PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES). 0 when allowed,
   else the errno. */
int ls_perf_probe_cpu_clock(void);
int ls_perf_probe_cycles(void);

#endif
