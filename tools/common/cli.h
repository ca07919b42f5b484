/*
 * cli.h - small helpers shared by the command-line tools.
 */
#ifndef XG_TOOLS_CLI_H
#define XG_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit statuses of every tool. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/*
 * Parse a size: bytes, or a number with K, M, G (binary) suffix.
 * Returns false (and leaves *out) when s is not a size.
 */
bool cli_parse_size(const char *s, uint64_t *out);
/* Parse an unsigned decimal (or 0x hex) number in [min, max]. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool cli_parse_double(const char *s, double min, double max, double *out);

#endif
