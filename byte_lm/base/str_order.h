/* The order of arrays of C strings, for qsort and bsearch over `char *` (or `const char *`)
 * elements: byte order, as strcmp gives it. */
#ifndef BYTELM_BASE_STR_ORDER_H
#define BYTELM_BASE_STR_ORDER_H

#include <string.h>

static inline int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#endif
