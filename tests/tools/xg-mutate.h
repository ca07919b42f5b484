/*
 * xg-mutate's edits, shared by its option parser (xg-mutate.c) and its
 * seeded picker (mutate-pick.c), which chooses one mutation from a seed.
 */
#ifndef XG_TESTS_TOOLS_XG_MUTATE_H
#define XG_TESTS_TOOLS_XG_MUTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_EDITS 64

/* Each returns false when there is no room (or the argument is bad). */
bool mutate_add_type(uint64_t pfn, uint32_t type);
bool mutate_add_entry(uint64_t pfn, unsigned slot, uint64_t value);
bool mutate_add_drop(uint64_t pfn);
void mutate_set_cr3(long vcpu, uint64_t pfn);
void mutate_set_gdt(long vcpu, uint64_t pfn);

/*
 * Read the image at PATH and add one mutation chosen from SEED alone (the
 * same image and seed always give the same mutation), described in DESC
 * ("KIND: what").  Returns 0, or -1 with DESC saying why none could be made.
 */
int mutate_pick(const char *path, uint64_t seed, char *desc, size_t desc_len);

#endif
