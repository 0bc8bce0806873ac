#ifndef WAKALA_CSUPPORT_H
#define WAKALA_CSUPPORT_H
#include <spawn.h>

/// Adds "close every descriptor from `lowfd` up" to a posix_spawn file-actions list (glibc's
/// posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not expose).
int wakala_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd);

/// Asks the CPU to bring the cache line holding `p` closer (no effect on results): hash-table
/// operators prefetch the home slots of a whole batch before probing them one by one.
static inline void wakala_prefetch(const void *p) { __builtin_prefetch(p); }

/// sin and cos of one angle in one call (glibc's sincos shares the argument reduction; Swift's
/// Glibc module does not expose it).
static inline void wakala_sincos(double x, double *s, double *c) { __builtin_sincos(x, s, c); }

#endif

/// Tunes the allocator (jemalloc) for long runs: freed pages returned within a second, by its
/// background thread. 1 when it took the settings. Call before the pipeline's threads start.
int wakala_tune_malloc(void);

/// Hands freed pages back to the system now (jemalloc: every arena purged); 1 when it did.
int wakala_trim_malloc(void);

/// Bytes the program has allocated and not freed (jemalloc's stats.allocated) — live memory,
/// unlike RSS, which also counts freed pages the allocator has not returned yet.
size_t wakala_heap_in_use(void);
