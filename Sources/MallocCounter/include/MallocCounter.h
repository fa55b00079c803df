// Counts heap allocations in the process that links this target (the bench),
// by interposing malloc and friends and forwarding them to glibc.
#include <stddef.h>

/// Number of malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign calls so far.
long convnet_allocation_count(void);
