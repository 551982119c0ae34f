#include "CSkiffMemory.h"
#include <stdlib.h> /* defines __GLIBC__ */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>

void skiff_malloc_totals(size_t *allocated, size_t *heap) {
    struct mallinfo2 info = mallinfo2();
    *allocated = info.uordblks + info.hblkhd;
    *heap = info.arena + info.hblkhd;
}
#else
void skiff_malloc_totals(size_t *allocated, size_t *heap) {
    *allocated = 0;
    *heap = 0;
}
#endif
