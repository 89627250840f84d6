#ifndef CLOCKSTAT_UNWIND_H
#define CLOCKSTAT_UNWIND_H
#include <stddef.h>
#include <stdint.h>

/* A user-stack unwinder over elfutils' libdwfl, as perf's util/unwind-libdw.c: the files a
   process had mapped are reported once (dwfl_report_elf), then each stack is unwound by the
   files' DWARF call-frame information (.eh_frame, .debug_frame) from registers taken at an event
   and a copy of the stack from sp upward; memory outside the copy is read from the mapped
   files. One unwinder serves one process's mapping set, one thread at a time. */
typedef struct ls_unwinder ls_unwinder;

/* x86-64's DWARF register numbers (System V psABI, figure 3.36): rax rdx rcx rbx rsi rdi rbp
   rsp r8 .. r15, then 16, the return address column, which holds the pc. */
enum { LS_UNWIND_REGISTERS = 17 };

ls_unwinder *ls_unwinder_new(void);
void ls_unwinder_free(ls_unwinder *u);

/* What ls_unwinder_add_mapping made of a mapping. */
enum {
    LS_UNWIND_ADDED = 0,
    /* The file has another mapping at the same load bias already reported: nothing to add. */
    LS_UNWIND_ALREADY = 1,
    /* The file cannot be opened, is no regular file, or is not ELF. */
    LS_UNWIND_UNREADABLE = 2,
    /* The file's build ID is not the one recorded at the run: it was replaced since. */
    LS_UNWIND_OTHER_BUILD = 3,
    /* No loadable segment holds the mapping's file offset. */
    LS_UNWIND_NO_SEGMENT = 4,
    /* libdwfl refused the file (overlapping another, or out of memory). */
    LS_UNWIND_REFUSED = 5,
    /* Called after ls_unwinder_ready. */
    LS_UNWIND_CLOSED = 6,
};

/* Reports the file mapped at [start, end) from `file_offset`. With `build_id` (size > 0), the
   file opened must carry that GNU build ID, else it is left out (its frames end the unwinding).
   Returns an LS_UNWIND_* status. */
int ls_unwinder_add_mapping(ls_unwinder *u, const char *path, uint64_t start, uint64_t end, uint64_t file_offset,
                            const uint8_t *build_id, size_t build_id_size);
/* Ends the reporting and attaches the unwinding state: 0, or -1 when no file was added. */
int ls_unwinder_ready(ls_unwinder *u);

/* Unwinds one stack. `registers` in the DWARF numbering above; bit i of `known` says whether
   register i was taken (the pc, 16, and rsp, 7, are required). `stack` holds `stack_size` bytes
   copied from rsp upward. Writes at most `max_frames` pcs, innermost first: frame 0 is the
   interrupted instruction, each other a return address unless `activation[i]` is 1 (the frame
   below it was a signal frame); `activation` may be NULL. Returns the frames written, or -1 when
   the unwinder is not ready or the registers lack the pc or sp. */
int ls_unwinder_unwind(ls_unwinder *u, const uint64_t registers[LS_UNWIND_REGISTERS], uint32_t known,
                       const void *stack, size_t stack_size, uint64_t *pcs, uint8_t *activation, int max_frames);
/* Why the last unwinding stopped before the outermost frame (libdwfl's message), or NULL when it
   reached it (or `max_frames`). */
const char *ls_unwinder_stop_reason(ls_unwinder *u);

/* The calling thread's own registers and stack, taken inside this function, and the return
   addresses glibc's backtrace(3) (libgcc's DWARF unwinder) finds from the same place: a check,
   in lockstat's own process, that ls_unwinder_unwind sees what another DWARF unwinder sees.
   Copies at most `stack_cap` bytes from rsp, clamped to the thread's stack; `*stack_size` gets
   the bytes copied, `*traced` the return addresses in `trace` (its first is in this function).
   Returns 0, or -1 off x86-64 or when the thread's stack cannot be found. */
int ls_unwind_capture_self(uint64_t registers[LS_UNWIND_REGISTERS], uint32_t *known, void *stack, size_t stack_cap,
                           size_t *stack_size, void **trace, int trace_max, int *traced);

/* The GNU build ID of the ELF file at `path` into `out` (at most `cap` bytes): its size, or -1
   when the file cannot be read as ELF or has none. */
int ls_elf_build_id(const char *path, uint8_t *out, size_t cap);

#endif
