#include <malloc.h>
#include "CSupport.h"

int wakala_limit_malloc_arenas(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int wakala_trim_malloc(void) {
    return malloc_trim(0);
}
