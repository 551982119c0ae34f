#ifndef C_SKIFF_MEMORY_H
#define C_SKIFF_MEMORY_H

#include <stddef.h>

/* glibc's allocator totals (mallinfo2), which Swift's Glibc module does not import: bytes
 * handed out (in use, mmapped chunks included) and bytes held from the system. Zeros where the
 * C library has no mallinfo2. */
void skiff_malloc_totals(size_t *allocated, size_t *heap);

#endif
