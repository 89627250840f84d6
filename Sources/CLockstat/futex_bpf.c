/* Loads and reads the futex module's BPF programs (bpf/futex.bpf.c) with libbpf. */
#define _GNU_SOURCE
#include "clockstat_futex.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const unsigned char ls_futex_bpf_object[];
extern const size_t ls_futex_bpf_object_size;

#define LINKS 8
/* The sample ring's size (bpf/futex.bpf.c): one drain never holds more. */
#define SAMPLE_BYTES (1 << 20)

struct ls_bpf_futex {
    struct bpf_object *object;
    struct bpf_link *links[LINKS];
    int links_count;
    int waits, stacks, comms, followed, counters, settings, starts;
    int ncpus;
    long entries;
    struct ls_futex_entry *batch;
    /* The entries as last read (open addressing on the key, twice the map): a read returns what changed. */
    struct ls_futex_entry *shadow;
    unsigned char *used;
    size_t shadow_size;
    struct ring_buffer *ring;
    unsigned char *sample_bytes;
    size_t sample_used;
    __u64 *percpu;
};

static char last_error[256];

static int print_libbpf(enum libbpf_print_level level, const char *format, va_list args) {
    if (getenv("LOCKSTAT_LIBBPF_DEBUG")) {
        va_list copy;
        va_copy(copy, args);
        vfprintf(stderr, format, copy);
        va_end(copy);
    }
    if (level == LIBBPF_WARN) {
        char line[256];
        vsnprintf(line, sizeof line, format, args);
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
        if (n > 0) snprintf(last_error, sizeof last_error, "%s", line);
    }
    return 0;
}

static void fail(char *error, size_t size, const char *what, int err) {
    snprintf(error, size, "%s: %s%s%s", what, strerror(err < 0 ? -err : err),
             last_error[0] ? " (libbpf: " : "", last_error[0] ? last_error : "");
    if (last_error[0]) strncat(error, ")", size - strlen(error) - 1);
}

static size_t slot_of(ls_bpf_futex *h, const struct ls_futex_key *key) {
    const unsigned char *b = (const unsigned char *)key;
    __u64 x = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < sizeof *key; i++) x = (x ^ b[i]) * 1099511628211ULL;
    size_t i = (size_t)x & (h->shadow_size - 1);
    while (h->used[i] && memcmp(&h->shadow[i].key, key, sizeof *key) != 0) i = (i + 1) & (h->shadow_size - 1);
    return i;
}

static int keep_sample(void *context, void *data, size_t size) {
    ls_bpf_futex *h = context;
    if (h->sample_used + size > SAMPLE_BYTES) return 0;   /* cannot happen: the buffer is the ring's size */
    memcpy(h->sample_bytes + h->sample_used, data, size);
    h->sample_used += size;
    return 0;
}

/* The optional calls (futex_waitv, futex2's futex_wait) are attached where the kernel has them. */
static int optional_program(const char *name) { return strstr(name, "waitv") || strstr(name, "wait_e"); }

