/* Loads and reads the contention module's BPF programs (bpf/contention.bpf.c) with libbpf. */
#define _GNU_SOURCE
#include "clockstat_bpf.h"
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const unsigned char ls_contention_bpf_object[];
extern const size_t ls_contention_bpf_object_size;

/* A table of the entries as last read, so each read returns only what changed: open addressing
   on the key, sized once at open (twice the map), so reading allocates nothing. */
struct shadow {
    struct ls_bpf_entry *slots;
    unsigned char *used;
    size_t size;
};

/* The same for the waker entries. */
struct waker_shadow {
    struct ls_bpf_waker_entry *slots;
    unsigned char *used;
    size_t size;
};

#define LS_BPF_PROGRAMS 4

struct ls_bpf_contention {
    struct bpf_object *object;
    struct bpf_link *links[LS_BPF_PROGRAMS];
    int links_count;
    int waits, owners, stacks, comms, followed, counters, settings, wakers, user_stacks, locks, holds, owner_stacks;
    int wakers_on, classifies_interrupts;
    /* Lock names: the maps, each CPU's runqueue lock as last reported, whether slabs are named. */
    int lock_caches, cache_names, rq_locks;
    __u64 *rq_reported;
    __u64 *name_keys;
    int names_slabs;
    struct ls_bpf_waker_entry *waker_batch;
    struct waker_shadow waker_shadow;
    int ncpus;
    long entries;
    struct ls_bpf_entry *batch;
    struct shadow shadow;
    struct ls_bpf_owner_entry *owner_batch;
    struct ls_bpf_owner_entry *owner_shadow;
    long owner_shadow_count;
    __u64 *percpu;
    /* BPF_MAP_LOOKUP_BATCH's keys and values (separate arrays), and whether the kernel takes it. */
    void *batch_keys, *batch_values;
    int batch_lookup;
};

static char last_error[256];

static int print_libbpf(enum libbpf_print_level level, const char *format, va_list args) {
    /* LOCKSTAT_LIBBPF_DEBUG=1 shows all of libbpf's lines (a verifier log, say). */
    if (getenv("LOCKSTAT_LIBBPF_DEBUG")) {
        va_list copy;
        va_copy(copy, args);
        vfprintf(stderr, format, copy);
        va_end(copy);
    }
    /* libbpf's own lines are many; keep the last warning as the reason a load failed. */
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

static size_t hash_key(const struct ls_bpf_key *k) {
    __u64 h = k->lock * 0x9E3779B97F4A7C15ULL;
    h ^= ((__u64)(__u32)k->stack_id << 32 | k->tid) * 0xC2B2AE3D27D4EB4FULL;
    h ^= k->cgroup * 0x165667B19E3779F9ULL;
    return (size_t)(h ^ (h >> 29));
}

static size_t hash_waker_key(const struct ls_bpf_waker_key *k) {
    __u64 h = k->lock * 0x9E3779B97F4A7C15ULL;
    h ^= ((__u64)(__u32)k->stack_id << 32 | (__u32)k->waker_stack) * 0xC2B2AE3D27D4EB4FULL;
    h ^= ((__u64)(__u32)k->waker_ustack << 32 | k->wake_class) * 0x165667B19E3779F9ULL;
    h ^= (__u64)k->waker_tgid * 0x27D4EB2F165667C5ULL;
    return (size_t)(h ^ (h >> 29));
}

static size_t waker_slot_of(struct waker_shadow *s, const struct ls_bpf_waker_key *key) {
    size_t i = hash_waker_key(key) & (s->size - 1);
    while (s->used[i] && memcmp(&s->slots[i].key, key, sizeof *key) != 0) i = (i + 1) & (s->size - 1);
    return i;
}

/* Offset of a variable in the kernel's per-CPU area (BTF DATASEC .data..percpu), plus the
   offset of its member `member` when given; -1 when absent. */
static long percpu_offset(const struct btf *btf, const char *name, const char *member) {
    int n = (int)btf__type_cnt(btf);
    for (int id = 1; id < n; id++) {
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!btf_is_datasec(t) || strcmp(btf__name_by_offset(btf, t->name_off), ".data..percpu") != 0) continue;
        const struct btf_var_secinfo *v = btf_var_secinfos(t);
        for (int i = 0; i < btf_vlen(t); i++, v++) {
            const struct btf_type *var = btf__type_by_id(btf, v->type);
            if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0) continue;
            if (!member) return v->offset;
            const struct btf_type *type = btf__type_by_id(btf, var->type);
            while (type && (btf_is_typedef(type) || btf_is_mod(type))) type = btf__type_by_id(btf, type->type);
            if (!type || !btf_is_struct(type)) return -1;
            const struct btf_member *m = btf_members(type);
            for (int j = 0; j < btf_vlen(type); j++, m++) {
                if (strcmp(btf__name_by_offset(btf, m->name_off), member) == 0)
                    return v->offset + btf_member_bit_offset(type, j) / 8;
            }
            return -1;
        }
    }
    return -1;
}

