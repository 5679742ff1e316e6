/* SPDX-License-Identifier: MIT */
/*
 * stats.c's text parsers, shared with its tests (tests/test_stats.c feeds
 * them the malformed input a fake tree cannot deliver: fdinfo is only read
 * for fds that resolve to a real dma-buf).
 */
#ifndef DMK_STATS_INTERNAL_H
#define DMK_STATS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <dmakit/stats.h>

#define DMK_STATS_EXP_MAX 64		/* exporter names, truncated */
#define DMK_STATS_NAME_MAX 256		/* memfd names are up to 249 */

/* The fields of a dma-buf's /proc/<pid>/fdinfo/<fd> that stats uses. */
struct dmk__fdinfo {
	bool have_size, have_count, have_ino, have_exp_name, have_name;
	uint64_t size;
	int64_t count;
	uint64_t ino;
	char exp_name[DMK_STATS_EXP_MAX];
	char name[DMK_STATS_NAME_MAX];
};

/*
 * Parse fdinfo text.  A field that is missing, or whose value does not
 * parse (garbage, a number past 64 bits), is left unset; other lines are
 * ignored.  Never fails.
 */
void dmk__stats_parse_fdinfo(const char *text, struct dmk__fdinfo *fi);

/* One line of /proc/<pid>/maps. */
struct dmk__maps_line {
	uint64_t start, end, offset;
	unsigned int major, minor;
	uint64_t ino;
	const char *path;	/* into the line; "" for an anonymous mapping */
};

/*
 * Parse one maps line (without its newline).
 * Return: 0, or -EINVAL for a line that is not one (garbage, start past
 * end, numbers that do not fit).
 */
int dmk__stats_parse_maps_line(const char *line, struct dmk__maps_line *ml);

/* Parse /proc/meminfo text into @m's meminfo fields (unknown ones stay
 * DMK_STATS_UNKNOWN). */
void dmk__stats_parse_meminfo(const char *text, struct dmk_stats_memory *m);

/* Parse /proc/pressure/memory text into @m's psi fields. */
void dmk__stats_parse_psi(const char *text, struct dmk_stats_memory *m);

#endif /* DMK_STATS_INTERNAL_H */