ls_bpf_futex *ls_bpf_futex_open(int entries, int scope_program, char *error, size_t error_size) {
    last_error[0] = 0;
    libbpf_set_print(print_libbpf);
    ls_bpf_futex *h = calloc(1, sizeof *h);
    if (!h) { fail(error, error_size, "out of memory", ENOMEM); return NULL; }
    h->entries = entries;
    h->ncpus = libbpf_num_possible_cpus();
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "lockstat_futex");
    h->object = bpf_object__open_mem(ls_futex_bpf_object, ls_futex_bpf_object_size, &opts);
    if (!h->object) { fail(error, error_size, "opening the BPF object", errno); free(h); return NULL; }
    struct bpf_map *waits = bpf_object__find_map_by_name(h->object, "waits");
    struct bpf_map *stacks = bpf_object__find_map_by_name(h->object, "stacks");
    if (waits) bpf_map__set_max_entries(waits, (__u32)entries);
    if (stacks) bpf_map__set_max_entries(stacks, (__u32)entries * 2);
    int err = bpf_object__load(h->object);
    if (err) { fail(error, error_size, "loading the BPF programs", err); ls_bpf_futex_close(h); return NULL; }
    const char *maps[] = { "waits", "stacks", "comms", "followed", "counters", "settings", "starts" };
    int *fds[] = { &h->waits, &h->stacks, &h->comms, &h->followed, &h->counters, &h->settings, &h->starts };
    for (int i = 0; i < 7; i++) *fds[i] = bpf_object__find_map_fd_by_name(h->object, maps[i]);
    __u32 zero = 0;
    __u64 scope = scope_program ? 1 : 0;
    bpf_map_update_elem(h->settings, &zero, &scope, BPF_ANY);
    struct bpf_program *program;
    bpf_object__for_each_program(program, h->object) {
        struct bpf_link *link = bpf_program__attach(program);
        if (!link) {
            if (optional_program(bpf_program__name(program))) continue;
            fail(error, error_size, bpf_program__name(program), errno);
            ls_bpf_futex_close(h);
            return NULL;
        }
        if (h->links_count < LINKS) h->links[h->links_count++] = link;
    }
    h->ring = ring_buffer__new(bpf_object__find_map_fd_by_name(h->object, "samples"), keep_sample, h, NULL);
    h->shadow_size = 1;
    while (h->shadow_size < (size_t)entries * 2) h->shadow_size <<= 1;
    h->shadow = calloc(h->shadow_size, sizeof *h->shadow);
    h->used = calloc(h->shadow_size, 1);
    h->batch = calloc((size_t)entries, sizeof *h->batch);
    h->sample_bytes = malloc(SAMPLE_BYTES);
    h->percpu = calloc((size_t)h->ncpus, sizeof(__u64));
    if (!h->ring || !h->shadow || !h->used || !h->batch || !h->sample_bytes || !h->percpu) {
        fail(error, error_size, "out of memory", ENOMEM);
        ls_bpf_futex_close(h);
        return NULL;
    }
    return h;
}

int ls_bpf_futex_follow(ls_bpf_futex *h, __u32 tgid) {
    __u8 yes = 1;
    return bpf_map_update_elem(h->followed, &tgid, &yes, BPF_ANY) ? -errno : 0;
}

long ls_bpf_futex_changed(ls_bpf_futex *h, struct ls_futex_entry *out, long capacity) {
    long n = 0, changed = 0;
    struct ls_futex_key key, next, *previous = NULL;
    while (n < h->entries && bpf_map_get_next_key(h->waits, previous, &next) == 0) {
        if (bpf_map_lookup_elem(h->waits, &next, &h->batch[n].value) == 0) h->batch[n++].key = next;
        key = next;
        previous = &key;
    }
    for (long i = 0; i < n; i++) {
        size_t slot = slot_of(h, &h->batch[i].key);
        if (h->used[slot] && h->shadow[slot].value.count == h->batch[i].value.count &&
            h->shadow[slot].value.total_ns == h->batch[i].value.total_ns) continue;
        if (changed == capacity) return -1;
        out[changed++] = h->batch[i];
    }
    for (long i = 0; i < changed; i++) {
        size_t slot = slot_of(h, &out[i].key);
        h->used[slot] = 1;
        h->shadow[slot] = out[i];
    }
    return changed;
}