/* __preempt_count's distance from runqueues in the per-CPU area (sched_waking reads a waker's
   preempt_count through its runqueue: no ksym reaches per-CPU data without KALLSYMS_ALL). It is
   pcpu_hot's member on 6.2-6.14 kernels. 0 when the kernel's BTF does not say. */
static int preempt_count_offset(long *offset) {
    struct btf *btf = btf__load_vmlinux_btf();
    if (!btf) return 0;
    long rq = percpu_offset(btf, "runqueues", NULL), pc = percpu_offset(btf, "__preempt_count", NULL);
    if (pc < 0) pc = percpu_offset(btf, "pcpu_hot", "preempt_count");
    btf__free(btf);
    if (rq < 0 || pc < 0) return 0;
    *offset = pc - rq;
    return 1;
}

/* The kernel's text, [_stext, _etext), from /proc/kallsyms (root reads real addresses; both 0
   where it does not): the programs find a call path's return addresses on the stack in it. The two
   symbols come before the modules', so the read stops early. */
static void kernel_text(__u64 *start, __u64 *end) {
    *start = *end = 0;
    FILE *f = fopen("/proc/kallsyms", "re");
    if (!f) return;
    char line[512];
    __u64 a = 0, b = 0;
    while ((!a || !b) && fgets(line, sizeof line, f)) {
        unsigned long long address;
        char type, name[256];
        if (sscanf(line, "%llx %c %255s", &address, &type, name) != 3) continue;
        if (strcmp(name, "_stext") == 0) a = address;
        else if (strcmp(name, "_etext") == 0) b = address;
    }
    fclose(f);
    if (a && b > a) { *start = a; *end = b; }
}

/* The shadow slot of `key` (found or free). */
static size_t slot_of(struct shadow *s, const struct ls_bpf_key *key) {
    size_t i = hash_key(key) & (s->size - 1);
    while (s->used[i] && memcmp(&s->slots[i].key, key, sizeof *key) != 0) i = (i + 1) & (s->size - 1);
    return i;
}

int ls_bpf_fentry_probe(const char *function, char *error, size_t error_size) {
    libbpf_set_print(print_libbpf);
    last_error[0] = 0;
    struct btf *vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) {
        fail(error, error_size, "the kernel's BTF", -errno);
        return -1;
    }
    int id = btf__find_by_name_kind(vmlinux, function, BTF_KIND_FUNC);
    btf__free(vmlinux);
    if (id < 0) {
        snprintf(error, error_size, "%s: not in the kernel's BTF", function);
        return -1;
    }
    /* r0 = 0; exit: the smallest program; what is probed is whether the kernel takes its kind. */
    struct bpf_insn insns[2] = {
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
        { .code = BPF_JMP | BPF_EXIT },
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY, .attach_btf_id = (__u32)id);
    int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ls_fentry_probe", "GPL", insns, 2, &opts);
    if (fd < 0) {
        char what[160];
        snprintf(what, sizeof what, "a fentry program on %s", function);
        fail(error, error_size, what, -errno);
        return -1;
    }
    int link = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, NULL);
    int err = link < 0 ? -errno : 0;
    if (link >= 0) close(link);
    close(fd);
    if (err) {
        char what[160];
        snprintf(what, sizeof what, "attaching a fentry program to %s", function);
        fail(error, error_size, what, err);
        return -1;
    }
    return 0;
}

