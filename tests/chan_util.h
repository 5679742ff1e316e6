/* SPDX-License-Identifier: MIT */
/* Helpers for the multi-process channel tests. */
#ifndef DMK_TEST_CHAN_UTIL_H
#define DMK_TEST_CHAN_UTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* A socket path unique to this test process. */
static inline void chan_path(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/dmk-test-%s-%d.sock", tag, (int)getpid());
}

static inline struct dmk_pool *chan_pool(unsigned int n, uint64_t size)
{
	DMK_OPTS(dmk_pool_opts, po, .name = "chan", .buf_size = size);
	struct dmk_heap *h;
	struct dmk_pool *p;

	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(dmk_pool_new(h, n, &po, &p), 0);
	dmk_heap_close(h);
	return p;
}

/* Run the producer side until @n consumers are ready (or 5 s pass). */
static inline void chan_wait_consumers(struct dmk_chan *ch, unsigned int n)
{
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	int i;

	for (i = 0; i < 500; i++) {
		dmk_chan_stats(ch, &st);
		if (st.consumers >= n)
			return;
		dmk_chan_dispatch(ch, 10);
	}
	cr_assert_fail("only %u of %u consumers connected", st.consumers, n);
}

/* Reap a child; its exit status, or 128 + signal. */
static inline int chan_reap(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

#endif
