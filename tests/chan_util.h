/* SPDX-License-Identifier: MIT */
/* Helpers for the multi-process channel tests. */
#ifndef DMK_TEST_CHAN_UTIL_H
#define DMK_TEST_CHAN_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan_wire.h"
#include "helpers.h"

/*
 * A DMK_TEST that must finish within @secs seconds: past that, SIGALRM
 * kills it and Criterion reports a crash instead of a hang.  (Not
 * Criterion's .timeout: 2.4.1 leaks its watchdog entry, which fails the
 * SANITIZE=1 run under LeakSanitizer.)  The body must not use alarm().
 */
#define CHAN_TEST(suite, name, secs)					\
	static void suite##_##name##_timed(void);			\
	DMK_TEST(suite, name)						\
	{								\
		alarm(secs);						\
		suite##_##name##_timed();				\
		alarm(0);						\
	}								\
	static void suite##_##name##_timed(void)

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

/*
 * Serve with a ring as deep as the pool: the pool runs dry before a ring
 * can fill, so nothing is ever reclaimed and every consumer sees every
 * frame (the default ring is half the pool, which drops instead).
 */
static inline int chan_serve_lossless(const char *path, struct dmk_pool *p,
				      struct dmk_chan **ch)
{
	DMK_OPTS(dmk_chan_opts, o, .nslots = 8);

	while (o.nslots < dmk_pool_count(p))
		o.nslots *= 2;
	return dmk_chan_serve(path, p, &o, ch);
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

/* ---- time, randomness, process state ---- */

static inline int64_t chan_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough to pick kill points. */
static inline uint64_t chan_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A value in 0 .. n - 1. */
static inline uint64_t chan_rand_below(uint64_t *s, uint64_t n)
{
	return n ? chan_rand(s) % n : 0;
}

/* The seed of a randomised test: DMK_TEST_SEED if set, else the clock.
 * Logged, so a failure can be replayed with DMK_TEST_SEED=<seed>. */
static inline uint64_t chan_seed(const char *test)
{
	const char *e = getenv("DMK_TEST_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) :
			    (uint64_t)chan_now_ns() ^ (uint64_t)getpid();

	cr_log_info("%s: seed %llu (replay with DMK_TEST_SEED=%llu)", test,
		    (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

/* Resident set size of this process in bytes (/proc/self/statm). */
static inline long chan_rss(void)
{
	long pages = -1, size;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &pages) != 2)
		pages = -1;
	fclose(f);
	return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* Reap @pid without blocking: its status as chan_reap(), or -1 if it
 * still runs. */
static inline int chan_try_reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Kill (SIGKILL) and reap @pid; its status as chan_reap(). */
static inline int chan_kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	return chan_reap(pid);
}

/* ---- raw protocol, for hostile peers built in the tests ----
 * None of these assert: they also run in forked children, which report
 * through their exit status. */

union wire_buf {
	struct msg_hdr h;
	struct msg_hello hello;
	struct msg_welcome welcome;
	struct msg_buffers buffers;
	struct msg_goodbye goodbye;
	char bytes[4096];
};

static inline void wire_init(struct msg_hdr *h, enum msg_type type,
			     size_t len, unsigned int nfds)
{
	memset(h, 0, len);
	h->magic = CHAN_MAGIC;
	h->type = (uint16_t)type;
	h->version = DMK_CHAN_VERSION;
	h->len = (uint32_t)len;
	h->nfds = nfds;
}

/* Send @len bytes and @nfds fds as one message, whatever they say.
 * Returns 0 or -errno. */
static inline int wire_send(int sock, const void *msg, size_t len,
			    const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds > MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/* Receive one message into @m within @timeout_ms, its fds into @fds
 * (room for MAX_FDS).  Returns its length, 0 on EOF, -ETIMEDOUT, -errno. */
static inline int wire_recv(int sock, union wire_buf *m, int *fds,
			    unsigned int *nfds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = poll(&p, 1, timeout_ms);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		unsigned int k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
		*nfds += k;
	}
	return (int)n;
}

static inline void wire_close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * Wait for the end of a connection: the GOODBYE reason (>= 0), -EPIPE on
 * EOF without one, -ETIMEDOUT, or -EBADMSG for any other message.  fds
 * that come along are closed.
 */
static inline int wire_wait_end(int sock, int timeout_ms)
{
	union wire_buf m;
	int fds[MAX_FDS];
	unsigned int nfds;
	int n = wire_recv(sock, &m, fds, &nfds, timeout_ms);

	wire_close_fds(fds, nfds);
	if (n == 0 || n == -ECONNRESET)
		return -EPIPE;
	if (n < 0)
		return n;
	if ((size_t)n == sizeof(m.goodbye) && m.h.type == MSG_GOODBYE)
		return m.goodbye.reason;
	return -EBADMSG;
}

static inline int wire_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = -errno;

		close(s);
		return e;
	}
	return s;
}

/* A listening SOCK_SEQPACKET socket on @path (replaced if it exists). */
static inline int wire_listen(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s, backlog)) {
		int e = -errno;

		close(s);
		return e;
	}
	return s;
}