ls_bpf_contention *ls_bpf_contention_open(int entries, int scope_program, int wakers, int owner_stacks, char *error,
                                          size_t error_size) {
    last_error[0] = 0;
    libbpf_set_print(print_libbpf);
    ls_bpf_contention *h = calloc(1, sizeof *h);
    if (!h) { fail(error, error_size, "out of memory", ENOMEM); return NULL; }
    h->entries = entries;
    h->ncpus = libbpf_num_possible_cpus();
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "lockstat_contention");
    h->object = bpf_object__open_mem(ls_contention_bpf_object, ls_contention_bpf_object_size, &opts);
    if (!h->object) { fail(error, error_size, "opening the BPF object", errno); free(h); return NULL; }
    struct bpf_map *waits = bpf_object__find_map_by_name(h->object, "waits");
    struct bpf_map *stacks = bpf_object__find_map_by_name(h->object, "stacks");
    if (waits) bpf_map__set_max_entries(waits, (__u32)entries);
    /* Twice the buckets: a stack whose hash bucket holds another is not kept (its waits count
       under "[no stack]"), and fewer collide in a sparser map. */
    if (stacks) bpf_map__set_max_entries(stacks, (__u32)entries * 2);
    /* Without wakers, sched_waking (every wakeup of the system) is not even attached. */
    h->wakers_on = wakers != 0;
    struct bpf_map *waker_map = bpf_object__find_map_by_name(h->object, "wakers");
    struct bpf_map *user_stacks = bpf_object__find_map_by_name(h->object, "user_stacks");
    struct bpf_program *waking = bpf_object__find_program_by_name(h->object, "sched_waking");
    if (waker_map) bpf_map__set_max_entries(waker_map, wakers ? (__u32)entries : 1);
    if (user_stacks && !wakers) bpf_map__set_max_entries(user_stacks, 1);
    if (waking && !wakers) bpf_program__set_autoload(waking, false);
    int owners_on = wakers && owner_stacks;
    const char *handover_maps[] = { "locks", "holds", "owner_stacks" };
    for (int i = 0; i < 3; i++) {
        struct bpf_map *m = bpf_object__find_map_by_name(h->object, handover_maps[i]);
        if (m) bpf_map__set_max_entries(m, (i < 2 ? wakers : owners_on) ? LS_BPF_HANDOVER_ENTRIES : 1);
    }
    struct bpf_map *owner_last = bpf_object__find_map_by_name(h->object, "owner_last");
    if (owner_last && !owners_on) bpf_map__set_max_entries(owner_last, 1);
    int err = bpf_object__load(h->object);
    if (err) { fail(error, error_size, "loading the BPF programs", err); ls_bpf_contention_close(h); return NULL; }
    const char *maps[] = { "waits", "owners", "stacks", "comms", "followed", "counters", "settings", "wakers",
                           "user_stacks", "locks", "holds", "owner_stacks" };
    int *fds[] = { &h->waits, &h->owners, &h->stacks, &h->comms, &h->followed, &h->counters, &h->settings,
                   &h->wakers, &h->user_stacks, &h->locks, &h->holds, &h->owner_stacks };
    for (int i = 0; i < 12; i++) *fds[i] = bpf_object__find_map_fd_by_name(h->object, maps[i]);
    h->lock_caches = bpf_object__find_map_fd_by_name(h->object, "lock_caches");
    h->cache_names = bpf_object__find_map_fd_by_name(h->object, "cache_names");
    h->rq_locks = bpf_object__find_map_fd_by_name(h->object, "rq_locks");
    long pc_from_rq = 0;
    /* Known or not, for every mode: a stack is found by its path only outside interrupts. */
    int pc_known = preempt_count_offset(&pc_from_rq);
    h->classifies_interrupts = wakers && pc_known;
    /* LOCKSTAT_TEST_NO_KFUNCS=1 (tests only): the programs act as on a kernel without the weak
       kfuncs (no slab names, no owner stacks) and without rq_lock: the fallback path. */
    int no_kfuncs = getenv("LOCKSTAT_TEST_NO_KFUNCS") != NULL;
    h->names_slabs = !no_kfuncs && ls_bpf_kernel_has_kfunc(NULL, "bpf_get_kmem_cache") == 1;
    __u64 values[LS_BPF_SETTINGS] = {
        [LS_BPF_SETTING_SCOPE] = scope_program ? 1 : 0, [LS_BPF_SETTING_WAKERS] = h->wakers_on,
        [LS_BPF_SETTING_PC_FROM_RQ] = (__u64)pc_from_rq, [LS_BPF_SETTING_PC_KNOWN] = (__u64)pc_known,
        [LS_BPF_SETTING_NO_KFUNCS] = (__u64)no_kfuncs, [LS_BPF_SETTING_OWNER_STACKS] = (__u64)owners_on };
    /* LOCKSTAT_TEST_WALK_EVERY_STACK=1 (tests, benchmark): every kernel stack walked, none found again by its path. */
    if (!getenv("LOCKSTAT_TEST_WALK_EVERY_STACK")) kernel_text(&values[LS_BPF_SETTING_TEXT_START], &values[LS_BPF_SETTING_TEXT_END]);
    /* LOCKSTAT_TEST_CHECK_PATHS=1 (tests only): every stack found by its path is walked as well, and a
       different walk counted: the stacks kept are the walks'. */
    values[LS_BPF_SETTING_CHECK_PATHS] = getenv("LOCKSTAT_TEST_CHECK_PATHS") != NULL;
    for (__u32 i = 0; i < LS_BPF_SETTINGS; i++) bpf_map_update_elem(h->settings, &i, &values[i], BPF_ANY);
    struct bpf_program *program;
    bpf_object__for_each_program(program, h->object) {
        if (!bpf_program__autoload(program)) continue;
        struct bpf_link *link = bpf_program__attach(program);
        if (!link) { fail(error, error_size, bpf_program__name(program), errno); ls_bpf_contention_close(h); return NULL; }
        if (h->links_count < LS_BPF_PROGRAMS) h->links[h->links_count++] = link;
    }
    h->shadow.size = 1;
    while (h->shadow.size < (size_t)entries * 2) h->shadow.size <<= 1;
    h->shadow.slots = calloc(h->shadow.size, sizeof *h->shadow.slots);
    h->shadow.used = calloc(h->shadow.size, 1);
    h->batch = calloc((size_t)entries, sizeof *h->batch);
    h->owner_batch = calloc(4096, sizeof *h->owner_batch);
    h->owner_shadow = calloc(4096, sizeof *h->owner_shadow);
    h->percpu = calloc((size_t)h->ncpus, sizeof(__u64) * 8);
    h->rq_reported = calloc((size_t)h->ncpus, sizeof(__u64));
    h->name_keys = calloc(LS_BPF_NAMED_LOCKS, sizeof(__u64));
    long most = entries > 4096 ? entries : 4096;
    h->batch_keys = calloc((size_t)most, sizeof(struct ls_bpf_key));
    h->batch_values = calloc((size_t)most, sizeof(struct ls_bpf_value));
    /* LOCKSTAT_TEST_NO_BATCH_LOOKUP=1 (tests only): the per-entry loop, as where the kernel refuses batches. */
    h->batch_lookup = getenv("LOCKSTAT_TEST_NO_BATCH_LOOKUP") == NULL;
    if (wakers) {
        h->waker_shadow.size = h->shadow.size;
        h->waker_shadow.slots = calloc(h->waker_shadow.size, sizeof *h->waker_shadow.slots);
        h->waker_shadow.used = calloc(h->waker_shadow.size, 1);
        h->waker_batch = calloc((size_t)entries, sizeof *h->waker_batch);
    }
    if (!h->shadow.slots || !h->shadow.used || !h->batch || !h->owner_batch || !h->owner_shadow || !h->percpu ||
        !h->rq_reported || !h->name_keys ||
        !h->batch_keys || !h->batch_values ||
        (wakers && (!h->waker_shadow.slots || !h->waker_shadow.used || !h->waker_batch))) {
        fail(error, error_size, "out of memory", ENOMEM);
        ls_bpf_contention_close(h);
        return NULL;
    }
    return h;
}

