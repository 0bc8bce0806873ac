#include <malloc.h>
#include "CSupport.h"

int wakala_limit_malloc_arenas(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int wakala_trim_malloc(void) {
    return malloc_trim(0);
}

size_t wakala_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
