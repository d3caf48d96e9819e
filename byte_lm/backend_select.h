#ifndef BYTELM_BACKEND_SELECT_H
#define BYTELM_BACKEND_SELECT_H

#include "backend.h"
#include "error.h"

/* "cpu" or "cuda"; NULL with a message in e when unavailable. */
Backend *backend_by_name(const char *name, int threads, BlErr *e);

#endif