long ls_bpf_contention_handovers(ls_bpf_contention *h, struct ls_bpf_handover_entry *out, long capacity) {
    if (!h->wakers_on) return 0;
    long n = 0;
    __u64 key, next, *previous = NULL;
    while (bpf_map_get_next_key(h->locks, previous, &next) == 0) {
        if (n >= capacity) return -1;
        if (bpf_map_lookup_elem(h->locks, &next, &out[n].value) == 0) out[n++].lock = next;
        key = next;
        previous = &key;
    }
    return n;
}

long ls_bpf_contention_owner_stacks(ls_bpf_contention *h, struct ls_bpf_owner_stack_entry *out, long capacity) {
    if (!h->wakers_on) return 0;
    long n = 0;
    struct ls_bpf_owner_stack key, next, *previous = NULL;
    while (bpf_map_get_next_key(h->owner_stacks, previous, &next) == 0) {
        if (n >= capacity) return -1;
        if (bpf_map_lookup_elem(h->owner_stacks, &next, &out[n].count) == 0) out[n++].key = next;
        key = next;
        previous = &key;
    }
    return n;
}

long ls_bpf_contention_holds(ls_bpf_contention *h, struct ls_bpf_hold_entry *out, long capacity) {
    if (!h->wakers_on) return 0;
    long n = 0;
    struct ls_bpf_hold_key key, next, *previous = NULL;
    while (bpf_map_get_next_key(h->holds, previous, &next) == 0) {
        if (n >= capacity) return -1;
        if (bpf_map_lookup_elem(h->holds, &next, &out[n].value) == 0) out[n++].key = next;
        key = next;
        previous = &key;
    }
    return n;
}

