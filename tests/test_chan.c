// SPDX-License-Identifier: MIT
/* chan: frames handed between processes through rings, no copies. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
		/* -EPIPE: the producer said goodbye while we drained the
		 * ring; there is nobody to give the buffer back to. */
		ret = dmk_chan_release(ch, (unsigned int)ret);
		if (ret && ret != -EPIPE)
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
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
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
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert(S_ISSOCK(st.st_mode));
	/* A second producer on a live path is refused. */
	{
		struct dmk_chan *ch2 = NULL;

		cr_assert_eq(chan_serve_lossless(path, p, &ch2), -EADDRINUSE);
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

		if (chan_serve_lossless(path, p, &pc))
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
	unlink(path);	/* the dead producer's socket file */
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
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
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

/* ======================================================================
 * Hardening: hostile peers, peer death at random points, soak.
 *
 * Hostile peers are forked children that speak the real wire format
 * (lib/chan_wire.h) and break it on purpose; the side under test is always
 * this process, so DMK_TEST's fd-leak check covers it.  Children never
 * use Criterion's asserts: they report through their exit status (and a
 * line on stderr when something is off), and an alarm() bounds each one.
 * ====================================================================== */

#define SMALL_BUF 4096
#define NOBODY 65534

/* Publish one frame if a buffer is free: the frame id goes into the first
 * and last word of the buffer and into the metadata.  Returns 1 if it went
 * out, 0 if the pool was empty. */
static int publish_one(struct dmk_chan *ch, struct dmk_pool *p, uint64_t *f)
{
	struct dmk_frame_info fi = { .meta_len = 8 };
	uint64_t *w;
	int id = dmk_pool_acquire(p, 0);

	if (id < 0)
		return 0;
	w = dmk_pool_addr(p, (unsigned int)id);
	fi.frame_id = ++*f;
	w[0] = *f;
	w[SMALL_BUF / 8 - 1] = *f;
	memcpy(fi.meta, f, 8);
	cr_assert_geq(dmk_chan_publish(ch, (unsigned int)id, &fi), 0);
	dmk_pool_release(p, (unsigned int)id);
	return 1;
}

/* Check one received frame as publish_one() wrote it: 0 or an exit code. */
static int check_frame(struct dmk_chan *ch, const struct dmk_frame_info *fi,
		       uint64_t expect)
{
	const uint64_t *w = dmk_chan_addr(ch, fi->buf_id);

	if (!w || w[0] != fi->frame_id || w[SMALL_BUF / 8 - 1] != fi->frame_id)
		return 13;
	if (expect && fi->frame_id != expect)
		return 14;	/* lost, repeated or out of order */
	if (fi->meta_len != 8 || memcmp(fi->meta, &fi->frame_id, 8))
		return 15;
	return 0;
}

/*
 * Consumer process: receive until the producer goes away (-EPIPE), every
 * frame in order with none missing, releasing each.  The count goes to
 * @report_fd.  Returns an exit status: 0 on success.
 */
static int consume_all(const char *path, unsigned int flags, int report_fd)
{
	DMK_OPTS(dmk_chan_opts, o, .flags = flags, .name = "survivor");
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t got = 0, last = 0;
	int ret, bad;

	alarm(120);
	ret = dmk_chan_connect(path, &o, 5000, &ch);
	if (ret) {
		fprintf(stderr, "survivor: connect: %s\n", strerror(-ret));
		return 10;
	}
	for (;;) {
		ret = dmk_chan_recv(ch, &fi, 10000000000ll);
		if (ret == -EPIPE)
			break;
		if (ret < 0) {
			fprintf(stderr, "survivor: recv: %s\n", strerror(-ret));
			return 12;
		}
		bad = check_frame(ch, &fi, got ? last + 1 : 0);
		if (bad) {
			fprintf(stderr, "survivor: frame %llu after %llu: %d\n",
				(unsigned long long)fi.frame_id,
				(unsigned long long)last, bad);
			return bad;
		}
		last = fi.frame_id;
		got++;
		/* -EPIPE: the producer said goodbye while we drained the
		 * ring; there is nobody to give the buffer back to. */
		ret = dmk_chan_release(ch, (unsigned int)ret);
		if (ret && ret != -EPIPE)
			return 16;
	}
	dmk_chan_close(ch);
	if (write(report_fd, &got, sizeof(got)) != sizeof(got))
		return 17;
	return 0;
}

/* Run the producer until no buffer is in use and @n consumers are ready. */
static void settle(struct dmk_chan *ch, struct dmk_pool *p, unsigned int n)
{
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	int64_t end = chan_now_ns() + 5000000000ll;

	do {
		dmk_chan_dispatch(ch, 1);
		dmk_chan_stats(ch, &st);
		dmk_pool_stats(p, &ps);
		if (ps.in_use == 0 && st.consumers == n)
			return;
	} while (chan_now_ns() < end);
	cr_assert_fail("not settled after 5 s: %u buffers in use, %u "
		       "consumers (want 0 and %u)", ps.in_use, st.consumers,
		       n);
}

/* ---- hostile consumers: the producer under test is this process ---- */

/* Send @len bytes (and fds) raw, expect GOODBYE(@reason) then EOF. */
static int send_expect(const char *path, const void *msg, size_t len,
		       const int *fds, unsigned int nfds, int reason)
{
	int s = wire_connect(path), r;

	if (s < 0)
		return 40;
	if (wire_send(s, msg, len, fds, nfds))
		return 41;
	r = wire_wait_end(s, 5000);
	if (r != reason) {
		fprintf(stderr, "hostile: got %d, want GOODBYE(%d)\n", r,
			reason);
		return 42;
	}
	r = wire_wait_end(s, 5000);
	close(s);
	return r == -EPIPE ? 0 : 43;
}

/* After a lie in shared memory: dropped (EOF, maybe a GOODBYE first) and
 * the ring marked closed. */
static int expect_dropped(struct raw_cons *rc)
{
	int r = wire_wait_end(rc->sock, 5000);

	if (r == EPROTO)
		r = wire_wait_end(rc->sock, 5000);
	if (r != -EPIPE) {
		fprintf(stderr, "hostile: not dropped: %d\n", r);
		return 50;
	}
	if (!atomic_load(&rc->hdr->closed))
		return 51;
	raw_cons_close(rc);
	return 0;
}

/* Wait until the producer has published @n frames into our ring. */
static int wait_head(struct raw_cons *rc, uint64_t n)
{
	int64_t end = chan_now_ns() + 5000000000ll;

	while (atomic_load(&rc->hdr->head) < n)
		if (chan_now_ns() > end)
			return -1;
		else
			usleep(100);
	return 0;
}

enum hostile_cons {
	HC_VERSION,		/* HELLO of another version */
	HC_GARBAGE,		/* bytes that are no message at all */
	HC_HELLO_CUT,		/* header says a full HELLO, 20 bytes came */
	HC_HELLO_SHORT,		/* a consistent but too short HELLO */
	HC_HELLO_HUGE,		/* bigger than any message */
	HC_HELLO_FDS,		/* HELLO carrying an fd, header says so */
	HC_HELLO_FDS_LIE,	/* HELLO carrying fds, header says none */
	HC_HELLO_TWICE,		/* a second HELLO after READY */
	HC_REL_BOGUS,		/* release id 9999 */
	HC_REL_NOT_HELD,	/* release buffers never claimed */
	HC_REL_TWICE,		/* release a received buffer twice */
	HC_HOLD_THEN_LIE,	/* hold 3 buffers, then lie */
	HC_REL_HEAD_FAR,	/* rel_head far beyond anything released */
	HC_TAIL_AHEAD,		/* tail beyond head */
	HC_TAIL_BEHIND,		/* tail far behind head */
	HC_SCRIBBLE,		/* 0xff over the whole ring memfd */
	HC_SILENT,		/* connect and never say HELLO */
};

static int hostile_consumer(const char *path, enum hostile_cons what)
{
	struct raw_cons rc;
	union wire_buf m;
	int fds[MAX_FDS], r, id, i;
	unsigned int nfds;

	memset(&m, 0, sizeof(m));
	wire_init(&m.h, MSG_HELLO, sizeof(m.hello), 0);
	snprintf(m.hello.name, sizeof(m.hello.name), "hostile");
	switch (what) {
	case HC_VERSION:
		m.h.version = DMK_CHAN_VERSION + 1;
		return send_expect(path, &m, sizeof(m.hello), NULL, 0,
				   EPROTONOSUPPORT);
	case HC_GARBAGE:
		memset(&m, 0xa5, 64);
		return send_expect(path, &m, 64, NULL, 0, EPROTO);
	case HC_HELLO_CUT:
		return send_expect(path, &m, 20, NULL, 0, EPROTO);
	case HC_HELLO_SHORT:
		m.h.len = 20;
		return send_expect(path, &m, 20, NULL, 0, EPROTO);
	case HC_HELLO_HUGE:
		m.h.len = 3000;
		return send_expect(path, &m, 3000, NULL, 0, EPROTO);
	case HC_HELLO_FDS:
	case HC_HELLO_FDS_LIE:
		for (i = 0; i < 3; i++)
			fds[i] = eventfd(0, EFD_CLOEXEC);
		m.h.nfds = what == HC_HELLO_FDS ? 3 : 0;
		r = send_expect(path, &m, sizeof(m.hello), fds, 3, EPROTO);
		wire_close_fds(fds, 3);
		return r;
	default:
		break;
	}
	if (what == HC_SILENT) {
		/* Sit on a connection without a word while a real consumer
		 * connects and gets its frames. */
		DMK_OPTS(dmk_chan_opts, o, .name = "second");
		struct dmk_frame_info fi;
		struct dmk_chan *ch;
		uint64_t last = 0;
		int s = wire_connect(path);

		if (s < 0)
			return 40;
		usleep(20000);
		if (dmk_chan_connect(path, &o, 5000, &ch))
			return 60;
		for (i = 0; i < 50; i++) {
			r = dmk_chan_recv(ch, &fi, 5000000000ll);
			if (r < 0 || check_frame(ch, &fi, last ? last + 1 : 0))
				return 61;
			last = fi.frame_id;
			dmk_chan_release(ch, (unsigned int)r);
		}
		dmk_chan_close(ch);
		/* Nothing was ever sent to the silent one. */
		r = wire_recv(s, &m, fds, &nfds, 0);
		wire_close_fds(fds, nfds);
		close(s);
		return r == -ETIMEDOUT ? 0 : 62;
	}

	r = raw_cons_open(&rc, path);
	if (r)
		return r;
	switch (what) {
	case HC_HELLO_TWICE:
		wire_hello(rc.sock, DMK_CHAN_VERSION);
		r = wire_wait_end(rc.sock, 5000);
		raw_cons_close(&rc);
		return r == EPROTO ? 0 : 52;
	case HC_REL_BOGUS:
		raw_release(&rc, 9999);
		break;
	case HC_REL_NOT_HELD:
		/*
		 * Release buffers we never claimed.  One that sits unread in
		 * our ring passes for a release (the producer cannot tell it
		 * from a claim it has not seen yet) and only hurts us; one
		 * that is not ours gets us dropped.  Either way the producer's
		 * books must balance: checked by the caller.
		 */
		for (i = 0; i < 200; i++) {
			raw_release(&rc, (uint32_t)i % rc.w.nbufs);
			usleep(200);
			if (atomic_load(&rc.hdr->closed))
				break;
		}
		raw_cons_close(&rc);
		return 0;
	case HC_REL_TWICE:
		id = raw_claim(&rc, 5000);
		if (id < 0)
			return 53;
		raw_release(&rc, (uint32_t)id);
		raw_release(&rc, (uint32_t)id);
		break;
	case HC_HOLD_THEN_LIE:
		for (i = 0; i < 3; i++)
			if (raw_claim(&rc, 5000) < 0)
				return 53;
		raw_release(&rc, rc.w.nbufs);
		break;
	case HC_REL_HEAD_FAR:
		atomic_fetch_add(&rc.hdr->rel_head, 1ull << 40);
		raw_release(&rc, 0);
		break;
	case HC_TAIL_AHEAD:
		if (wait_head(&rc, 1))
			return 54;
		/* Far enough ahead that the producer cannot publish its way
		 * past it between our load and store (a slow VM can do 5). */
		atomic_store(&rc.hdr->tail,
			     atomic_load(&rc.hdr->head) + (1ull << 20));
		break;
	case HC_TAIL_BEHIND:
		if (wait_head(&rc, 1))
			return 54;
		atomic_store(&rc.hdr->tail,
			     atomic_load(&rc.hdr->head) - 1000);
		break;
	case HC_SCRIBBLE:
		memset(rc.hdr, 0xff, rc.ring_size);
		break;
	default:
		return 99;
	}
	return expect_dropped(&rc);
}

/*
 * One honest consumer (in order, nothing lost) and one hostile one.  The
 * producer must drop the hostile one with the reaction the child expects,
 * keep serving the honest one throughout and after, and get every buffer
 * back.
 */
static void run_hostile_consumer(enum hostile_cons what)
{
	struct dmk_pool *p = chan_pool(8, SMALL_BUF);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_chan *ch;
	char path[108];
	uint64_t f = 0, got = 0;
	int64_t end;
	pid_t honest, bad;
	int rep[2], status, i;

	chan_path(path, sizeof(path), "hostc");
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	honest = fork();
	if (honest == 0) {
		close(rep[0]);
		_exit(consume_all(path, 0, rep[1]));
	}
	close(rep[1]);
	chan_wait_consumers(ch, 1);
	bad = fork();
	if (bad == 0) {
		alarm(20);
		_exit(hostile_consumer(path, what));
	}
	end = chan_now_ns() + 15000000000ll;
	while ((status = chan_try_reap(bad)) < 0) {
		publish_one(ch, p, &f);
		dmk_chan_dispatch(ch, 1);
		if (chan_now_ns() > end) {
			chan_kill_reap(bad);
			cr_assert_fail("hostile consumer still there after 15 s");
		}
	}
	cr_assert_eq(status, 0, "hostile consumer %d: exit status %d", what,
		     status);
	/* Still serving the honest one. */
	for (i = 0; i < 100;) {
		if (publish_one(ch, p, &f))
			i++;
		dmk_chan_dispatch(ch, 0);
	}
	settle(ch, p, 1);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_geq(st.disconnects, 1, "hostile consumer never dropped");
	dmk_chan_close(ch);
	cr_assert_eq(chan_reap(honest), 0, "honest consumer failed");
	cr_assert_eq(read(rep[0], &got, sizeof(got)), (ssize_t)sizeof(got));
	cr_assert_eq(got, f, "honest consumer got %llu of %llu frames",
		     (unsigned long long)got, (unsigned long long)f);
	close(rep[0]);
	dmk_pool_free(p);
}

CHAN_TEST(chan_hostile_consumer, wrong_version, 30)
{
	run_hostile_consumer(HC_VERSION);
}

CHAN_TEST(chan_hostile_consumer, garbage, 30)
{
	run_hostile_consumer(HC_GARBAGE);
}

CHAN_TEST(chan_hostile_consumer, hello_cut_short, 30)
{
	run_hostile_consumer(HC_HELLO_CUT);
}

CHAN_TEST(chan_hostile_consumer, hello_too_short, 30)
{
	run_hostile_consumer(HC_HELLO_SHORT);
}

CHAN_TEST(chan_hostile_consumer, hello_too_big, 30)
{
	run_hostile_consumer(HC_HELLO_HUGE);
}

CHAN_TEST(chan_hostile_consumer, sends_fds, 30)
{
	run_hostile_consumer(HC_HELLO_FDS);
}

CHAN_TEST(chan_hostile_consumer, sends_undeclared_fds, 30)
{
	run_hostile_consumer(HC_HELLO_FDS_LIE);
}

CHAN_TEST(chan_hostile_consumer, hello_twice, 30)
{
	run_hostile_consumer(HC_HELLO_TWICE);
}

CHAN_TEST(chan_hostile_consumer, release_bogus_id, 30)
{
	run_hostile_consumer(HC_REL_BOGUS);
}

CHAN_TEST(chan_hostile_consumer, release_not_held, 30)
{
	run_hostile_consumer(HC_REL_NOT_HELD);
}

CHAN_TEST(chan_hostile_consumer, release_twice, 30)
{
	run_hostile_consumer(HC_REL_TWICE);
}

CHAN_TEST(chan_hostile_consumer, hold_then_lie, 30)
{
	run_hostile_consumer(HC_HOLD_THEN_LIE);
}

CHAN_TEST(chan_hostile_consumer, rel_head_far_ahead, 30)
{
	run_hostile_consumer(HC_REL_HEAD_FAR);
}

CHAN_TEST(chan_hostile_consumer, tail_beyond_head, 30)
{
	run_hostile_consumer(HC_TAIL_AHEAD);
}

CHAN_TEST(chan_hostile_consumer, tail_far_behind, 30)
{
	run_hostile_consumer(HC_TAIL_BEHIND);
}

CHAN_TEST(chan_hostile_consumer, scribbles_on_ring, 30)
{
	run_hostile_consumer(HC_SCRIBBLE);
}

CHAN_TEST(chan_hostile_consumer, never_says_hello, 30)
{
	run_hostile_consumer(HC_SILENT);
}

/*
 * A dropped consumer keeps its release eventfd and keeps signalling it.
 * The producer must not keep waking up for it: dispatch with nothing to do
 * sleeps its whole timeout.
 */
CHAN_TEST(chan_hostile_consumer, dropped_cannot_wake_producer, 30)
{
	struct dmk_pool *p = chan_pool(8, SMALL_BUF);
	struct dmk_chan *ch;
	char path[108], c;
	struct pollfd pf;
	int sync[2], i, n;
	int64_t end, t0, dt;
	pid_t pid;

	chan_path(path, sizeof(path), "stale");
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	cr_assert_eq(pipe2(sync, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		struct raw_cons rc;
		uint64_t one = 1;

		alarm(20);
		close(sync[0]);
		if (raw_cons_open(&rc, path))
			_exit(1);
		raw_release(&rc, 9999);
		if (wire_wait_end(rc.sock, 5000) != -EPIPE)
			_exit(2);
		/* Dropped; the eventfd is still ours.  Leave it readable. */
		(void)!write(rc.rel_efd, &one, sizeof(one));
		(void)!write(sync[1], "x", 1);
		pause();
		_exit(0);
	}
	close(sync[1]);
	pf.fd = sync[0];
	pf.events = POLLIN;
	end = chan_now_ns() + 10000000000ll;
	while (poll(&pf, 1, 0) == 0) {
		dmk_chan_dispatch(ch, 1);
		cr_assert_lt(chan_now_ns(), end, "child never got dropped");
	}
	cr_assert_eq(read(sync[0], &c, 1), 1, "child failed: %d",
		     chan_kill_reap(pid));
	for (i = 0; i < 3; i++) {
		t0 = chan_now_ns();
		n = dmk_chan_dispatch(ch, 100);
		dt = chan_now_ns() - t0;
		cr_expect_eq(n, 0, "dispatch handled %d events for a dropped "
			     "consumer", n);
		cr_expect_geq(dt, 80000000, "dispatch(100 ms) returned after "
			      "%lld us", (long long)(dt / 1000));
	}
	cr_assert_eq(chan_kill_reap(pid), 128 + SIGKILL);
	close(sync[0]);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}

/* ---- hostile producers: the consumer under test is this process ---- */

#define FAKE_NBUFS 4
#define FAKE_NSLOTS 8

enum hostile_prod {
	/* the handshake */
	HP_VERSION,		/* WELCOME of another version */
	HP_NSLOTS_NPOT,		/* nslots not a power of two */
	HP_NSLOTS_HUGE,		/* nslots 2^30 */
	HP_NSLOTS_ZERO,
	HP_NBUFS_ZERO,
	HP_NREL_SMALL,		/* fewer release entries than buffers */
	HP_RING_SIZE,		/* ring_size not what nslots/nrel make */
	HP_RING_SHORT,		/* ring memfd smaller than ring_size */
	HP_RING_UNSEALED,	/* ring memfd that can shrink */
	HP_RING_RDONLY,		/* ring memfd sealed against writes */
	HP_RING_NOT_MEMFD,	/* ring "memfd" that is a pipe */
	HP_RING_MAGIC,		/* ring header with a wrong magic */
	HP_RING_HDR_LIES,	/* ring header disagrees with WELCOME */
	HP_EFD_PIPE,		/* frame "eventfd" that is a pipe */
	HP_WELCOME_2FDS,	/* WELCOME with two fds */
	HP_WELCOME_CUT,		/* WELCOME cut short */
	HP_WELCOME_253,		/* WELCOME with 253 fds, header says so */
	HP_WELCOME_253_LIE,	/* 253 fds, header says 3 */
	HP_LAYOUT_TOO_BIG,	/* layout larger than the buffers */
	HP_LAYOUT_PLANE_OUT,	/* a plane outside the frame */
	HP_BUF_UNSEALED,	/* a buffer memfd that can shrink */
	HP_BUF_SHORT,		/* buffers smaller than buf_size */
	HP_BUF_NOT_MEMFD,	/* a buffer that is a pipe */
	HP_BUF_MORE_FDS,	/* more fds than count */
	HP_BUF_FEWER_FDS,	/* fewer fds than count */
	HP_BUF_253,		/* count 3, 253 fds, header says 253 */
	HP_BUF_253_LIE,		/* count 3, 253 fds, header says 3 */
	HP_BUF_ORDER,		/* first_id out of order */
	HP_BUF_TOO_MANY,	/* more buffers than nbufs */
	HP_BUF_ZERO,		/* BUFFERS of count 0 */
	HP_READY_EARLY,		/* READY before every buffer came */
	HP_READY_FDS,		/* READY with an fd */
	HP_WELCOME_TWICE,
	HP_MSG_HUGE,		/* bigger than any message */
	HP_GARBAGE,		/* no message at all */
	HP_GOODBYE_EACCES,	/* GOODBYE(EACCES), with a stray fd */
	HP_GOODBYE_BAD,		/* GOODBYE with a nonsense reason */
	HP_SILENT,		/* never answers */
	HP_HANGUP,		/* closes after HELLO */
	HP_HANDSHAKE_END,
	/* after READY: connect succeeds, recv fails */
	HP_ID_RANGE = HP_HANDSHAKE_END,	/* buffer id >= nbufs */
	HP_HEAD_FAR,		/* head far beyond tail */
	HP_HEAD_BEHIND,		/* head behind tail */
	HP_SEQ,			/* slot seq wrong */
	HP_META_LEN,		/* meta_len > DMK_META_MAX */
	HP_DUP,			/* one buffer delivered twice, unreleased */
	HP_MSG_AFTER_READY,	/* garbage on the socket after READY */
	HP_FDS_AFTER_READY,	/* BUFFERS with fds after READY */
};

struct fake {
	int sock;
	struct msg_welcome w;
	int wfds[MAX_FDS];
	unsigned int nwfds;
	struct ring_hdr *hdr;
	struct ring_slot *slots;
	int bufs[MAX_FDS];
};

/* Write frame @n (0-based) of buffer @id into the ring, as a producer. */
static void fake_frame(struct fake *fk, uint64_t n, uint32_t id)
{
	struct ring_slot *s = &fk->slots[n % FAKE_NSLOTS];

	s->buf_id = id;
	s->frame_id = n + 1;
	s->meta_len = 0;
	atomic_store(&s->seq, n + 1);
	atomic_store(&fk->hdr->head, n + 1);
}

static int fake_send_buffers(struct fake *fk, uint32_t first, uint32_t count,
			     unsigned int nfds)
{
	struct msg_buffers mb;

	wire_init(&mb.h, MSG_BUFFERS, sizeof(mb), nfds);
	mb.first_id = first;
	mb.count = count;
	return wire_send(fk->sock, &mb, sizeof(mb), fk->bufs + first, nfds);
}

static int fake_send_ready(struct fake *fk, unsigned int nfds)
{
	struct msg_hdr h;

	wire_init(&h, MSG_READY, sizeof(h), nfds);
	return wire_send(fk->sock, &h, sizeof(h), fk->bufs, nfds);
}

/* Set up a correct ring, eventfds, buffers and WELCOME, then break what
 * @what says.  Returns 0 or an exit status. */
static int fake_prepare(struct fake *fk, enum hostile_prod what)
{
	uint32_t nslots = FAKE_NSLOTS, nrel = FAKE_NBUFS;
	size_t rsize = ring_bytes(nslots, nrel);
	int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, i, p[2];
	void *base;

	if (what == HP_RING_UNSEALED)
		seals = 0;
	if (what == HP_RING_RDONLY)
		seals = F_SEAL_SHRINK | F_SEAL_GROW;	/* WRITE comes later */
	if (what == HP_RING_SHORT) {
		nslots = 64;
		rsize = ring_bytes(nslots, nrel);
	}
	fk->wfds[0] = wire_memfd("fake-ring", what == HP_RING_SHORT ? 4096 :
				 rsize, seals);
	if (fk->wfds[0] < 0)
		return 70;
	base = mmap(NULL, what == HP_RING_SHORT ? 4096 : rsize,
		    PROT_READ | PROT_WRITE, MAP_SHARED, fk->wfds[0], 0);
	if (base == MAP_FAILED)
		return 71;
	fk->hdr = base;
	fk->slots = (struct ring_slot *)(fk->hdr + 1);
	fk->hdr->magic = what == HP_RING_MAGIC ? 0 : RING_MAGIC;
	fk->hdr->version = DMK_CHAN_VERSION;
	fk->hdr->nslots = what == HP_RING_HDR_LIES ? nslots * 2 : nslots;
	fk->hdr->nrel = nrel;
	fk->hdr->nbufs = FAKE_NBUFS;
	fk->hdr->size = rsize;
	if (what == HP_RING_RDONLY) {
		munmap(base, rsize);
		fk->hdr = NULL;
		if (fcntl(fk->wfds[0], F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL))
			return 72;
	}
	if (what == HP_RING_NOT_MEMFD) {
		if (pipe2(p, O_CLOEXEC))
			return 73;
		close(fk->wfds[0]);
		fk->wfds[0] = p[0];
		close(p[1]);
	}
	fk->wfds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fk->wfds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (what == HP_EFD_PIPE) {
		if (pipe2(p, O_CLOEXEC))
			return 73;
		close(fk->wfds[1]);
		fk->wfds[1] = p[0];
		close(p[1]);
	}
	fk->nwfds = 3;
	/* Spare fds, for the messages that carry too many. */
	for (i = 3; i < MAX_FDS; i++)
		fk->wfds[i] = fk->wfds[1];

	for (i = 0; i < MAX_FDS; i++) {
		uint64_t *w;

		if (i >= FAKE_NBUFS) {
			fk->bufs[i] = fk->bufs[0];
			continue;
		}
		fk->bufs[i] = wire_memfd("fake-buf", SMALL_BUF,
					 what == HP_BUF_UNSEALED && i == 2 ?
					 0 : F_SEAL_SHRINK | F_SEAL_GROW);
		if (fk->bufs[i] < 0)
			return 74;
		w = mmap(NULL, SMALL_BUF, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fk->bufs[i], 0);
		if (w == MAP_FAILED)
			return 75;
		w[0] = w[SMALL_BUF / 8 - 1] = 1000 + (uint64_t)i;
		munmap(w, SMALL_BUF);
	}
	if (what == HP_BUF_NOT_MEMFD) {
		if (pipe2(p, O_CLOEXEC))
			return 73;
		fk->bufs[1] = p[0];
		close(p[1]);
	}

	wire_init(&fk->w.h, MSG_WELCOME, sizeof(fk->w), 3);
	fk->w.nslots = nslots;
	fk->w.nrel = nrel;
	fk->w.nbufs = FAKE_NBUFS;
	fk->w.ring_size = rsize;
	fk->w.buf_size = SMALL_BUF;
	switch (what) {
	case HP_VERSION:
		fk->w.h.version = DMK_CHAN_VERSION + 1;
		break;
	case HP_NSLOTS_NPOT:
		fk->w.nslots = 6;
		fk->w.ring_size = ring_bytes(6, nrel);
		break;
	case HP_NSLOTS_HUGE:
		fk->w.nslots = 1u << 30;
		fk->w.ring_size = ring_bytes(1u << 30, nrel);
		break;
	case HP_NSLOTS_ZERO:
		fk->w.nslots = 0;
		fk->w.ring_size = ring_bytes(0, nrel);
		break;
	case HP_NBUFS_ZERO:
		fk->w.nbufs = 0;
		break;
	case HP_NREL_SMALL:
		fk->w.nrel = 2;
		fk->w.ring_size = ring_bytes(nslots, 2);
		break;
	case HP_RING_SIZE:
		fk->w.ring_size += 4096;
		break;
	case HP_WELCOME_2FDS:
		fk->nwfds = fk->w.h.nfds = 2;
		break;
	case HP_WELCOME_253:
		fk->nwfds = fk->w.h.nfds = MAX_FDS;
		break;
	case HP_WELCOME_253_LIE:
		fk->nwfds = MAX_FDS;
		break;
	case HP_LAYOUT_TOO_BIG:
		fk->w.has_layout = 1;
		fk->w.layout.nplanes = 1;
		fk->w.layout.size = SMALL_BUF * 2;
		break;
	case HP_LAYOUT_PLANE_OUT:
		/* Fits as a whole, but plane 1 lies far outside. */
		fk->w.has_layout = 1;
		fk->w.layout.nplanes = 2;
		fk->w.layout.size = SMALL_BUF;
		fk->w.layout.pitch[0] = fk->w.layout.pitch[1] = 64;
		fk->w.layout.plane_height[0] = fk->w.layout.plane_height[1] = 1;
		fk->w.layout.plane_size[0] = fk->w.layout.plane_size[1] = 64;
		fk->w.layout.offset[1] = 1ull << 40;
		break;
	case HP_BUF_SHORT:
		fk->w.buf_size = SMALL_BUF * 16;
		break;
	default:
		break;
	}
	return 0;
}

/* The fake producer, after HELLO: play @what, then wait for the hang-up. */
static int fake_play(struct fake *fk, enum hostile_prod what)
{
	union wire_buf m;
	int r = 0;

	switch (what) {
	case HP_SILENT:
		r = wire_wait_end(fk->sock, 10000);
		return r == -EPIPE || r == 0 ? 0 : 80;
	case HP_HANGUP:
		return 0;
	case HP_WELCOME_CUT:
		return wire_send(fk->sock, &fk->w, 40, fk->wfds, 3) ? 81 : 0;
	case HP_MSG_HUGE:
		memset(&m, 0, sizeof(m));
		wire_init(&m.h, MSG_WELCOME, 3000, 0);
		return wire_send(fk->sock, &m, 3000, NULL, 0) ? 81 : 0;
	case HP_GARBAGE:
		memset(&m, 0x5a, 100);
		return wire_send(fk->sock, &m, 100, NULL, 0) ? 81 : 0;
	case HP_GOODBYE_EACCES:
	case HP_GOODBYE_BAD:
		wire_init(&m.h, MSG_GOODBYE, sizeof(m.goodbye), 1);
		m.goodbye.reason = what == HP_GOODBYE_EACCES ? EACCES : 100000;
		return wire_send(fk->sock, &m, sizeof(m.goodbye), fk->wfds + 1,
				 1) ? 81 : 0;
	default:
		break;
	}
	if (wire_send(fk->sock, &fk->w, sizeof(fk->w), fk->wfds, fk->nwfds))
		return 82;
	switch (what) {
	case HP_WELCOME_TWICE:
		r = wire_send(fk->sock, &fk->w, sizeof(fk->w), fk->wfds, 3);
		break;
	case HP_BUF_MORE_FDS:
		r = fake_send_buffers(fk, 0, FAKE_NBUFS, FAKE_NBUFS + 2);
		break;
	case HP_BUF_FEWER_FDS:
		r = fake_send_buffers(fk, 0, FAKE_NBUFS, FAKE_NBUFS - 2);
		break;
	case HP_BUF_253:
		r = fake_send_buffers(fk, 0, 3, MAX_FDS);
		break;
	case HP_BUF_253_LIE: {
		struct msg_buffers mb;

		wire_init(&mb.h, MSG_BUFFERS, sizeof(mb), 3);
		mb.first_id = 0;
		mb.count = 3;
		r = wire_send(fk->sock, &mb, sizeof(mb), fk->bufs, MAX_FDS);
		break;
	}
	case HP_BUF_ORDER:
		r = fake_send_buffers(fk, 1, 3, 3);
		break;
	case HP_BUF_TOO_MANY:
		r = fake_send_buffers(fk, 0, 2, 2);
		if (!r)
			r = fake_send_buffers(fk, 2, 3, 3);
		break;
	case HP_BUF_ZERO:
		r = fake_send_buffers(fk, 0, 0, 0);
		break;
	case HP_READY_EARLY:
		r = fake_send_buffers(fk, 0, 2, 2);
		if (!r)
			r = fake_send_ready(fk, 0);
		break;
	case HP_READY_FDS:
		r = fake_send_buffers(fk, 0, FAKE_NBUFS, FAKE_NBUFS);
		if (!r)
			r = fake_send_ready(fk, 1);
		break;
	default:
		r = fake_send_buffers(fk, 0, FAKE_NBUFS, FAKE_NBUFS);
		if (!r)
			r = fake_send_ready(fk, 0);
		break;
	}
	/* The consumer may have hung up at the first bad message. */
	if (r == -EPIPE || r == -ECONNRESET)
		return 0;
	if (r)
		return 83;
	switch (what) {
	case HP_ID_RANGE:
		fake_frame(fk, 0, FAKE_NBUFS);
		break;
	case HP_HEAD_FAR:
		fake_frame(fk, 0, 0);
		atomic_store(&fk->hdr->head, 1000);
		break;
	case HP_HEAD_BEHIND:
		atomic_store(&fk->hdr->tail, 5);
		atomic_store(&fk->hdr->head, 3);
		break;
	case HP_SEQ:
		fake_frame(fk, 0, 0);
		atomic_store(&fk->slots[0].seq, 7);
		break;
	case HP_META_LEN:
		fake_frame(fk, 0, 0);
		fk->slots[0].meta_len = DMK_META_MAX + 1;
		break;
	case HP_DUP:
		fake_frame(fk, 0, 2);
		fake_frame(fk, 1, 2);
		break;
	case HP_MSG_AFTER_READY:
		memset(&m, 0x5a, 100);
		r = wire_send(fk->sock, &m, 100, NULL, 0);
		break;
	case HP_FDS_AFTER_READY:
		r = fake_send_buffers(fk, 0, 2, 2);
		break;
	default:
		break;
	}
	if (r == -EPIPE || r == -ECONNRESET)
		return 0;
	if (what >= HP_HANDSHAKE_END) {
		uint64_t one = 1;

		(void)!write(fk->wfds[1], &one, sizeof(one));
	}
	if (r)
		return 84;
	/* Stay until the consumer hangs up: its reaction is to what we
	 * sent, not to our death. */
	r = wire_wait_end(fk->sock, 10000);
	return r == -EPIPE || r == 0 ? 0 : 85;
}

static int fake_producer(int lsock, enum hostile_prod what)
{
	struct fake fk;
	union wire_buf m;
	int fds[MAX_FDS], r;
	unsigned int nfds;
	struct pollfd pf = { .fd = lsock, .events = POLLIN };

	alarm(20);
	memset(&fk, 0, sizeof(fk));
	r = fake_prepare(&fk, what);
	if (r)
		return r;
	if (poll(&pf, 1, 10000) != 1)
		return 90;
	fk.sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	close(lsock);
	if (fk.sock < 0)
		return 91;
	r = wire_recv(fk.sock, &m, fds, &nfds, 5000);
	if (r != (int)sizeof(m.hello) || m.h.type != MSG_HELLO || nfds)
		return 92;
	return fake_play(&fk, what);
}

/*
 * Connect the real consumer to a fake producer playing @what.  A broken
 * handshake must fail dmk_chan_connect() with @want; a broken stream after
 * READY must fail dmk_chan_recv() with @want, and again on the next call.
 */
static void run_hostile_producer(enum hostile_prod what, int want,
				 unsigned int flags)
{
	DMK_OPTS(dmk_chan_opts, o, .flags = flags);
	struct dmk_frame_info fi;
	struct dmk_chan *ch = NULL;
	char path[108];
	int l, ret, status;
	pid_t pid;

	chan_path(path, sizeof(path), "hostp");
	l = wire_listen(path, 4);
	cr_assert_geq(l, 0);
	pid = fork();
	if (pid == 0)
		_exit(fake_producer(l, what));
	close(l);
	ret = dmk_chan_connect(path, &o, what == HP_SILENT ? 300 : 5000, &ch);
	if (what < HP_HANDSHAKE_END) {
		cr_expect_eq(ret, want, "case %d: connect: %d (%s), want %d",
			     what, ret, strerror(-ret), want);
		cr_expect_null(ch);
		dmk_chan_close(ch);	/* should it have been let in */
	} else {
		cr_assert_eq(ret, 0, "case %d: connect: %s", what,
			     strerror(-ret));
		if (what == HP_DUP) {
			/* The first delivery is fine; the second is a lie. */
			ret = dmk_chan_recv(ch, &fi, 2000000000ll);
			cr_expect_eq(ret, 2);
		}
		ret = dmk_chan_recv(ch, &fi, 2000000000ll);
		cr_expect_eq(ret, want, "case %d: recv: %d (%s), want %d",
			     what, ret, strerror(-ret), want);
		cr_expect_eq(dmk_chan_recv(ch, &fi, 0), want,
			     "case %d: failed channel did not stay failed",
			     what);
		cr_expect_eq(dmk_chan_error(ch), want);
		dmk_chan_close(ch);
	}
	status = chan_reap(pid);
	cr_expect_eq(status, 0, "fake producer %d: exit status %d", what,
		     status);
	unlink(path);
}

#define HOSTILE_PRODUCER(name, what, want)				\
	CHAN_TEST(chan_hostile_producer, name, 30)		\
	{								\
		run_hostile_producer(what, want, 0);			\
	}

HOSTILE_PRODUCER(wrong_version, HP_VERSION, -EPROTONOSUPPORT)
HOSTILE_PRODUCER(nslots_not_pow2, HP_NSLOTS_NPOT, -EPROTO)
HOSTILE_PRODUCER(nslots_huge, HP_NSLOTS_HUGE, -EPROTO)
HOSTILE_PRODUCER(nslots_zero, HP_NSLOTS_ZERO, -EPROTO)
HOSTILE_PRODUCER(nbufs_zero, HP_NBUFS_ZERO, -EPROTO)
HOSTILE_PRODUCER(nrel_too_small, HP_NREL_SMALL, -EPROTO)
HOSTILE_PRODUCER(ring_size_wrong, HP_RING_SIZE, -EPROTO)
HOSTILE_PRODUCER(ring_memfd_short, HP_RING_SHORT, -EPROTO)
HOSTILE_PRODUCER(ring_unsealed, HP_RING_UNSEALED, -EPROTO)
HOSTILE_PRODUCER(ring_read_only, HP_RING_RDONLY, -EPROTO)
HOSTILE_PRODUCER(ring_not_memfd, HP_RING_NOT_MEMFD, -EPROTO)
HOSTILE_PRODUCER(ring_bad_magic, HP_RING_MAGIC, -EPROTO)
HOSTILE_PRODUCER(ring_header_lies, HP_RING_HDR_LIES, -EPROTO)
HOSTILE_PRODUCER(eventfd_is_pipe, HP_EFD_PIPE, -EPROTO)
HOSTILE_PRODUCER(welcome_two_fds, HP_WELCOME_2FDS, -EPROTO)
HOSTILE_PRODUCER(welcome_cut_short, HP_WELCOME_CUT, -EPROTO)
HOSTILE_PRODUCER(welcome_253_fds, HP_WELCOME_253, -EPROTO)
HOSTILE_PRODUCER(welcome_253_fds_undeclared, HP_WELCOME_253_LIE, -EPROTO)
HOSTILE_PRODUCER(layout_too_big, HP_LAYOUT_TOO_BIG, -EPROTO)
HOSTILE_PRODUCER(layout_plane_outside, HP_LAYOUT_PLANE_OUT, -EPROTO)
HOSTILE_PRODUCER(buffer_unsealed, HP_BUF_UNSEALED, -EPROTO)
HOSTILE_PRODUCER(buffer_shorter_than_announced, HP_BUF_SHORT, -EPROTO)
HOSTILE_PRODUCER(buffer_not_memfd, HP_BUF_NOT_MEMFD, -EPROTO)
HOSTILE_PRODUCER(buffers_more_fds_than_count, HP_BUF_MORE_FDS, -EPROTO)
HOSTILE_PRODUCER(buffers_fewer_fds_than_count, HP_BUF_FEWER_FDS, -EPROTO)
HOSTILE_PRODUCER(buffers_253_fds, HP_BUF_253, -EPROTO)
HOSTILE_PRODUCER(buffers_253_fds_undeclared, HP_BUF_253_LIE, -EPROTO)
HOSTILE_PRODUCER(buffers_out_of_order, HP_BUF_ORDER, -EPROTO)
HOSTILE_PRODUCER(buffers_too_many, HP_BUF_TOO_MANY, -EPROTO)
HOSTILE_PRODUCER(buffers_count_zero, HP_BUF_ZERO, -EPROTO)
HOSTILE_PRODUCER(ready_too_early, HP_READY_EARLY, -EPROTO)
HOSTILE_PRODUCER(ready_with_fd, HP_READY_FDS, -EPROTO)
HOSTILE_PRODUCER(welcome_twice, HP_WELCOME_TWICE, -EPROTO)
HOSTILE_PRODUCER(message_too_big, HP_MSG_HUGE, -EPROTO)
HOSTILE_PRODUCER(garbage, HP_GARBAGE, -EPROTO)
HOSTILE_PRODUCER(goodbye_eacces, HP_GOODBYE_EACCES, -EACCES)
HOSTILE_PRODUCER(goodbye_bad_reason, HP_GOODBYE_BAD, -ECONNRESET)
HOSTILE_PRODUCER(silent, HP_SILENT, -ETIMEDOUT)
HOSTILE_PRODUCER(hangs_up, HP_HANGUP, -ECONNRESET)

#define HOSTILE_STREAM(name, what, want)				\
	CHAN_TEST(chan_hostile_producer, name, 30)		\
	{								\
		run_hostile_producer(what, want, 0);			\
	}								\
	CHAN_TEST(chan_hostile_producer, name##_busy, 30)	\
	{								\
		run_hostile_producer(what, want, DMK_CHAN_BUSY_POLL);	\
	}

HOSTILE_STREAM(buffer_id_out_of_range, HP_ID_RANGE, -EPROTO)
HOSTILE_STREAM(head_far_beyond_tail, HP_HEAD_FAR, -EPROTO)
HOSTILE_STREAM(head_behind_tail, HP_HEAD_BEHIND, -EPROTO)
HOSTILE_STREAM(slot_seq_wrong, HP_SEQ, -EPROTO)
HOSTILE_STREAM(meta_len_too_long, HP_META_LEN, -EPROTO)
HOSTILE_STREAM(same_buffer_twice, HP_DUP, -EPROTO)
HOSTILE_STREAM(garbage_after_ready, HP_MSG_AFTER_READY, -EPROTO)
HOSTILE_STREAM(fds_after_ready, HP_FDS_AFTER_READY, -EPROTO)

/*
 * A producer that never accepts: its listen backlog is full, and connect()
 * on a unix socket waits for room.  The handshake timeout covers that too.
 */
CHAN_TEST(chan_hostile_producer, backlog_full, 30)
{
	struct dmk_chan *ch = NULL;
	char path[108];
	int l, filler, ret;
	int64_t t0, dt;

	chan_path(path, sizeof(path), "backlog");
	l = wire_listen(path, 0);
	cr_assert_geq(l, 0);
	filler = wire_connect(path);	/* takes the only place */
	cr_assert_geq(filler, 0);
	/* Should connect() hang, CHAN_TEST's alarm ends the test. */
	t0 = chan_now_ns();
	ret = dmk_chan_connect(path, NULL, 300, &ch);
	dt = chan_now_ns() - t0;
	cr_expect_eq(ret, -ETIMEDOUT, "connect: %s", strerror(-ret));
	cr_expect_null(ch);
	cr_expect_lt(dt, 2000000000ll, "took %lld ms", (long long)dt / 1000000);
	close(filler);
	close(l);
	unlink(path);
}

/* ---- access policy: SO_PEERCRED ---- */

/* Child: become nobody, connect; @want the result; then take @n frames. */
static int nobody_consumer(const char *path, int want, unsigned int n)
{
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t last = 0;
	unsigned int i;
	int ret;

	alarm(20);
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 30;
	ret = dmk_chan_connect(path, NULL, 5000, &ch);
	if (ret != want) {
		fprintf(stderr, "nobody: connect: %d (%s), want %d\n", ret,
			strerror(-ret), want);
		return 31;
	}
	if (ret)
		return 0;
	for (i = 0; i < n; i++) {
		ret = dmk_chan_recv(ch, &fi, 5000000000ll);
		if (ret < 0 || check_frame(ch, &fi, last ? last + 1 : 0))
			return 32;
		last = fi.frame_id;
		dmk_chan_release(ch, (unsigned int)ret);
	}
	dmk_chan_close(ch);
	return 0;
}

/* Run the producer (publishing) until @pid exits; its status. */
static int serve_until_exit(struct dmk_chan *ch, struct dmk_pool *p,
			    pid_t pid, uint64_t *f)
{
	int64_t end = chan_now_ns() + 20000000000ll;
	int status;

	while ((status = chan_try_reap(pid)) < 0) {
		struct dmk_chan_stats st = { .sz = sizeof(st) };

		dmk_chan_stats(ch, &st);
		if (st.consumers)
			publish_one(ch, p, f);
		dmk_chan_dispatch(ch, 1);
		if (chan_now_ns() > end)
			return chan_kill_reap(pid);
	}
	return status;
}

CHAN_TEST(chan_policy, refuses_other_uid, 60)
{
	struct dmk_pool *p;
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_chan *ch;
	char path[108];
	uint64_t f = 0;
	pid_t pid;
	int i;

	if (geteuid() != 0)
		cr_skip_test("needs root, to run a consumer as uid %d", NOBODY);
	p = chan_pool(4, SMALL_BUF);
	chan_path(path, sizeof(path), "uid");
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	/* At 0600 the filesystem already says no. */
	pid = fork();
	if (pid == 0)
		_exit(nobody_consumer(path, -EACCES, 0));
	cr_assert_eq(serve_until_exit(ch, p, pid, &f), 0);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_eq(st.refused, 0);
	/* Opened up, the producer's own policy (SO_PEERCRED) says no, with
	 * a GOODBYE that dmk_chan_connect() turns into -EACCES.  Repeated:
	 * the refusal races the consumer's HELLO. */
	cr_assert_eq(chmod(path, 0666), 0);
	for (i = 0; i < 20; i++) {
		pid = fork();
		if (pid == 0)
			_exit(nobody_consumer(path, -EACCES, 0));
		cr_assert_eq(serve_until_exit(ch, p, pid, &f), 0,
			     "round %d", i);
	}
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_eq(st.refused, 20);
	cr_assert_eq(st.consumers, 0);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}

CHAN_TEST(chan_policy, allow_uids_admits, 60)
{
	const uid_t allow[] = { NOBODY };
	/* A ring as deep as the pool: the consumer checks every frame. */
	DMK_OPTS(dmk_chan_opts, o, .allow_uids = allow, .n_allow_uids = 1,
		 .nslots = 4);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_pool *p;
	struct dmk_chan *ch;
	char path[108];
	uint64_t f = 0;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root, to run a consumer as uid %d", NOBODY);
	p = chan_pool(4, SMALL_BUF);
	chan_path(path, sizeof(path), "allow");
	cr_assert_eq(dmk_chan_serve(path, p, &o, &ch), 0);
	cr_assert_eq(chmod(path, 0666), 0);
	pid = fork();
	if (pid == 0)
		_exit(nobody_consumer(path, 0, 20));
	cr_assert_eq(serve_until_exit(ch, p, pid, &f), 0);
	settle(ch, p, 0);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	cr_assert_eq(st.refused, 0);
	cr_assert_geq(f, 20);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}

/* ---- peer death at random points ---- */

enum victim_mode {
	V_RAW_CONNECT,		/* connect() and die: no HELLO */
	V_RAW_HELLO,		/* HELLO and die: mid-handshake */
	V_HOLD_AND_DIE,		/* take frames, keep them, die */
	V_KILLED_RUNNING,	/* killed by us while it consumes */
	V_KILLED_EARLY,		/* killed by us within its first ms */
	V_NMODES,
};

static void victim(const char *path, enum victim_mode mode, unsigned int k,
		   unsigned int flags)
{
	DMK_OPTS(dmk_chan_opts, o, .flags = flags, .name = "victim");
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	unsigned int i;
	int s, ret;

	alarm(20);
	switch (mode) {
	case V_RAW_CONNECT:
		s = wire_connect(path);
		(void)s;
		break;
	case V_RAW_HELLO:
		s = wire_connect(path);
		if (s >= 0)
			wire_hello(s, DMK_CHAN_VERSION);
		break;
	case V_HOLD_AND_DIE:
		if (dmk_chan_connect(path, &o, 5000, &ch))
			_exit(1);
		for (i = 0; i < k; i++)
			if (dmk_chan_recv(ch, &fi, 100000000) < 0)
				break;
		break;
	default:
		if (dmk_chan_connect(path, &o, 5000, &ch))
			_exit(0);	/* killed mid-handshake: fine */
		for (;;) {
			ret = dmk_chan_recv(ch, &fi, -1);
			if (ret < 0)
				_exit(2);
			dmk_chan_release(ch, (unsigned int)ret);
		}
	}
	kill(getpid(), SIGKILL);
	_exit(3);
}

/*
 * Consumers die (SIGKILL) at random points, handshake included, while a
 * survivor goes on: the survivor gets every frame in order, the pool gets
 * every buffer back after each death, the producer leaks nothing.
 */
CHAN_TEST(chan_death, consumers_die_at_random, 120)
{
	uint64_t seed = chan_seed("consumers_die_at_random"), rs = seed;
	struct dmk_pool *p = chan_pool(8, SMALL_BUF);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_chan *ch;
	char path[108];
	uint64_t f = 0, got = 0, before;
	int rep[2], it, status;
	pid_t survivor, pid;
	int64_t t0 = chan_now_ns();

	chan_path(path, sizeof(path), "cdie");
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	survivor = fork();
	if (survivor == 0) {
		close(rep[0]);
		_exit(consume_all(path, 0, rep[1]));
	}
	close(rep[1]);
	chan_wait_consumers(ch, 1);
	for (it = 0; it < 100; it++) {
		enum victim_mode mode = chan_rand_below(&rs, V_NMODES);
		unsigned int k = (unsigned int)chan_rand_below(&rs, 7);
		unsigned int flags = chan_rand_below(&rs, 2) ?
				     DMK_CHAN_BUSY_POLL : 0;
		uint64_t nframes = 1 + chan_rand_below(&rs, 200);
		int64_t delay = (int64_t)chan_rand_below(&rs, 1000000);
		int64_t end;

		dmk_chan_stats(ch, &st);
		before = st.disconnects;
		pid = fork();
		if (pid == 0)
			victim(path, mode, k, flags);
		if (mode == V_KILLED_EARLY) {
			end = chan_now_ns() + delay;
			while (chan_now_ns() < end)
				dmk_chan_dispatch(ch, 0);
			status = chan_kill_reap(pid);
		} else if (mode == V_KILLED_RUNNING) {
			uint64_t stop = f + nframes;

			end = chan_now_ns() + 10000000000ll;
			while (f < stop && chan_now_ns() < end) {
				if (!publish_one(ch, p, &f))
					dmk_chan_dispatch(ch, 1);
				else
					dmk_chan_dispatch(ch, 0);
			}
			status = chan_kill_reap(pid);
		} else {
			status = serve_until_exit(ch, p, pid, &f);
		}
		cr_assert_eq(status, 128 + SIGKILL,
			     "iteration %d (mode %d): victim status %d", it,
			     mode, status);
		/* The death is noticed, its buffers come back, the survivor
		 * drains what it was sent. */
		settle(ch, p, 1);
		if (mode == V_HOLD_AND_DIE || mode == V_RAW_HELLO) {
			end = chan_now_ns() + 5000000000ll;
			do {
				dmk_chan_dispatch(ch, 1);
				dmk_chan_stats(ch, &st);
			} while (st.disconnects == before &&
				 chan_now_ns() < end);
			cr_assert_gt(st.disconnects, before,
				     "iteration %d: death not noticed", it);
		}
	}
	dmk_chan_close(ch);
	cr_assert_eq(chan_reap(survivor), 0, "survivor failed");
	cr_assert_eq(read(rep[0], &got, sizeof(got)), (ssize_t)sizeof(got));
	cr_assert_eq(got, f, "survivor got %llu of %llu frames",
		     (unsigned long long)got, (unsigned long long)f);
	close(rep[0]);
	dmk_pool_free(p);
	cr_log_info("consumers_die_at_random: 100 deaths, %llu frames, %lld ms",
		    (unsigned long long)f,
		    (long long)(chan_now_ns() - t0) / 1000000);
}

/* Producer process for the producer-death test: serve, wait for two
 * consumers, publish @k frames and die, or (k == 0) publish until killed. */
static void doomed_producer(const char *path, int syncw, uint64_t k)
{
	DMK_OPTS(dmk_pool_opts, po, .name = "doomed", .buf_size = SMALL_BUF);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_heap *h;
	struct dmk_pool *p;
	struct dmk_chan *ch;
	uint64_t f = 0;
	int64_t end;

	alarm(20);
	if (dmk_heap_open("memfd", NULL, &h) || dmk_pool_new(h, 8, &po, &p) ||
	    chan_serve_lossless(path, p, &ch))
		_exit(1);
	(void)!write(syncw, "s", 1);
	end = chan_now_ns() + 5000000000ll;
	do {
		dmk_chan_dispatch(ch, 1);
		dmk_chan_stats(ch, &st);
	} while (st.consumers < 2 && chan_now_ns() < end);
	while (!k || f < k) {
		struct dmk_frame_info fi = { .meta_len = 8 };
		uint64_t *w;
		int id = dmk_pool_acquire(p, 0);

		if (id < 0) {
			dmk_chan_dispatch(ch, 1);
			continue;
		}
		w = dmk_pool_addr(p, (unsigned int)id);
		fi.frame_id = ++f;
		w[0] = w[SMALL_BUF / 8 - 1] = f;
		memcpy(fi.meta, &f, 8);
		dmk_chan_publish(ch, (unsigned int)id, &fi);
		dmk_pool_release(p, (unsigned int)id);
		dmk_chan_dispatch(ch, 0);
	}
	kill(getpid(), SIGKILL);	/* no goodbye */
	_exit(2);
}

/* A consumer that outlives its producer: every frame in order, then
 * -EPIPE (twice), and not one fd left behind.  Returns an exit status. */
static int orphan_consumer(const char *path, unsigned int flags,
			   uint64_t kill_after, pid_t producer,
			   uint64_t *nframes)
{
	DMK_OPTS(dmk_chan_opts, o, .flags = flags, .name = "orphan");
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t got = 0, last = 0;
	int ret;

	ret = dmk_chan_connect(path, &o, 5000, &ch);
	if (ret) {
		/* The producer died under our handshake: that is all. */
		if (ret == -ECONNRESET || ret == -EPIPE ||
		    ret == -ECONNREFUSED || ret == -ENOENT)
			return 0;
		fprintf(stderr, "orphan: connect: %s\n", strerror(-ret));
		return 20;
	}
	if (producer && !kill_after)
		kill(producer, SIGKILL);
	for (;;) {
		ret = dmk_chan_recv(ch, &fi, 5000000000ll);
		if (ret < 0)
			break;
		if (check_frame(ch, &fi, got ? last + 1 : 0))
			return 21;
		last = fi.frame_id;
		if (++got == kill_after && producer)
			kill(producer, SIGKILL);
		dmk_chan_release(ch, (unsigned int)ret);
	}
	if (ret != -EPIPE) {
		fprintf(stderr, "orphan: recv: %s\n", strerror(-ret));
		return 22;
	}
	if (dmk_chan_recv(ch, &fi, 0) != -EPIPE)
		return 23;
	dmk_chan_close(ch);
	*nframes = got;
	return 0;
}

/*
 * The producer dies (SIGKILL) at random points, with two consumers (one in
 * a child, one here): each one's dmk_chan_recv() ends in -EPIPE, never a
 * hang, after every frame it was sent; neither leaks an fd.
 */
CHAN_TEST(chan_death, producer_dies_at_random, 120)
{
	uint64_t seed = chan_seed("producer_dies_at_random"), rs = seed;
	char path[108];
	int it, sync[2], status;
	int64_t t0 = chan_now_ns();

	for (it = 0; it < 100; it++) {
		/* Half die by their own hand after k frames, half are
		 * killed by our consumer after it got kill_after frames
		 * (0: right after it connected). */
		bool self = chan_rand_below(&rs, 2);
		uint64_t k = 1 + chan_rand_below(&rs, 300);
		uint64_t kill_after = chan_rand_below(&rs, 100);
		unsigned int flags_here = chan_rand_below(&rs, 2) ?
					  DMK_CHAN_BUSY_POLL : 0;
		unsigned int flags_child = chan_rand_below(&rs, 2) ?
					   DMK_CHAN_BUSY_POLL : 0;
		uint64_t got = 0;
		pid_t prod, cons;
		char c;

		snprintf(path, sizeof(path), "/tmp/dmk-test-pdie-%d-%d.sock",
			 (int)getpid(), it);
		cr_assert_eq(pipe2(sync, O_CLOEXEC), 0);
		prod = fork();
		if (prod == 0) {
			close(sync[0]);
			doomed_producer(path, sync[1], self ? k : 0);
		}
		close(sync[1]);
		cr_assert_eq(read(sync[0], &c, 1), 1, "producer failed");
		close(sync[0]);
		cons = fork();
		if (cons == 0) {
			int before = dmk_test_fd_count(), r;

			alarm(20);
			r = orphan_consumer(path, flags_child, 0, 0, &got);
			if (!r && dmk_test_fd_count() != before)
				r = 24;
			_exit(r);
		}
		status = orphan_consumer(path, flags_here, self ? 0 : kill_after,
					 self ? 0 : prod, &got);
		if (status)
			chan_kill_reap(prod);
		cr_assert_eq(status, 0, "iteration %d: this consumer: %d", it,
			     status);
		if (self)
			cr_assert_eq(got, k, "iteration %d: got %llu of %llu",
				     it, (unsigned long long)got,
				     (unsigned long long)k);
		cr_assert_eq(chan_reap(prod), 128 + SIGKILL,
			     "iteration %d: producer", it);
		cr_assert_eq(chan_reap(cons), 0, "iteration %d: the other "
			     "consumer", it);
		unlink(path);
	}
	cr_log_info("producer_dies_at_random: 100 deaths, %lld ms",
		    (long long)(chan_now_ns() - t0) / 1000000);
}

/* ---- soak ---- */

struct soak_sample {
	long rss[2];
	int fds[2];
	uint64_t frames;
};

static int soak_consumer(const char *path, uint64_t n, int report_fd)
{
	DMK_OPTS(dmk_chan_opts, o, .name = "soak");
	struct soak_sample s;
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t last = 0;
	int ret;

	memset(&s, 0, sizeof(s));
	alarm(600);
	if (dmk_chan_connect(path, &o, 5000, &ch))
		return 10;
	while (s.frames < n) {
		ret = dmk_chan_recv(ch, &fi, 10000000000ll);
		if (ret < 0) {
			fprintf(stderr, "soak: recv: %s after %llu\n",
				strerror(-ret), (unsigned long long)s.frames);
			return 12;
		}
		if (check_frame(ch, &fi, s.frames ? last + 1 : 0))
			return 13;
		last = fi.frame_id;
		dmk_chan_release(ch, (unsigned int)ret);
		if (++s.frames == n / 10) {
			/* Once to warm up the sampling itself (stdio, opendir
			 * buffers), then for real. */
			chan_rss();
			dmk_test_fd_count();
			s.rss[0] = chan_rss();
			s.fds[0] = dmk_test_fd_count();
		}
	}
	s.rss[1] = chan_rss();
	s.fds[1] = dmk_test_fd_count();
	if (write(report_fd, &s, sizeof(s)) != sizeof(s))
		return 17;
	/* Stay until the producer is done with us. */
	ret = dmk_chan_recv(ch, &fi, 30000000000ll);
	dmk_chan_close(ch);
	return ret == -EPIPE ? 0 : 18;
}

static void soak_check(const char *who, const struct soak_sample *s)
{
	cr_log_info("soak: %s: rss %ld -> %ld KiB, fds %d -> %d", who,
		    s->rss[0] / 1024, s->rss[1] / 1024, s->fds[0], s->fds[1]);
	cr_expect_gt(s->rss[0], 0);
	cr_expect_lt(s->rss[1] - s->rss[0], 1 << 20, "%s: RSS grew by %ld KiB",
		     who, (s->rss[1] - s->rss[0]) / 1024);
	cr_expect_eq(s->fds[1], s->fds[0], "%s: fds %d -> %d", who,
		     s->fds[0], s->fds[1]);
}

/*
 * A million frames through two consumers (eventfd wakeups), with RSS and
 * open fds sampled at 10% and at the end in all three processes: both
 * must be flat.  On a 2-core machine a million take about 10 s, in the
 * SANITIZE=1 build too; DMK_SOAK_FRAMES=<n> changes the count (say, a
 * smaller one on a slow CI runner).
 */
CHAN_TEST(chan_soak, million_frames_two_consumers, 600)
{
	const char *e = getenv("DMK_SOAK_FRAMES");
	uint64_t n = e ? strtoull(e, NULL, 0) : 1000000, f = 0;
	struct dmk_pool *p = chan_pool(8, SMALL_BUF);
	struct soak_sample me, them[2];
	struct dmk_chan *ch;
	char path[108];
	pid_t pids[2];
	int rep[2], i;
	int64_t t0;

	cr_assert_geq(n, 10);
	memset(&me, 0, sizeof(me));
	chan_path(path, sizeof(path), "soak");
	cr_assert_eq(chan_serve_lossless(path, p, &ch), 0);
	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(rep[0]);
			_exit(soak_consumer(path, n, rep[1]));
		}
	}
	close(rep[1]);
	chan_wait_consumers(ch, 2);
	t0 = chan_now_ns();
	while (f < n) {
		if (!publish_one(ch, p, &f)) {
			dmk_chan_dispatch(ch, 1);
			continue;
		}
		if (f % 256 == 0)
			dmk_chan_dispatch(ch, 0);
		if (f == n / 10) {
			chan_rss();
			dmk_test_fd_count();
			me.rss[0] = chan_rss();
			me.fds[0] = dmk_test_fd_count();
		}
	}
	settle(ch, p, 2);
	me.rss[1] = chan_rss();
	me.fds[1] = dmk_test_fd_count();
	cr_log_info("soak: %llu frames to 2 consumers in %lld ms",
		    (unsigned long long)n,
		    (long long)(chan_now_ns() - t0) / 1000000);
	for (i = 0; i < 2; i++)
		cr_assert_eq(read(rep[0], &them[i], sizeof(them[i])),
			     (ssize_t)sizeof(them[i]), "consumer report");
	dmk_chan_close(ch);
	for (i = 0; i < 2; i++)
		cr_assert_eq(chan_reap(pids[i]), 0, "consumer %d", i);
	close(rep[0]);
	soak_check("producer", &me);
	soak_check("consumer 0", &them[0]);
	soak_check("consumer 1", &them[1]);
	dmk_pool_free(p);
}

DMK_TEST(chan, serve_never_deletes_other_files)
{
	struct dmk_pool *p = chan_pool(2, 4096);
	struct dmk_chan *ch = NULL;
	char path[108];
	struct stat st;
	int fd;

	chan_path(path, sizeof(path), "precious");
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "keep", 4), 4);
	close(fd);
	cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch), -EEXIST);
	cr_assert_null(ch);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_size, 4);
	unlink(path);
	dmk_pool_free(p);
}

