#define _GNU_SOURCE
#include "clockstat_perf.h"
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* perf_event_open(2): fd, or -errno. */
static int open_event(struct perf_event_attr *attr, int pid, int cpu) {
    int fd = (int)syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static void init_attr(struct perf_event_attr *attr, uint32_t type, uint64_t config) {
    memset(attr, 0, sizeof *attr);
    attr->size = sizeof *attr;
    attr->type = type;
    attr->config = config;
    attr->disabled = 1;
}

/* The probes of `lockstat doctor`: one event on CPU 0 for every task, as a system-wide sampler. */
static int probe(uint32_t type, uint64_t config) {
    struct perf_event_attr attr;
    init_attr(&attr, type, config);
    int fd = open_event(&attr, -1, 0);
    if (fd < 0) return -fd;
    close(fd);
    return 0;
}
int ls_perf_probe_cpu_clock(void) { return probe(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK); }
int ls_perf_probe_cycles(void) { return probe(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES); }

uint64_t ls_perf_tracepoint_sample_type(int callchain) {
    return PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW |
           (callchain ? PERF_SAMPLE_CALLCHAIN : 0);
}

uint64_t ls_perf_sampler_sample_type(void) {
    return PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |
           PERF_SAMPLE_CALLCHAIN;
}

int ls_perf_open_tracepoint(uint64_t id, int pid, int cpu, int callchain, int max_stack, int inherit) {
    struct perf_event_attr attr;
    init_attr(&attr, PERF_TYPE_TRACEPOINT, id);
    attr.sample_period = 1;
    attr.sample_type = ls_perf_tracepoint_sample_type(callchain);
    attr.exclude_callchain_user = 1;
    attr.sample_max_stack = (uint16_t)max_stack;
    attr.use_clockid = 1;
    attr.clockid = CLOCK_MONOTONIC;
    attr.inherit = inherit ? 1 : 0;
    attr.enable_on_exec = inherit ? 1 : 0;
    return open_event(&attr, pid, cpu);
}

/* The side records that let parse name the code of processes gone by then (MMAP2, COMM with
   exec flagged, FORK, EXIT), tagged with TID, TIME and CPU, on lockstat's clock; `inherit`
   follows the children, enabled at exec. */
static void side_records(struct perf_event_attr *attr, int inherit) {
    attr->mmap = 1;
    attr->mmap2 = 1;
    attr->comm = 1;
    attr->comm_exec = 1;
    attr->task = 1;
    attr->sample_id_all = 1;
    attr->use_clockid = 1;
    attr->clockid = CLOCK_MONOTONIC;
    attr->inherit = inherit ? 1 : 0;
    attr->enable_on_exec = inherit ? 1 : 0;
}

uint64_t ls_perf_sampler_dwarf_sample_type(void) { return PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER; }

int ls_perf_open_sampler(int pid, int cpu, uint64_t frequency, int cycles, int inherit, int max_stack,
                         uint64_t user_regs, uint32_t user_stack) {
    struct perf_event_attr attr;
    if (cycles) init_attr(&attr, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES);
    else init_attr(&attr, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
    attr.freq = 1;
    attr.sample_freq = frequency;
    attr.sample_type = ls_perf_sampler_sample_type();
    attr.sample_max_stack = (uint16_t)max_stack;
    if (user_stack) {
        attr.sample_type |= ls_perf_sampler_dwarf_sample_type();
        attr.sample_regs_user = user_regs;
        attr.sample_stack_user = user_stack;
        attr.exclude_callchain_user = 1;
    }
    side_records(&attr, inherit);
    return open_event(&attr, pid, cpu);
}

int ls_perf_open_mapping_tracker(int pid, int cpu, int inherit, int build_id) {
    struct perf_event_attr attr;
    init_attr(&attr, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY);
    /* The sampler's sample_type, so that the records' sample_id_all trailer decodes as the profile's. */
    attr.sample_type = ls_perf_sampler_sample_type();
    side_records(&attr, inherit);
    attr.build_id = build_id ? 1 : 0;
    return open_event(&attr, pid, cpu);
}

int ls_perf_enable(int fd) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0); }
int ls_perf_disable(int fd) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0); }
int ls_perf_set_period(int fd, uint64_t period) { return ioctl(fd, PERF_EVENT_IOC_PERIOD, &period); }

struct ls_ring { void *base; size_t map_size; size_t data_size; };

ls_ring *ls_ring_map(int fd, int data_pages) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = page * (size_t)(1 + data_pages);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return NULL;
    ls_ring *r = malloc(sizeof *r);
    if (!r) { munmap(base, size); return NULL; }
    r->base = base;
    r->map_size = size;
    r->data_size = page * (size_t)data_pages;
    return r;
}

void ls_ring_unmap(ls_ring *r) {
    if (!r) return;
    munmap(r->base, r->map_size);
    free(r);
}

size_t ls_ring_size(ls_ring *r) { return r->data_size; }

size_t ls_ring_drain(ls_ring *r, void *buf, size_t cap) {
    struct perf_event_mmap_page *meta = r->base;
    unsigned char *data = (unsigned char *)r->base + meta->data_offset;
    size_t size = meta->data_size ? meta->data_size : r->data_size;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    size_t copied = 0;
    while (tail < head) {
        struct perf_event_header h;
        size_t off = (size_t)(tail % size);
        /* The header itself may wrap. */
        for (size_t i = 0; i < sizeof h; i++) ((unsigned char *)&h)[i] = data[(off + i) % size];
        if (h.size == 0 || copied + h.size > cap) break;
        size_t first = size - off < h.size ? size - off : h.size;
        memcpy((unsigned char *)buf + copied, data + off, first);
        memcpy((unsigned char *)buf + copied + first, data, h.size - first);
        copied += h.size;
        tail += h.size;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
    return copied;
}
