#include "clockstat_demangle.h"
#include <stdlib.h>

/* libstdc++'s Itanium C++ ABI demangler (cxxabi.h). */
extern char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);
/* The Swift runtime's demangler (libswiftCore, linked into every Swift program). */
extern char *swift_demangle(const char *mangled, size_t length, char *buffer, size_t *buffer_size, uint32_t flags);

char *ls_demangle_cxx(const char *mangled) {
    int status = 0;
    char *s = __cxa_demangle(mangled, NULL, NULL, &status);
    return status == 0 ? s : (free(s), NULL);
}

char *ls_demangle_swift(const char *mangled, size_t length) {
    return swift_demangle(mangled, length, NULL, NULL, 0);
}