long ls_bpf_futex_forget(ls_bpf_futex *h, const struct ls_futex_key *keys, long n) {
    long deleted = 0;
    for (long i = 0; i < n; i++) {
        if (bpf_map_delete_elem(h->waits, &keys[i]) == 0) deleted++;
        size_t slot = slot_of(h, &keys[i]);
        if (h->used[slot]) h->used[slot] = 2;
    }
    /* Open addressing: the kept entries go into a fresh table, so no probe chain is cut short. */
    struct ls_futex_entry *slots = calloc(h->shadow_size, sizeof *slots);
    unsigned char *used = calloc(h->shadow_size, 1);
    if (!slots || !used) { free(slots); free(used); return -ENOMEM; }
    struct ls_futex_entry *old = h->shadow;
    unsigned char *old_used = h->used;
    h->shadow = slots;
    h->used = used;
    for (size_t i = 0; i < h->shadow_size; i++) {
        if (old_used[i] != 1) continue;
        size_t slot = slot_of(h, &old[i].key);
        h->used[slot] = 1;
        h->shadow[slot] = old[i];
    }
    free(old);
    free(old_used);
    return deleted;
}

/* struct start's head (bpf/futex.bpf.c): what is read of a wait in progress. */
struct start_head { __u64 time, uaddr; __u32 op, owner_tid, tgid, pad; };

long ls_bpf_futex_waiting(ls_bpf_futex *h, __u32 *tgids, long capacity) {
    long n = 0;
    __u32 tid, next, *previous = NULL;
    /* The value is read whole into a buffer as large as the map's values. */
    unsigned char value[256];
    if (bpf_map__value_size(bpf_object__find_map_by_name(h->object, "starts")) > sizeof value) return 0;
    while (n < capacity && bpf_map_get_next_key(h->starts, previous, &next) == 0) {
        if (bpf_map_lookup_elem(h->starts, &next, value) == 0) {
            struct start_head head;
            memcpy(&head, value, sizeof head);
            if (head.time && head.tgid) tgids[n++] = head.tgid;
        }
        tid = next;
        previous = &tid;
    }
    return n;
}

long ls_bpf_futex_samples(ls_bpf_futex *h, const unsigned char **bytes) {
    h->sample_used = 0;
    ring_buffer__consume(h->ring);
    *bytes = h->sample_bytes;
    return (long)h->sample_used;
}

void ls_bpf_futex_counters(ls_bpf_futex *h, __u64 out[LS_FUTEX_COUNTERS]) {
    for (__u32 c = 0; c < LS_FUTEX_COUNTERS; c++) {
        out[c] = 0;
        if (bpf_map_lookup_elem(h->counters, &c, h->percpu) != 0) continue;
        for (int cpu = 0; cpu < h->ncpus; cpu++) out[c] += h->percpu[cpu];
    }
}

int ls_bpf_futex_stack(ls_bpf_futex *h, __s32 id, __u64 *ips, int max) {
    __u64 frames[LS_FUTEX_MAX_STACK];
    __u32 key = (__u32)id;
    if (id < 0 || bpf_map_lookup_elem(h->stacks, &key, frames) != 0) return 0;
    int n = 0;
    while (n < LS_FUTEX_MAX_STACK && n < max && frames[n]) { ips[n] = frames[n]; n++; }
    return n;
}

int ls_bpf_futex_comm(ls_bpf_futex *h, __u32 tid, char out[LS_FUTEX_COMM]) {
    return bpf_map_lookup_elem(h->comms, &tid, out) ? -errno : 0;
}

void ls_bpf_futex_run_time(ls_bpf_futex *h, __u64 *ns, __u64 *count) {
    *ns = 0;
    *count = 0;
    struct bpf_program *program;
    bpf_object__for_each_program(program, h->object) {
        struct bpf_prog_info info;
        __u32 length = sizeof info;
        memset(&info, 0, sizeof info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) == 0) {
            *ns += info.run_time_ns;
            *count += info.run_cnt;
        }
    }
}

void ls_bpf_futex_close(ls_bpf_futex *h) {
    if (!h) return;
    if (h->ring) ring_buffer__free(h->ring);
    for (int i = 0; i < h->links_count; i++) bpf_link__destroy(h->links[i]);
    if (h->object) bpf_object__close(h->object);
    free(h->shadow);
    free(h->used);
    free(h->batch);
    free(h->sample_bytes);
    free(h->percpu);
    free(h);
}
