// SPDX-License-Identifier: MIT
/* chan: frames handed between processes through rings, no copies. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chan_util.h"

#define BUF_SIZE 65536

/* Consumer process: receive @n frames, check each frame's contents (the
 * producer writes the frame id into every word), exit 0 on success. */
static int consume(const char *path, unsigned int flags, uint64_t n,
		   int hold_ms)
{
	DMK_OPTS(dmk_chan_opts, o, .flags = flags, .name = "test");
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t got = 0, last = 0;
	int ret = dmk_chan_connect(path, &o, 5000, &ch);

	if (ret)
		return 10;
	while (got < n) {
		const uint64_t *w;
		size_t i;

		ret = dmk_chan_recv(ch, &fi, 5000000000ll);
		if (ret < 0)
			return ret == -EPIPE ? 11 : 12;
		w = dmk_chan_addr(ch, (unsigned int)ret);
		for (i = 0; i < BUF_SIZE / 8; i += 512)
			if (w[i] != fi.frame_id)
				return 13;
		if (got && fi.frame_id <= last)
			return 14;	/* out of order */
		if (fi.meta_len != 8 || memcmp(fi.meta, &fi.frame_id, 8))
			return 15;
		last = fi.frame_id;
		got++;
		if (hold_ms) {
			struct timespec d = { 0, hold_ms * 1000000l };

			nanosleep(&d, NULL);
		}
		if (dmk_chan_release(ch, (unsigned int)ret))
			return 16;
	}
	dmk_chan_close(ch);
	return 0;
}

static void produce(struct dmk_chan *ch, struct dmk_pool *p, uint64_t n)
{
	struct dmk_frame_info fi = { .meta_len = 8 };
	uint64_t f;

	for (f = 1; f <= n; f++) {
		int id;
		uint64_t *w;
		size_t i;

		while ((id = dmk_pool_acquire(p, 0)) < 0)
			dmk_chan_dispatch(ch, 1);
		w = dmk_pool_addr(p, (unsigned int)id);
		for (i = 0; i < BUF_SIZE / 8; i++)
			w[i] = f;
		fi.frame_id = f;
		memcpy(fi.meta, &f, 8);
		cr_assert_geq(dmk_chan_publish(ch, (unsigned int)id, &fi), 0);
		dmk_pool_release(p, (unsigned int)id);
		if (f % 64 == 0)
			dmk_chan_dispatch(ch, 0);
	}
}

static void handoff(unsigned int nconsumers, unsigned int flags, uint64_t n)
{
	struct dmk_pool *p = chan_pool(8, BUF_SIZE);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	struct dmk_chan *ch;
	char path[108];
	pid_t pids[4];
	unsigned int i;

	chan_path(path, sizeof(path), "handoff");
	cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch), 0);
	for (i = 0; i < nconsumers; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(consume(path, flags, n, 0));
	}
	chan_wait_consumers(ch, nconsumers);
	produce(ch, p, n);
	/* Let the consumers finish before saying goodbye. */
	for (i = 0; i < nconsumers; i++)
		cr_assert_eq(chan_reap(pids[i]), 0, "consumer %u failed", i);
	dmk_chan_dispatch(ch, 0);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_eq(st.frames, n);
	cr_assert_eq(dmk_pool_stats(p, &ps), 0);
	cr_assert_eq(ps.in_use, 0, "%u buffers never came back", ps.in_use);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}

DMK_TEST(chan, one_consumer_eventfd)
{
	handoff(1, 0, 2000);
}

DMK_TEST(chan, one_consumer_busy_poll)
{
	handoff(1, DMK_CHAN_BUSY_POLL, 2000);
}

DMK_TEST(chan, three_consumers)
{
	handoff(3, 0, 1000);
}

DMK_TEST(chan, socket_is_private)
{
	struct dmk_pool *p = chan_pool(2, 4096);
	struct dmk_chan *ch;
	char path[108];
	struct stat st;

	chan_path(path, sizeof(path), "mode");
	cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert(S_ISSOCK(st.st_mode));
	/* A second producer on a live path is refused. */
	{
		struct dmk_chan *ch2 = NULL;

		cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch2), -EADDRINUSE);
		cr_assert_null(ch2);
	}
	dmk_chan_close(ch);
	cr_assert_neq(stat(path, &st), 0, "socket file left behind");
	dmk_pool_free(p);
}

DMK_TEST(chan, no_producer)
{
	struct dmk_chan *ch = NULL;

	cr_assert_eq(dmk_chan_connect("/tmp/dmk-no-such.sock", NULL, 100, &ch),
		     -ENOENT);
	cr_assert_eq(dmk_chan_connect("", NULL, 100, &ch), -EINVAL);
	cr_assert_null(ch);
}

