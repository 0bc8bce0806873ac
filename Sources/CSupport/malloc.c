#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "CSupport.h"

// jemalloc (Debian's libjemalloc, linked into every product through this target) is the
// allocator; its control interface, declared here rather than through <jemalloc/jemalloc.h>,
// whose macros would rename malloc and friends in this file.
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

int wakala_tune_malloc(void) {
    // Freed pages go back to the system within a second (the default keeps them ten), by
    // jemalloc's own background thread rather than on the freeing thread.
    ssize_t decay = 1000;
    int failed = mallctl("arenas.dirty_decay_ms", NULL, NULL, &decay, sizeof decay);
    failed |= mallctl("arena.4096.dirty_decay_ms", NULL, NULL, &decay, sizeof decay); // 4096: every arena so far
    bool on = true;
    failed |= mallctl("background_thread", NULL, NULL, &on, sizeof on);
    return failed == 0;
}

int wakala_trim_malloc(void) {
    return mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0;
}

size_t wakala_heap_in_use(void) {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    mallctl("epoch", &epoch, &len, &epoch, len); // refreshes the statistics
    size_t allocated = 0;
    len = sizeof allocated;
    if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0) return 0;
    return allocated;
}
