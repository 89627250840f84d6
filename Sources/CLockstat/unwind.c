#define _GNU_SOURCE
#include "clockstat_unwind.h"
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <execinfo.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The files' own CFI, else a separate debug file's .debug_frame found by build ID under
   /usr/lib/debug. Not dwfl_standard_find_debuginfo, perf's choice: it also asks debuginfod
   servers (DEBUGINFOD_URLS), and parse must not wait on the network. */
static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_debuginfo = dwfl_build_id_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
    .section_address = dwfl_offline_section_address,
};

struct reported {
    char *path;
    uint64_t bias;
};

struct ls_unwinder {
    Dwfl *dwfl;
    bool ready;
    struct reported *files;
    size_t nfiles;
    /* The stack being unwound. */
    const uint64_t *registers;
    uint32_t known;
    const uint8_t *stack;
    size_t stack_size;
    uint64_t *pcs;
    uint8_t *activation;
    int max_frames, frames;
    const char *stop;
};

ls_unwinder *ls_unwinder_new(void) {
    elf_version(EV_CURRENT);
    ls_unwinder *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->dwfl = dwfl_begin(&offline_callbacks);
    if (!u->dwfl) {
        free(u);
        return NULL;
    }
    dwfl_report_begin(u->dwfl);
    return u;
}

void ls_unwinder_free(ls_unwinder *u) {
    if (!u) return;
    dwfl_end(u->dwfl);
    for (size_t i = 0; i < u->nfiles; i++) free(u->files[i].path);
    free(u->files);
    free(u);
}

/* A regular file only: a FIFO or device put in a library's place must not block or be read. */
static int open_regular(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

int ls_unwinder_add_mapping(ls_unwinder *u, const char *path, uint64_t start, uint64_t end, uint64_t file_offset,
                            const uint8_t *build_id, size_t build_id_size) {
    (void)end;
    if (u->ready) return LS_UNWIND_CLOSED;
    int fd = open_regular(path);
    if (fd < 0) return LS_UNWIND_UNREADABLE;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr ehdr;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr)) {
        if (elf) elf_end(elf);
        close(fd);
        return LS_UNWIND_UNREADABLE;
    }
    if (build_id_size > 0) {
        const void *id = NULL;
        ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
        if (n != (ssize_t)build_id_size || memcmp(id, build_id, build_id_size) != 0) {
            elf_end(elf);
            close(fd);
            return LS_UNWIND_OTHER_BUILD;
        }
    }
    /* The load bias: where the mapping put the file offset, less the address the file was linked
       for it (the PT_LOAD segment holding the offset). */
    size_t phnum = 0;
    bool found = false;
    uint64_t bias = 0;
    if (elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum && !found; i++) {
            GElf_Phdr ph;
            if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
            if (file_offset >= ph.p_offset && file_offset - ph.p_offset < (ph.p_filesz ? ph.p_filesz : 1)) {
                bias = start - (ph.p_vaddr + (file_offset - ph.p_offset));
                found = true;
            }
        }
    }
    elf_end(elf);
    if (!found) {
        close(fd);
        return LS_UNWIND_NO_SEGMENT;
    }
    if (ehdr.e_type == ET_EXEC) bias = 0;
    for (size_t i = 0; i < u->nfiles; i++) {
        if (u->files[i].bias == bias && strcmp(u->files[i].path, path) == 0) {
            close(fd);
            return LS_UNWIND_ALREADY;
        }
    }
    struct reported *files = realloc(u->files, (u->nfiles + 1) * sizeof *files);
    char *copy = strdup(path);
    if (files) u->files = files;
    if (!files || !copy) {
        free(copy);
        close(fd);
        return LS_UNWIND_REFUSED;
    }
    const char *name = strrchr(path, '/');
    if (!dwfl_report_elf(u->dwfl, name ? name + 1 : path, path, fd, bias, true)) {
        free(copy);
        close(fd);
        return LS_UNWIND_REFUSED;
    }
    u->files[u->nfiles++] = (struct reported){copy, bias};
    return LS_UNWIND_ADDED;
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg) {
    if (*thread_arg) return 0;
    *thread_arg = arg;
    return dwfl_pid(dwfl);
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_arg) {
    (void)dwfl;
    (void)tid;
    *thread_arg = arg;
    return true;
}

/* A word of a mapped file's loaded bytes (a PT_LOAD segment's file part), for CFI expressions
   that read memory outside the stack copy. */
