#ifndef CLOCKSTAT_DEMANGLE_H
#define CLOCKSTAT_DEMANGLE_H
#include <stddef.h>
#include <stdint.h>

/* Demangled names, malloc'ed (the caller frees), or NULL when the name is not one of theirs. */
char *ls_demangle_cxx(const char *mangled);
char *ls_demangle_swift(const char *mangled, size_t length);

#endif