int ls_bpf_contention_keep_user_stacks_of(ls_bpf_contention *h, long long uid) {
    __u32 which = LS_BPF_SETTING_USER_STACKS_OF;
    __u64 who = uid < 0 ? LS_BPF_USER_STACKS_OF_ALL : (__u64)uid + 1;
    return bpf_map_update_elem(h->settings, &which, &who, BPF_ANY) ? -errno : 0;
}

int ls_bpf_contention_follow(ls_bpf_contention *h, __u32 tgid) {
    __u8 yes = 1;
    return bpf_map_update_elem(h->followed, &tgid, &yes, BPF_ANY) ? -errno : 0;
}

/* Up to `capacity` entries of a hash map into `keys` and `values` with BPF_MAP_LOOKUP_BATCH: a
   system call per batch, not two per entry. Returns how many, or -1 when the kernel refuses
   (EINVAL, ENOTSUPP on kernels or maps without batches): the caller then reads entry by entry. */
static long read_batched(int fd, void *keys, size_t key_size, void *values, size_t value_size, long capacity) {
    long n = 0;
    /* The batch position token: a hash map's is a bucket index (__u32); a key's room is ample. */
    __u64 position[4], next[4];
    int first = 1;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    while (n < capacity) {
        __u32 count = (__u32)(capacity - n);
        int err = bpf_map_lookup_batch(fd, first ? NULL : position, next, (char *)keys + n * key_size,
                                       (char *)values + n * value_size, &count, &opts);
        if (err && errno != ENOENT) return -1;
        n += count;
        if (err) break;   /* ENOENT: the last batch (count holds what it had) */
        memcpy(position, next, sizeof position);
        first = 0;
    }
    return n;
}

/* Every entry of the waits map into h->batch; returns how many. */
static long read_waits(ls_bpf_contention *h) {
    if (h->batch_lookup) {
        long n = read_batched(h->waits, h->batch_keys, sizeof(struct ls_bpf_key), h->batch_values,
                              sizeof(struct ls_bpf_value), h->entries);
        if (n >= 0) {
            const struct ls_bpf_key *keys = h->batch_keys;
            const struct ls_bpf_value *values = h->batch_values;
            for (long i = 0; i < n; i++) {
                h->batch[i].key = keys[i];
                h->batch[i].value = values[i];
            }
            return n;
        }
        h->batch_lookup = 0;
    }
    long n = 0;
    struct ls_bpf_key key, next;
    struct ls_bpf_key *previous = NULL;
    while (n < h->entries && bpf_map_get_next_key(h->waits, previous, &next) == 0) {
        if (bpf_map_lookup_elem(h->waits, &next, &h->batch[n].value) == 0) {
            h->batch[n].key = next;
            n++;
        }
        key = next;
        previous = &key;
    }
    return n;
}

long ls_bpf_contention_changed(ls_bpf_contention *h, struct ls_bpf_entry *out, long capacity) {
    long n = read_waits(h), changed = 0;
    for (long i = 0; i < n; i++) {
        size_t slot = slot_of(&h->shadow, &h->batch[i].key);
        if (h->shadow.used[slot] && h->shadow.slots[slot].value.count == h->batch[i].value.count &&
            h->shadow.slots[slot].value.total_ns == h->batch[i].value.total_ns) continue;
        if (changed == capacity) return -1;
        out[changed++] = h->batch[i];
    }
    /* Only now that all of them fit: remember them as read. */
    for (long i = 0; i < changed; i++) {
        size_t slot = slot_of(&h->shadow, &out[i].key);
        h->shadow.used[slot] = 1;
        h->shadow.slots[slot] = out[i];
    }
    return changed;
}

/* Deletes `keys` from the waits map and from what was read, so a wait under one of them later
   starts a new entry counted from zero; the shadow table is built again without them. */