/* A consumer that reads slowly loses the oldest unread frames, never the
 * one it is reading, and every buffer still comes back. */
DMK_TEST(chan, drop_oldest)
{
	struct dmk_pool *p = chan_pool(16, BUF_SIZE);
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	DMK_OPTS(dmk_chan_opts, o, .nslots = 4);
	struct dmk_chan *ch;
	char path[108];
	pid_t pid;

	chan_path(path, sizeof(path), "drop");
	cr_assert_eq(dmk_chan_serve(path, p, &o, &ch), 0);
	pid = fork();
	if (pid == 0) {
		/* Reads 20 frames slowly: the producer sends 400. */
		int r = consume(path, 0, 20, 5);

		_exit(r == 11 ? 0 : r);	/* EPIPE at the end is fine */
	}
	chan_wait_consumers(ch, 1);
	produce(ch, p, 400);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_gt(st.dropped, 0, "nothing dropped");
	cr_assert_lt(st.dropped, 400);
	/* Goodbye: the consumer drains its ring and sees -EPIPE. */
	dmk_chan_close(ch);
	cr_assert_eq(chan_reap(pid), 0);
	cr_assert_eq(dmk_pool_stats(p, &ps), 0);
	cr_assert_eq(ps.in_use, 0);
	dmk_pool_free(p);
}

/* The producer dies: the consumer drains what it has, then -EPIPE. */
DMK_TEST(chan, producer_death_is_epipe)
{
	char path[108];
	pid_t pid;
	struct dmk_chan *ch;
	struct dmk_frame_info fi;
	int ret, n = 0, i;

	chan_path(path, sizeof(path), "pdeath");
	pid = fork();
	if (pid == 0) {
		struct dmk_pool *p = chan_pool(4, BUF_SIZE);
		struct dmk_chan *pc;

		if (dmk_chan_serve(path, p, NULL, &pc))
			_exit(1);
		chan_wait_consumers(pc, 1);
		for (i = 0; i < 3; i++) {
			int id = dmk_pool_acquire(p, 0);

			dmk_chan_publish(pc, (unsigned int)id, NULL);
			dmk_pool_release(p, (unsigned int)id);
		}
		kill(getpid(), SIGKILL);	/* no goodbye */
	}
	for (i = 0; i < 100; i++) {
		if (!dmk_chan_connect(path, NULL, 1000, &ch))
			break;
		usleep(10000);
	}
	cr_assert_lt(i, 100, "never connected");
	while ((ret = dmk_chan_recv(ch, &fi, 5000000000ll)) >= 0) {
		n++;
		cr_assert_eq(dmk_chan_release(ch, (unsigned int)ret) == 0 ||
			     dmk_chan_release(ch, (unsigned int)ret) == -ENOENT,
			     true);
	}
	cr_assert_eq(ret, -EPIPE, "%s", strerror(-ret));
	cr_assert_eq(n, 3);
	cr_assert_eq(chan_reap(pid), 128 + SIGKILL);
	/* Failed stays failed. */
	cr_assert_eq(dmk_chan_recv(ch, &fi, 0), -EPIPE);
	dmk_chan_close(ch);
}

/* A consumer dies holding buffers: they return, others go on. */
DMK_TEST(chan, consumer_death_returns_buffers)
{
	struct dmk_pool *p = chan_pool(8, BUF_SIZE);
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_chan *ch;
	char path[108];
	pid_t victim, other;
	int i;

	chan_path(path, sizeof(path), "cdeath");
	cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch), 0);
	victim = fork();
	if (victim == 0) {
		struct dmk_chan *c;
		struct dmk_frame_info fi;

		if (dmk_chan_connect(path, NULL, 5000, &c))
			_exit(1);
		/* Take two frames and never give them back. */
		dmk_chan_recv(c, &fi, -1);
		dmk_chan_recv(c, &fi, -1);
		kill(getpid(), SIGKILL);
	}
	other = fork();
	if (other == 0)
		_exit(consume(path, 0, 200, 0));
	chan_wait_consumers(ch, 2);
	produce(ch, p, 200);
	cr_assert_eq(chan_reap(victim), 128 + SIGKILL);
	cr_assert_eq(chan_reap(other), 0);
	for (i = 0; i < 100; i++) {
		dmk_chan_dispatch(ch, 10);
		dmk_chan_stats(ch, &st);
		if (st.consumers == 0)
			break;
	}
	cr_assert_eq(st.consumers, 0);
	cr_assert_eq(dmk_pool_stats(p, &ps), 0);
	cr_assert_eq(ps.in_use, 0, "%u buffers lost with the dead consumer",
		     ps.in_use);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}
