#ifndef WAKALA_CSUPPORT_H
#define WAKALA_CSUPPORT_H
#include <spawn.h>

/// Adds "close every descriptor from `lowfd` up" to a posix_spawn file-actions list (glibc's
/// posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not expose).
int wakala_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd);

#endif