long ls_bpf_contention_forget(ls_bpf_contention *h, const struct ls_bpf_key *keys, long n) {
    long deleted = 0;
    for (long i = 0; i < n; i++) {
        if (bpf_map_delete_elem(h->waits, &keys[i]) == 0) deleted++;
        size_t slot = slot_of(&h->shadow, &keys[i]);
        if (h->shadow.used[slot]) h->shadow.used[slot] = 2;
    }
    struct shadow fresh = { calloc(h->shadow.size, sizeof *fresh.slots), calloc(h->shadow.size, 1), h->shadow.size };
    if (!fresh.slots || !fresh.used) { free(fresh.slots); free(fresh.used); return -ENOMEM; }
    for (size_t i = 0; i < h->shadow.size; i++) {
        if (h->shadow.used[i] != 1) continue;
        size_t slot = slot_of(&fresh, &h->shadow.slots[i].key);
        fresh.used[slot] = 1;
        fresh.slots[slot] = h->shadow.slots[i];
    }
    free(h->shadow.slots);
    free(h->shadow.used);
    h->shadow = fresh;
    return deleted;
}

long ls_bpf_contention_owners_changed(ls_bpf_contention *h, struct ls_bpf_owner_entry *out, long capacity) {
    long n = -1, changed = 0;
    if (h->batch_lookup) {
        n = read_batched(h->owners, h->batch_keys, sizeof(struct ls_bpf_owner_key), h->batch_values,
                         sizeof(struct ls_bpf_owner_value), 4096);
        const struct ls_bpf_owner_key *keys = h->batch_keys;
        const struct ls_bpf_owner_value *values = h->batch_values;
        for (long i = 0; i < n; i++) {
            h->owner_batch[i].key = keys[i];
            h->owner_batch[i].value = values[i];
        }
    }
    struct ls_bpf_owner_key key, next, *previous = NULL;
    if (n < 0) {
        n = 0;
        while (n < 4096 && bpf_map_get_next_key(h->owners, previous, &next) == 0) {
            if (bpf_map_lookup_elem(h->owners, &next, &h->owner_batch[n].value) == 0) h->owner_batch[n++].key = next;
            key = next;
            previous = &key;
        }
    }
    for (long i = 0; i < n; i++) {
        long j = 0;
        while (j < h->owner_shadow_count && memcmp(&h->owner_shadow[j].key, &h->owner_batch[i].key, sizeof key) != 0) j++;
        if (j < h->owner_shadow_count && h->owner_shadow[j].value.count == h->owner_batch[i].value.count) continue;
        if (changed == capacity) return -1;
        out[changed++] = h->owner_batch[i];
        if (j == h->owner_shadow_count && h->owner_shadow_count < 4096) h->owner_shadow_count++;
        h->owner_shadow[j] = h->owner_batch[i];
    }
    return changed;
}

long ls_bpf_contention_wakers_changed(ls_bpf_contention *h, struct ls_bpf_waker_entry *out, long capacity) {
    if (!h->wakers_on) return 0;
    long n = 0, changed = 0;
    struct ls_bpf_waker_key key, next, *previous = NULL;
    while (n < h->entries && bpf_map_get_next_key(h->wakers, previous, &next) == 0) {
        if (bpf_map_lookup_elem(h->wakers, &next, &h->waker_batch[n].value) == 0) h->waker_batch[n++].key = next;
        key = next;
        previous = &key;
    }
    for (long i = 0; i < n; i++) {
        size_t slot = waker_slot_of(&h->waker_shadow, &h->waker_batch[i].key);
        if (h->waker_shadow.used[slot] && h->waker_shadow.slots[slot].value.count == h->waker_batch[i].value.count &&
            h->waker_shadow.slots[slot].value.wakes == h->waker_batch[i].value.wakes) continue;
        if (changed == capacity) return -1;
        out[changed++] = h->waker_batch[i];
    }
    for (long i = 0; i < changed; i++) {
        size_t slot = waker_slot_of(&h->waker_shadow, &out[i].key);
        h->waker_shadow.used[slot] = 1;
        h->waker_shadow.slots[slot] = out[i];
    }
    return changed;
}

static struct btf *load_btf(const char *path) { return path ? btf__parse(path, NULL) : btf__load_vmlinux_btf(); }

int ls_bpf_kernel_has_kfunc(const char *btf_path, const char *name) {
    struct btf *btf = load_btf(btf_path);
    if (!btf) return -1;
    int found = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
    btf__free(btf);
    return found;
}

