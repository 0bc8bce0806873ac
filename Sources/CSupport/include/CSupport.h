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

/// Limits glibc's malloc arenas (mallopt M_ARENA_MAX); 0 when it refused.
int wakala_limit_malloc_arenas(int arenas);

/// Returns freed heap memory to the system (glibc malloc_trim(0)); 1 when some was released.
int wakala_trim_malloc(void);

/// Bytes the program has allocated and not freed (glibc mallinfo2: in use in the arenas plus
/// mmapped blocks) — live memory, unlike RSS, which also counts the freed memory glibc keeps.
size_t wakala_heap_in_use(void);