DMK_TEST(chan, allow_list_opens_the_socket_file)
{
	uid_t nobody = 65534;
	DMK_OPTS(dmk_chan_opts, o, .allow_uids = &nobody, .n_allow_uids = 1);
	struct dmk_pool *p = chan_pool(2, 4096);
	struct dmk_chan *ch;
	char path[108];
	struct stat st;

	chan_path(path, sizeof(path), "allowmode");
	cr_assert_eq(dmk_chan_serve(path, p, &o, &ch), 0);
	cr_assert_eq(stat(path, &st), 0);
	/* Other users must reach the socket; SO_PEERCRED filters them. */
	cr_assert_eq(st.st_mode & 0777, 0666, "mode %o", st.st_mode & 0777);
	dmk_chan_close(ch);
	dmk_pool_free(p);
}

/*
 * With the default ring (half the pool), a consumer that stops reading
 * loses frames to drop-oldest instead of holding the pool: the other
 * consumer gets every frame.
 */
DMK_TEST(chan, stopped_consumer_does_not_stall_others)
{
	struct dmk_pool *p = chan_pool(8, BUF_SIZE);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_chan *ch;
	char path[108];
	pid_t stopped, reader;
	int status;

	chan_path(path, sizeof(path), "stall");
	cr_assert_eq(dmk_chan_serve(path, p, NULL, &ch), 0);
	stopped = fork();
	if (stopped == 0) {
		struct dmk_chan *c;

		if (dmk_chan_connect(path, NULL, 5000, &c))
			_exit(1);
		alarm(60);	/* gone even if the test dies first */
		pause();	/* never reads */
		_exit(0);
	}
	chan_wait_consumers(ch, 1);
	reader = fork();
	if (reader == 0) {
		/* Frames in order, content checked; it may lose some to
		 * drop-oldest too when the producer outruns it, so the
		 * stream ends with the producer's goodbye (-EPIPE). */
		int r = consume(path, 0, 500, 0);

		_exit(r == 11 ? 0 : r);
	}
	chan_wait_consumers(ch, 2);
	alarm(30);	/* a stall would hang produce() */
	produce(ch, p, 500);
	alarm(0);
	cr_assert_eq(dmk_chan_stats(ch, &st), 0);
	dmk_chan_close(ch);
	status = chan_reap(reader);
	kill(stopped, SIGKILL);
	cr_assert_eq(chan_reap(stopped), 128 + SIGKILL);
	cr_assert_eq(status, 0, "the reading consumer failed: %d", status);
	/* At least the stopped consumer's frames were reclaimed. */
	cr_assert_geq(st.dropped, 500 - 4);
	dmk_pool_free(p);
}