/* Whether struct or union `t` has `member`, directly or in an anonymous struct or union in it
   (mm_struct keeps its fields in one). */
static int has_member(const struct btf *btf, const struct btf_type *t, const char *member, int depth) {
    if (!t || depth > 4 || !(btf_is_struct(t) || btf_is_union(t))) return 0;
    const struct btf_member *m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
        if (m->name_off == 0) {
            const struct btf_type *inner = btf__type_by_id(btf, m->type);
            while (inner && (btf_is_typedef(inner) || btf_is_mod(inner))) inner = btf__type_by_id(btf, inner->type);
            if (has_member(btf, inner, member, depth + 1)) return 1;
        } else if (strcmp(btf__name_by_offset(btf, m->name_off), member) == 0) {
            return 1;
        }
    }
    return 0;
}

int ls_bpf_kernel_has_member(const char *btf_path, const char *type, const char *member) {
    struct btf *btf = load_btf(btf_path);
    if (!btf) return -1;
    int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
    int found = id > 0 && has_member(btf, btf__type_by_id(btf, id), member, 0);
    btf__free(btf);
    return found;
}

int ls_bpf_contention_names_slabs(ls_bpf_contention *h) { return h->names_slabs; }

long ls_bpf_contention_lock_names(ls_bpf_contention *h, struct ls_bpf_lock_name *out, long capacity) {
    long n = 0;
    /* Runqueue locks: each CPU's, when it is first known (or changed: CPU hotplug). */
    __u32 zero = 0;
    if (bpf_map_lookup_elem(h->rq_locks, &zero, h->percpu) == 0) {
        for (int cpu = 0; cpu < h->ncpus && n < capacity; cpu++) {
            __u64 lock = h->percpu[cpu];
            if (!lock || lock == h->rq_reported[cpu]) continue;
            h->rq_reported[cpu] = lock;
            memset(&out[n], 0, sizeof out[n]);
            out[n].lock = lock;
            out[n++].source = LS_LOCK_NAME_RUNQUEUE;
        }
    }
    /* Slab objects' locks: read, then deleted (a later new key on the same lock notes it again). */
    long keys = 0;
    __u64 key, next, *previous = NULL;
    while (keys < LS_BPF_NAMED_LOCKS && keys < capacity - n &&
           bpf_map_get_next_key(h->lock_caches, previous, &next) == 0) {
        h->name_keys[keys++] = next;
        key = next;
        previous = &key;
    }
    for (long i = 0; i < keys; i++) {
        __u64 cache = 0;
        if (bpf_map_lookup_and_delete_elem(h->lock_caches, &h->name_keys[i], &cache) != 0) continue;
        memset(&out[n], 0, sizeof out[n]);
        if (bpf_map_lookup_elem(h->cache_names, &cache, out[n].name) != 0) continue;
        out[n].name[LS_BPF_CACHE_NAME - 1] = 0;
        out[n].lock = h->name_keys[i];
        out[n++].source = LS_LOCK_NAME_SLAB;
    }
    return n;
}

int ls_bpf_contention_classifies_interrupts(ls_bpf_contention *h) { return h->classifies_interrupts; }

void ls_bpf_contention_counters(ls_bpf_contention *h, __u64 out[LS_BPF_COUNTERS]) {
    for (__u32 c = 0; c < LS_BPF_COUNTERS; c++) {
        out[c] = 0;
        if (bpf_map_lookup_elem(h->counters, &c, h->percpu) != 0) continue;
        for (int cpu = 0; cpu < h->ncpus; cpu++) out[c] += h->percpu[cpu];
    }
    out[LS_BPF_RECURSION_MISSED] = ls_bpf_contention_recursion_misses(h);
}

int ls_bpf_contention_stack(ls_bpf_contention *h, __s32 id, __u64 *ips, int max) {
    __u64 frames[LS_BPF_MAX_STACK];
    __u32 key = (__u32)id;
    if (id < 0 || bpf_map_lookup_elem(h->stacks, &key, frames) != 0) return 0;
    int n = 0;
    while (n < LS_BPF_MAX_STACK && n < max && frames[n]) { ips[n] = frames[n]; n++; }
    return n;
}