static inline void wire_hello(int sock, uint16_t version)
{
	struct msg_hello h;

	wire_init(&h.h, MSG_HELLO, sizeof(h), 0);
	h.h.version = version;
	snprintf(h.name, sizeof(h.name), "hostile");
	(void)wire_send(sock, &h, sizeof(h), NULL, 0);
}

/* A memfd of @size bytes with @seals added (0: none, not even sealable
 * when @seals is -1).  Returns the fd or -errno. */
static inline int wire_memfd(const char *name, uint64_t size, int seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC |
				    (seals >= 0 ? MFD_ALLOW_SEALING : 0));

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) ||
	    (seals > 0 && fcntl(fd, F_ADD_SEALS, seals))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* A raw consumer: the real handshake, then direct access to the ring. */
struct raw_cons {
	int sock;
	int frame_efd;
	int rel_efd;
	struct msg_welcome w;
	struct ring_hdr *hdr;
	struct ring_slot *slots;
	_Atomic uint64_t *rel;
	uint64_t last_frame;	/* ring index of the last claim */
	size_t ring_size;
};

/*
 * Connect to @path and complete a well-behaved handshake.  Returns 0, or
 * a small positive code saying which step failed (for an exit status).
 */
static inline int raw_cons_open(struct raw_cons *rc, const char *path)
{
	union wire_buf m;
	int fds[MAX_FDS], n;
	unsigned int nfds, have = 0;
	void *base;

	memset(rc, 0, sizeof(*rc));
	rc->sock = rc->frame_efd = rc->rel_efd = -1;
	rc->sock = wire_connect(path);
	if (rc->sock < 0)
		return 40;
	wire_hello(rc->sock, DMK_CHAN_VERSION);
	n = wire_recv(rc->sock, &m, fds, &nfds, 5000);
	if (n != (int)sizeof(m.welcome) || m.h.type != MSG_WELCOME ||
	    nfds != 3)
		return 41;
	rc->w = m.welcome;
	rc->ring_size = m.welcome.ring_size;
	base = mmap(NULL, rc->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fds[0], 0);
	close(fds[0]);
	if (base == MAP_FAILED)
		return 42;
	rc->hdr = base;
	rc->slots = (struct ring_slot *)(rc->hdr + 1);
	rc->rel = (_Atomic uint64_t *)(rc->slots + rc->w.nslots);
	rc->frame_efd = fds[1];
	rc->rel_efd = fds[2];
	for (;;) {
		n = wire_recv(rc->sock, &m, fds, &nfds, 5000);
		if (n <= 0)
			return 43;
		wire_close_fds(fds, nfds);	/* the buffers: not needed */
		if (m.h.type == MSG_READY)
			break;
		if (m.h.type != MSG_BUFFERS)
			return 44;
		have += nfds;
	}
	return have == rc->w.nbufs ? 0 : 45;
}

static inline void raw_cons_close(struct raw_cons *rc)
{
	if (rc->hdr)
		munmap(rc->hdr, rc->ring_size);
	if (rc->sock >= 0)
		close(rc->sock);
	if (rc->frame_efd >= 0)
		close(rc->frame_efd);
	if (rc->rel_efd >= 0)
		close(rc->rel_efd);
	memset(rc, 0, sizeof(*rc));
}

/* Claim the next frame as the real consumer does; its buffer id, or -1
 * when nothing comes within @timeout_ms. */
static inline int raw_claim(struct raw_cons *rc, int timeout_ms)
{
	int64_t end = chan_now_ns() + (int64_t)timeout_ms * 1000000;

	do {
		uint64_t t = atomic_load(&rc->hdr->tail);
		uint64_t h = atomic_load(&rc->hdr->head);
		struct ring_slot *s = &rc->slots[t & (rc->w.nslots - 1)];
		uint32_t id;

		if (h == t) {
			usleep(100);
			continue;
		}
		id = s->buf_id;
		if (atomic_compare_exchange_strong(&rc->hdr->tail, &t, t + 1)) {
			rc->last_frame = t;
			return (int)id;
		}
	} while (chan_now_ns() < end);
	return -1;
}

/*
 * Put @id in the release ring, true or not, and wake the producer.  The
 * release names the frame last claimed, as an honest consumer would for
 * the buffer that came with it.
 */
static inline void raw_release(struct raw_cons *rc, uint32_t id)
{
	uint64_t h = atomic_load(&rc->hdr->rel_head);
	uint64_t one = 1;

	atomic_store(&rc->rel[h & (rc->w.nrel - 1)],
		     REL_ENTRY(rc->last_frame, id));
	atomic_store(&rc->hdr->rel_head, h + 1);
	(void)!write(rc->rel_efd, &one, sizeof(one));
}

#endif
