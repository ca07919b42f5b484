/*
 * alloc.c - the one allocation hook of libxg.  internal.h routes the
 * library's malloc, calloc, realloc and strdup here, so a test can fail
 * the Nth allocation (XG_FAIL_ALLOC=N) and watch the caller report "out of
 * memory" and clean up; XG_FAULTS_COUNT reports how many there were.
 */
#define XG_ALLOC_IMPL 1
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static unsigned long alloc_calls;
static unsigned long fail_at; /* 0: never */
static int fail_read;

unsigned long xg__alloc_count(void)
{
    return __atomic_load_n(&alloc_calls, __ATOMIC_RELAXED);
}

/* Is this allocation the one to fail? */
static bool fail_this(void)
{
    if (!__atomic_load_n(&fail_read, __ATOMIC_ACQUIRE)) {
        const char *s = getenv("XG_FAIL_ALLOC");
        unsigned long v = s && *s ? strtoul(s, NULL, 10) : 0;
        __atomic_store_n(&fail_at, v, __ATOMIC_RELAXED);
        __atomic_store_n(&fail_read, 1, __ATOMIC_RELEASE);
    }
    unsigned long n = __atomic_add_fetch(&alloc_calls, 1, __ATOMIC_RELAXED);
    if (n == __atomic_load_n(&fail_at, __ATOMIC_RELAXED)) {
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *xg__malloc(size_t n)
{
    return fail_this() ? NULL : malloc(n);
}

void *xg__calloc(size_t n, size_t size)
{
    return fail_this() ? NULL : calloc(n, size);
}

void *xg__realloc(void *p, size_t n)
{
    return fail_this() ? NULL : realloc(p, n);
}

char *xg__strdup(const char *s)
{
    return fail_this() ? NULL : strdup(s);
}
