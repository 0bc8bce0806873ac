#define _GNU_SOURCE
#include <spawn.h>
#include "CSupport.h"

int wakala_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
}