static bool read_file_word(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *out) {
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    Dwarf_Addr bias = 0;
    Elf *elf = mod ? dwfl_module_getelf(mod, &bias) : NULL;
    size_t phnum = 0, rawsize = 0;
    const char *raw = elf ? elf_rawfile(elf, &rawsize) : NULL;
    if (!raw || elf_getphdrnum(elf, &phnum) != 0) return false;
    uint64_t linked = addr - bias;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
        if (linked < ph.p_vaddr || ph.p_filesz < sizeof *out || linked - ph.p_vaddr > ph.p_filesz - sizeof *out)
            continue;
        uint64_t at = ph.p_offset + (linked - ph.p_vaddr);
        if (at > rawsize || rawsize - at < sizeof *out) return false;
        memcpy(out, raw + at, sizeof *out);
        return true;
    }
    return false;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *out, void *arg) {
    ls_unwinder *u = arg;
    uint64_t sp = u->registers[7];
    if (addr >= sp && u->stack_size >= sizeof *out && addr - sp <= u->stack_size - sizeof *out) {
        memcpy(out, u->stack + (addr - sp), sizeof *out);
        return true;
    }
    return read_file_word(dwfl, addr, out);
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg) {
    ls_unwinder *u = arg;
    /* Each run of taken registers in one call; the others stay undefined. */
    for (int first = 0; first < LS_UNWIND_REGISTERS;) {
        if (!(u->known & (1u << first))) {
            first++;
            continue;
        }
        int last = first;
        while (last + 1 < LS_UNWIND_REGISTERS && (u->known & (1u << (last + 1)))) last++;
        if (!dwfl_thread_state_registers(thread, first, (unsigned)(last - first + 1), u->registers + first))
            return false;
        first = last + 1;
    }
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

int ls_unwinder_ready(ls_unwinder *u) {
    if (u->ready) return 0;
    if (dwfl_report_end(u->dwfl, NULL, NULL) != 0 || u->nfiles == 0) return -1;
    /* Any pid: the threads are the stacks handed to ls_unwinder_unwind (get_thread). */
    if (!dwfl_attach_state(u->dwfl, NULL, 1, &thread_callbacks, u)) return -1;
    u->ready = true;
    return 0;
}

static int frame_callback(Dwfl_Frame *frame, void *arg) {
    ls_unwinder *u = arg;
    Dwarf_Addr pc;
    bool activation = false;
    if (!dwfl_frame_pc(frame, &pc, &activation)) {
        u->stop = dwfl_errmsg(-1);
        return DWARF_CB_ABORT;
    }
    u->pcs[u->frames] = pc;
    if (u->activation) u->activation[u->frames] = activation;
    return ++u->frames < u->max_frames ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int ls_unwinder_unwind(ls_unwinder *u, const uint64_t registers[LS_UNWIND_REGISTERS], uint32_t known,
                       const void *stack, size_t stack_size, uint64_t *pcs, uint8_t *activation, int max_frames) {
    if (!u->ready || max_frames <= 0 || !(known & (1u << 16)) || !(known & (1u << 7))) return -1;
    u->registers = registers;
    u->known = known;
    u->stack = stack;
    u->stack_size = stack ? stack_size : 0;
    u->pcs = pcs;
    u->activation = activation;
    u->max_frames = max_frames;
    u->frames = 0;
    u->stop = NULL;
    if (dwfl_getthread_frames(u->dwfl, 1, frame_callback, u) != 0 && !u->stop && u->frames < max_frames) {
        const char *why = dwfl_errmsg(-1);
        u->stop = why ? why : "the unwinding failed";
    }
    u->registers = NULL;
    u->stack = NULL;
    return u->frames;
}

const char *ls_unwinder_stop_reason(ls_unwinder *u) { return u->stop; }

int ls_elf_build_id(const char *path, uint8_t *out, size_t cap) {
    elf_version(EV_CURRENT);
    int fd = open_regular(path);
    if (fd < 0) return -1;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int size = -1;
    const void *id = NULL;
    ssize_t n = elf && elf_kind(elf) == ELF_K_ELF ? dwelf_elf_gnu_build_id(elf, &id) : -1;
    if (n > 0 && (size_t)n <= cap) {
        memcpy(out, id, (size_t)n);
        size = (int)n;
    }
    if (elf) elf_end(elf);
    close(fd);
    return size;
}

__attribute__((noinline)) int ls_unwind_capture_self(uint64_t registers[LS_UNWIND_REGISTERS], uint32_t *known,
                                                     void *stack, size_t stack_cap, size_t *stack_size, void **trace,
                                                     int trace_max, int *traced) {
#if defined(__x86_64__)
    uint64_t r[LS_UNWIND_REGISTERS] = {0};
    /* Stored to memory, so no output register can overwrite a register before it is read. The
       pc is the label's: the call-frame information there describes this very state. */
    __asm__ volatile("1: lea 1b(%%rip), %%rax\n\t"
                     "mov %%rax, %0\n\t"
                     "mov %%rsp, %1\n\t"
                     "mov %%rbp, %2\n\t"
                     "mov %%rbx, %3\n\t"
                     "mov %%r12, %4\n\t"
                     "mov %%r13, %5\n\t"
                     "mov %%r14, %6\n\t"
                     "mov %%r15, %7\n\t"
                     : "=m"(r[16]), "=m"(r[7]), "=m"(r[6]), "=m"(r[3]), "=m"(r[12]), "=m"(r[13]), "=m"(r[14]),
                       "=m"(r[15])
                     :
                     : "rax");
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return -1;
    int got = pthread_attr_getstack(&attr, &low, &size);
    pthread_attr_destroy(&attr);
    uint64_t top = (uint64_t)(uintptr_t)low + size;
    if (got != 0 || r[7] >= top) return -1;
    size_t n = top - r[7] < stack_cap ? (size_t)(top - r[7]) : stack_cap;
    memcpy(stack, (const void *)(uintptr_t)r[7], n);
    *stack_size = n;
    memcpy(registers, r, sizeof r);
    *known = 1u << 16 | 1u << 7 | 1u << 6 | 1u << 3 | 1u << 12 | 1u << 13 | 1u << 14 | 1u << 15;
    *traced = backtrace(trace, trace_max);
    return 0;
#else
    (void)registers, (void)known, (void)stack, (void)stack_cap, (void)stack_size, (void)trace, (void)trace_max;
    (void)traced;
    return -1;
#endif
}