int ls_bpf_contention_user_stack(ls_bpf_contention *h, __s32 id, __u64 *ips, int max) {
    __u64 frames[LS_BPF_MAX_STACK];
    __u32 key = (__u32)id;
    if (!h->wakers_on || id < 0 || bpf_map_lookup_elem(h->user_stacks, &key, frames) != 0) return 0;
    int n = 0;
    while (n < LS_BPF_MAX_STACK && n < max && frames[n]) { ips[n] = frames[n]; n++; }
    return n;
}

int ls_bpf_contention_comm(ls_bpf_contention *h, __u32 tid, char out[LS_BPF_COMM]) {
    return bpf_map_lookup_elem(h->comms, &tid, out) ? -errno : 0;
}

int ls_bpf_run_time_statistics_on(void) {
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    return fd < 0 ? -errno : fd;
}

void ls_bpf_contention_run_time(ls_bpf_contention *h, __u64 *ns, __u64 *count) {
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

__u64 ls_bpf_contention_recursion_misses(ls_bpf_contention *h) {
    __u64 misses = 0;
    struct bpf_program *program;
    bpf_object__for_each_program(program, h->object) {
        struct bpf_prog_info info;
        __u32 length = sizeof info;
        memset(&info, 0, sizeof info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) == 0) misses += info.recursion_misses;
    }
    return misses;
}

/* The log2 bucket of a duration in ns, as the programs' bucket(). */
static __u32 bucket_of(__u64 ns) {
    __u32 b = ns > 1 ? 63 - (__u32)__builtin_clzll(ns) : 0;
    return b < LS_BPF_BUCKETS ? b : LS_BPF_BUCKETS - 1;
}

/* Adds `n` to counter `c` (CPU 0's share; lockstat sums them). */
static void add_counter(ls_bpf_contention *h, __u32 c, __u64 n) {
    if (!n || bpf_map_lookup_elem(h->counters, &c, h->percpu) != 0) return;
    h->percpu[0] += n;
    bpf_map_update_elem(h->counters, &c, h->percpu, BPF_ANY);
}

long ls_bpf_contention_settle(ls_bpf_contention *h) {
    for (int i = 0; i < h->links_count; i++) bpf_link__destroy(h->links[i]);
    h->links_count = 0;
    int fd = bpf_object__find_map_fd_by_name(h->object, "cpu_ended");
    size_t stride = (sizeof(struct ls_bpf_cpu_ended) + 7) & ~(size_t)7;
    char *all = calloc((size_t)h->ncpus, stride);
    __u32 zero = 0;
    if (fd < 0 || !all || bpf_map_lookup_elem(fd, &zero, all) != 0) { free(all); return -1; }
    __u64 added = 0, full = 0;
    for (int cpu = 0; cpu < h->ncpus; cpu++) {
        const struct ls_bpf_cpu_ended *e = (const void *)(all + (size_t)cpu * stride);
        for (__u32 i = 0; i < e->n && i < LS_BPF_CPU_DEPTH; i++) {
            const struct ls_bpf_ended *r = &e->ended[i];
            struct ls_bpf_value v;
            if (bpf_map_lookup_elem(h->waits, &r->key, &v) == 0) {
                v.count++;
                v.total_ns += r->ns;
                if (r->ns > v.max_ns) v.max_ns = r->ns;
                if (r->ns < v.min_ns) v.min_ns = r->ns;
            } else {
                memset(&v, 0, sizeof v);
                v.count = 1;
                v.total_ns = v.max_ns = v.min_ns = r->ns;
                v.flags = r->flags;
                v.kind = r->kind;
            }
            v.buckets[bucket_of(r->ns)]++;
            if (bpf_map_update_elem(h->waits, &r->key, &v, BPF_ANY) == 0) added++;
            else full++;
        }
    }
    free(all);
    add_counter(h, LS_BPF_RECORDED, added);
    add_counter(h, LS_BPF_MAP_FULL, full);
    return (long)added;
}

void ls_bpf_contention_close(ls_bpf_contention *h) {
    if (!h) return;
    for (int i = 0; i < h->links_count; i++) bpf_link__destroy(h->links[i]);
    if (h->object) bpf_object__close(h->object);
    free(h->shadow.slots);
    free(h->shadow.used);
    free(h->batch);
    free(h->owner_batch);
    free(h->owner_shadow);
    free(h->waker_batch);
    free(h->waker_shadow.slots);
    free(h->waker_shadow.used);
    free(h->percpu);
    free(h->rq_reported);
    free(h->name_keys);
    free(h->batch_keys);
    free(h->batch_values);
    free(h);
}
