// SPDX-License-Identifier: MIT
/*
 * Channels: a SOCK_SEQPACKET control connection per consumer, and per
 * consumer a shared-memory ring of frame slots plus a ring of releases.
 *
 * Ring protocol (all indices are free-running 64-bit counters):
 *  - The producer writes slot h % nslots, then stores head = h + 1.
 *  - A consumer claims frame t by CAS(tail, t, t + 1) after copying slot
 *    t % nslots; the producer reclaims the oldest frame of a full ring with
 *    the same CAS.  Whoever wins the CAS owns frame t, so a frame being
 *    read is never reclaimed, and the producer never rewrites slot t until
 *    tail has passed t.
 *  - A consumer gives buffer ids back through the release ring (rel_head
 *    is the consumer's, rel_tail the producer's).
 * The producer keeps its own record of what each slot holds and of what
 * each consumer holds; the shared copies are only ever read as claims and
 * checked against that record, since a peer can write anything there.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "chan_wire.h"
#include "internal.h"
#include "sys.h"

#define DEFAULT_SLOTS 8
#define DEFAULT_CONSUMERS 16
#define LIVENESS_SPINS 4096		/* busy polls between socket checks */

struct ring_map {
	struct ring_hdr *hdr;
	struct ring_slot *slots;
	_Atomic uint64_t *rel;
	size_t size;
	uint32_t nslots, nrel;
};

struct consumer {
	int sock;
	int frame_efd;
	int rel_efd;
	bool ready;
	unsigned int idx;
	struct ring_map r;
	uint64_t head;		/* private truth of what we published */
	uint64_t rel_tail;
	uint32_t *shadow;	/* buffer id in each slot */
	uint64_t *out;		/* per buffer: frame + 1 it is out with, or 0 */
	uid_t uid;
	pid_t pid;
	char name[32];
};

struct dmk_chan {
	bool producer;
	int err;		/* sticky */
	int epfd;
	struct dmk_chan_stats st;
	/* producer */
	int lsock;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct dmk_pool *pool;
	struct consumer **cons;
	unsigned int max_cons;
	unsigned int nslots;
	uid_t allow[DMK_CHAN_MAX_UIDS];
	unsigned int nallow;
	uint32_t next_id;
	/* consumer */
	int sock;
	int frame_efd;
	int rel_efd;
	bool busy;
	bool peer_gone;
	unsigned int spins;
	struct ring_map r;
	uint64_t rel_head;
	unsigned int nbufs;
	struct dmk_buf **bufs;
	void **addrs;
	uint64_t *held;		/* per buffer: frame + 1 it was claimed with */
	bool has_layout;
	struct dmk_frame_layout layout;
};

/* epoll tags: low bits say what, the rest is the consumer's index. */
#define TAG_LISTEN 0ull
#define TAG_SOCK 1ull
#define TAG_REL 2ull
#define TAG(kind, idx) ((kind) | ((uint64_t)(idx) << 2))

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ring_layout(struct ring_map *r, void *base, size_t size,
			uint32_t nslots, uint32_t nrel)
{
	r->hdr = base;
	r->slots = (struct ring_slot *)((char *)base + sizeof(struct ring_hdr));
	r->rel = (_Atomic uint64_t *)(r->slots + nslots);
	r->size = size;
	r->nslots = nslots;
	r->nrel = nrel;
}

static void ring_unmap(struct ring_map *r)
{
	if (r->hdr)
		munmap(r->hdr, r->size);
	memset(r, 0, sizeof(*r));
}

/* ---- messages ---- */

static void msg_init(struct msg_hdr *h, enum msg_type type, size_t len,
		     unsigned int nfds)
{
	memset(h, 0, len);
	h->magic = CHAN_MAGIC;
	h->type = (uint16_t)type;
	h->version = DMK_CHAN_VERSION;
	h->len = (uint32_t)len;
	h->nfds = nfds;
}

static int msg_send(int sock, const void *msg, size_t len, const int *fds,
		    unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

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
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return dmk__neg_errno();
	return (size_t)n == len ? 0 : -EPROTO;
}

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		dmk__close(fds[i]);
}

/*
 * Receive one message and the fds with it.  Everything is checked: the
 * header, the length the header claims against what arrived, and the fd
 * count against the header.  On any failure every fd that arrived is
 * closed.  Returns the message length, 0 on EOF, or -errno.
 */
static int msg_recv(int sock, void *buf, int *fds, unsigned int *nfds,
		    int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = MSG_MAX };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	struct msg_hdr *h = buf;
	struct cmsghdr *c;
	unsigned int got = 0, k;
	ssize_t n;
	int err = 0;

	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return dmk__neg_errno();
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (got + k > MAX_FDS) {	/* cannot happen: CTRUNC */
			err = -EPROTO;
			k = MAX_FDS - got;
		}
		memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
		got += k;
	}
	if (n == 0 && got == 0)
		return 0;
	if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
		err = -EPROTO;	/* more fds or bytes than allowed */
	else if ((size_t)n < sizeof(*h) || h->magic != CHAN_MAGIC ||
		 h->len != (uint32_t)n || h->nfds != got)
		err = -EPROTO;
	else if (h->version != DMK_CHAN_VERSION)
		err = -EPROTONOSUPPORT;
	if (err) {
		close_fds(fds, got);
		return err;
	}
	*nfds = got;
	return (int)n;
}

static void send_goodbye(int sock, int reason)
{
	struct msg_goodbye g;

	msg_init(&g.h, MSG_GOODBYE, sizeof(g), 0);
	g.reason = reason < 0 ? -reason : reason;
	(void)msg_send(sock, &g, sizeof(g), NULL, 0);
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? dmk__neg_errno() : 0;
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? dmk__neg_errno() : fd;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	(void)!write(fd, &one, sizeof(one));
}

static void efd_drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* ---- producer ---- */

static void consumer_drop(struct dmk_chan *ch, struct consumer *c, int why)
{
	unsigned int i, n = dmk_pool_count(ch->pool);

	if (why)
		pr_info("chan: dropping consumer %s (pid %d): %s\n", c->name,
			(int)c->pid, strerror(-why));
	/* Everything the consumer held, read or unread, goes back. */
	for (i = 0; c->out && i < n; i++)
		if (c->out[i])
			dmk_pool_release(ch->pool, i);
	if (c->r.hdr) {
		atomic_store(&c->r.hdr->closed, 1);
		ring_unmap(&c->r);
	}
	if (c->ready && ch->st.consumers)
		ch->st.consumers--;
	ch->st.disconnects++;
	/*
	 * Take both out of the epoll set before closing them: a registration
	 * lives as long as the open file (epoll(7)), and the consumer holds
	 * rel_efd's file (a fork of ours may hold the socket's too).  Left
	 * there, a dropped consumer that keeps its eventfd readable would
	 * wake every dispatch under a stale tag that nothing can remove.
	 */
	epoll_ctl(ch->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	if (c->rel_efd >= 0)
		epoll_ctl(ch->epfd, EPOLL_CTL_DEL, c->rel_efd, NULL);
	dmk__close(c->sock);
	dmk__close(c->frame_efd);
	dmk__close(c->rel_efd);
	free(c->shadow);
	free(c->out);
	ch->cons[c->idx] = NULL;
	free(c);
}

static bool uid_allowed(const struct dmk_chan *ch, uid_t uid)
{
	unsigned int i;

	if (uid == geteuid())
		return true;
	for (i = 0; i < ch->nallow; i++)
		if (ch->allow[i] == uid)
			return true;
	return false;
}

static void producer_accept(struct dmk_chan *ch)
{
	struct consumer *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = { .tv_sec = 2 };
	unsigned int i;
	int s;

	/* Blocking, for the handshake's sends (bounded by SO_SNDTIMEO);
	 * every receive on it is MSG_DONTWAIT. */
	s = accept4(ch->lsock, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    !uid_allowed(ch, cred.uid)) {
		pr_warn("chan: refused a consumer with uid %d (pid %d)\n",
			(int)cred.uid, (int)cred.pid);
		ch->st.refused++;
		send_goodbye(s, EACCES);
		dmk__close(s);
		return;
	}
	for (i = 0; i < ch->max_cons && ch->cons[i]; i++)
		;
	if (i == ch->max_cons) {
		ch->st.refused++;
		send_goodbye(s, EUSERS);
		dmk__close(s);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		dmk__close(s);
		return;
	}
	c->sock = s;
	c->frame_efd = -1;
	c->rel_efd = -1;
	c->idx = i;
	c->uid = cred.uid;
	c->pid = cred.pid;
	snprintf(c->name, sizeof(c->name), "pid-%d", (int)cred.pid);
	/* Sends during the handshake may block this long, no longer. */
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ch->cons[i] = c;
	if (epoll_add(ch->epfd, s, TAG(TAG_SOCK, i)))
		consumer_drop(ch, c, -ENOMEM);
}

/* Answer a HELLO: make the ring, send it and every buffer, then READY. */
static int producer_welcome(struct dmk_chan *ch, struct consumer *c,
			    const struct msg_hello *hello)
{
	unsigned int nbufs = dmk_pool_count(ch->pool), i, n;
	const struct dmk_frame_layout *l = dmk_pool_layout(ch->pool);
	uint32_t nrel = round_pow2(nbufs);
	size_t size = ring_bytes(ch->nslots, nrel);
	struct msg_welcome w;
	struct msg_buffers mb;
	struct msg_hdr ready;
	int fds[MAX_FDS], memfd, ret;
	void *base;

	memcpy(c->name, hello->name, sizeof(c->name));
	c->name[sizeof(c->name) - 1] = '\0';
	c->shadow = calloc(ch->nslots, sizeof(*c->shadow));
	c->out = calloc(nbufs, sizeof(*c->out));
	if (!c->shadow || !c->out)
		return -ENOMEM;
	memfd = dmk__memfd_create("dmakit-ring", MFD_ALLOW_SEALING);
	if (memfd < 0)
		return memfd;
	ret = dmk__ftruncate(memfd, (off_t)size);
	if (!ret)
		ret = dmk__add_seals(memfd, F_SEAL_SHRINK | F_SEAL_GROW |
						    F_SEAL_SEAL);
	if (!ret)
		ret = dmk__mmap(memfd, size, PROT_READ | PROT_WRITE, 0, &base);
	if (ret)
		goto out_memfd;
	ring_layout(&c->r, base, size, ch->nslots, nrel);
	c->r.hdr->magic = RING_MAGIC;
	c->r.hdr->version = DMK_CHAN_VERSION;
	c->r.hdr->nslots = ch->nslots;
	c->r.hdr->nrel = nrel;
	c->r.hdr->nbufs = nbufs;
	c->r.hdr->size = size;
	c->frame_efd = new_eventfd();
	c->rel_efd = new_eventfd();
	if (c->frame_efd < 0 || c->rel_efd < 0) {
		ret = c->frame_efd < 0 ? c->frame_efd : c->rel_efd;
		goto out_memfd;
	}
	msg_init(&w.h, MSG_WELCOME, sizeof(w), 3);
	w.consumer_id = ch->next_id++;
	w.nslots = ch->nslots;
	w.nrel = nrel;
	w.nbufs = nbufs;
	w.ring_size = size;
	w.buf_size = dmk_buf_size(dmk_pool_buf(ch->pool, 0));
	if (l) {
		w.has_layout = 1;
		w.layout = *l;
	}
	fds[0] = memfd;
	fds[1] = c->frame_efd;
	fds[2] = c->rel_efd;
	ret = msg_send(c->sock, &w, sizeof(w), fds, 3);
	if (ret)
		goto out_memfd;
	/* Each fd crosses once; frames refer to buffers by id after this. */
	for (i = 0; i < nbufs; i += n) {
		unsigned int k;

		n = nbufs - i < MAX_FDS ? nbufs - i : MAX_FDS;
		msg_init(&mb.h, MSG_BUFFERS, sizeof(mb), n);
		mb.first_id = i;
		mb.count = n;
		for (k = 0; k < n; k++)
			fds[k] = dmk_buf_fd(dmk_pool_buf(ch->pool, i + k));
		ret = msg_send(c->sock, &mb, sizeof(mb), fds, n);
		if (ret)
			goto out_memfd;
	}
	msg_init(&ready, MSG_READY, sizeof(ready), 0);
	ret = msg_send(c->sock, &ready, sizeof(ready), NULL, 0);
	if (ret)
		goto out_memfd;
	ret = epoll_add(ch->epfd, c->rel_efd, TAG(TAG_REL, c->idx));
	if (ret)
		goto out_memfd;
	c->ready = true;
	ch->st.consumers++;
out_memfd:
	dmk__close(memfd);
	return ret;
}

/* Take back what a consumer released; any lie drops it. */
static int producer_drain(struct dmk_chan *ch, struct consumer *c)
{
	struct ring_hdr *h = c->r.hdr;
	uint64_t rh = atomic_load_explicit(&h->rel_head, memory_order_acquire);
	uint64_t n = rh - c->rel_tail, i, tail;
	unsigned int nbufs = dmk_pool_count(ch->pool);

	/* The claim point must stay within what we published: checked here
	 * too, so a lie is caught even while nothing can be published. */
	tail = atomic_load_explicit(&h->tail, memory_order_acquire);
	if (c->head - tail > c->r.nslots)
		return -EPROTO;
	if (n == 0)
		return 0;
	if (n > c->r.nrel)
		return -EPROTO;
	for (i = c->rel_tail; i != rh; i++) {
		uint64_t e = atomic_load_explicit(
			&c->r.rel[i & (c->r.nrel - 1)], memory_order_relaxed);
		uint32_t id = REL_ID(e);

		/* The buffer must be out with exactly that frame, and the
		 * frame claimed (behind tail): anything else is a lie. */
		if (id >= nbufs || c->out[id] != REL_FRAME(e) + 1 ||
		    REL_FRAME(e) >= tail)
			return -EPROTO;
		c->out[id] = 0;
		dmk_pool_release(ch->pool, id);
		ch->st.releases++;
	}
	c->rel_tail = rh;
	atomic_store_explicit(&h->rel_tail, rh, memory_order_release);
	return 0;
}

static void producer_sock_event(struct dmk_chan *ch, struct consumer *c)
{
	char buf[MSG_MAX];
	struct msg_hdr *h = (struct msg_hdr *)buf;
	int fds[MAX_FDS], n;
	unsigned int nfds;

	n = msg_recv(c->sock, buf, fds, &nfds, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		/* Say why to a peer that sent a malformed message or one of
		 * another version (EPROTONOSUPPORT tells it apart), as for
		 * any other protocol error; EOF and errors need no answer. */
		if (n == -EPROTO || n == -EPROTONOSUPPORT)
			send_goodbye(c->sock, n);
		consumer_drop(ch, c, n == 0 ? -EPIPE : n);
		return;
	}
	if (nfds) {
		/* Consumers never send fds. */
		close_fds(fds, nfds);
		send_goodbye(c->sock, EPROTO);
		consumer_drop(ch, c, -EPROTO);
		return;
	}
	if (h->type == MSG_GOODBYE && h->len == sizeof(struct msg_goodbye)) {
		/* Collect its last releases, then return the rest. */
		if (c->ready)
			producer_drain(ch, c);
		consumer_drop(ch, c, 0);
		return;
	}
	if (!c->ready && h->type == MSG_HELLO &&
	    h->len == sizeof(struct msg_hello)) {
		n = producer_welcome(ch, c, (struct msg_hello *)buf);
		if (n) {
			send_goodbye(c->sock, n);
			consumer_drop(ch, c, n);
		}
		return;
	}
	send_goodbye(c->sock, EPROTO);
	consumer_drop(ch, c, -EPROTO);
}

DMK_API int dmk_chan_serve(const char *path, struct dmk_pool *pool,
			   const struct dmk_chan_opts *uopts,
			   struct dmk_chan **out)
{
	struct dmk_chan_opts opts;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dmk_chan *ch;
	struct stat lst;
	int ret, probe;

	ret = DMK_OPTS_LOAD(dmk_chan_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!path || !*path || !pool || !out || opts.flags ||
	    opts.n_allow_uids > DMK_CHAN_MAX_UIDS ||
	    (opts.n_allow_uids && !opts.allow_uids) ||
	    (opts.nslots && (!is_pow2(opts.nslots) ||
			     opts.nslots > DMK_CHAN_MAX_SLOTS)))
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->producer = true;
	ch->pool = pool;
	ch->lsock = -1;
	/*
	 * Default ring: at most half the pool, so a consumer that stops
	 * reading cannot hold the whole pool through unread frames; drop-
	 * oldest then keeps everyone else going.
	 */
	ch->nslots = opts.nslots;
	if (!ch->nslots) {
		ch->nslots = DEFAULT_SLOTS;
		while (ch->nslots > 1 && ch->nslots > dmk_pool_count(pool) / 2)
			ch->nslots /= 2;
	}
	ch->max_cons = opts.max_consumers ? opts.max_consumers :
					    DEFAULT_CONSUMERS;
	ch->nallow = opts.n_allow_uids;
	if (ch->nallow)
		memcpy(ch->allow, opts.allow_uids,
		       ch->nallow * sizeof(uid_t));
	ch->cons = calloc(ch->max_cons, sizeof(*ch->cons));
	ch->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!ch->cons || ch->epfd < 0) {
		ret = ch->epfd < 0 ? dmk__neg_errno() : -ENOMEM;
		goto err;
	}
	strcpy(sa.sun_path, path);
	ch->lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
					    SOCK_NONBLOCK, 0);
	if (ch->lsock < 0) {
		ret = dmk__neg_errno();
		goto err;
	}
	/* A stale socket file is replaced; a live producer is not. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (!connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			dmk__close(probe);
			ret = -EADDRINUSE;
			goto err;
		}
		dmk__close(probe);
	}
	/* Replace only a socket: never delete a file that is not ours. */
	if (!lstat(path, &lst)) {
		if (!S_ISSOCK(lst.st_mode)) {
			ret = -EEXIST;
			goto err;
		}
		unlink(path);
	}
	if (bind(ch->lsock, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = dmk__neg_errno();
		goto err;
	}
	strcpy(ch->path, path);
	/*
	 * Nobody can connect before listen(): no window.  0600 keeps other
	 * users out at the filesystem already; with an allow-list they must
	 * reach the socket, and SO_PEERCRED is what keeps the rest out.
	 */
	if (chmod(path, ch->nallow ? 0666 : 0600) || listen(ch->lsock, 16)) {
		ret = dmk__neg_errno();
		goto err;
	}
	ret = epoll_add(ch->epfd, ch->lsock, TAG(TAG_LISTEN, 0));
	if (ret)
		goto err;
	*out = ch;
	return 0;

err:
	dmk_chan_close(ch);
	return ret;
}

static void producer_set_waiting(struct dmk_chan *ch, uint32_t v)
{
	unsigned int i;

	for (i = 0; i < ch->max_cons; i++)
		if (ch->cons[i] && ch->cons[i]->ready)
			atomic_store(&ch->cons[i]->r.hdr->prod_waiting, v);
}

static int producer_dispatch(struct dmk_chan *ch, int timeout_ms)
{
	struct epoll_event ev[16];
	unsigned int i;
	int n, k, handled = 0;

	/* Releases that came in without a wakeup count too. */
	for (i = 0; i < ch->max_cons; i++) {
		struct consumer *c = ch->cons[i];

		if (c && c->ready && producer_drain(ch, c))
			consumer_drop(ch, c, -EPROTO);
	}
	if (timeout_ms)
		producer_set_waiting(ch, 1);
	do {
		n = epoll_wait(ch->epfd, ev, 16, timeout_ms);
	} while (n < 0 && errno == EINTR && timeout_ms < 0);
	if (timeout_ms)
		producer_set_waiting(ch, 0);
	if (n < 0)
		return dmk__neg_errno();
	for (k = 0; k < n; k++) {
		uint64_t kind = ev[k].data.u64 & 3, idx = ev[k].data.u64 >> 2;
		struct consumer *c;

		handled++;
		if (kind == TAG_LISTEN) {
			producer_accept(ch);
			continue;
		}
		c = idx < ch->max_cons ? ch->cons[idx] : NULL;
		if (!c)
			continue;	/* dropped earlier in this batch */
		if (kind == TAG_SOCK) {
			producer_sock_event(ch, c);
		} else if (c->ready) {
			/* (A slot reused within this batch may not be.) */
			efd_drain(c->rel_efd);
			if (producer_drain(ch, c))
				consumer_drop(ch, c, -EPROTO);
		}
	}
	return handled;
}

/* Make room in @c's ring, reclaiming its oldest unread frame if full. */
static int producer_make_room(struct dmk_chan *ch, struct consumer *c)
{
	struct ring_hdr *h = c->r.hdr;
	uint64_t t;

	for (;;) {
		t = atomic_load_explicit(&h->tail, memory_order_acquire);
		if (c->head - t > c->r.nslots)	/* tail ahead or far back */
			return -EPROTO;
		if (c->head - t < c->r.nslots)
			return 0;
		if (atomic_compare_exchange_strong(&h->tail, &t, t + 1)) {
			uint32_t id = c->shadow[t & (c->r.nslots - 1)];

			/* Ours by the CAS: the consumer never saw it.  If
			 * it claims to have released it already, it lied. */
			if (c->out[id] != t + 1)
				return -EPROTO;
			c->out[id] = 0;
			dmk_pool_release(ch->pool, id);
			ch->st.dropped++;
			atomic_fetch_add_explicit(&h->dropped, 1,
						  memory_order_relaxed);
		}
		/* Lost the CAS: the consumer took frame t; look again. */
	}
}

static int producer_publish(struct dmk_chan *ch, unsigned int id,
			    const struct dmk_frame_info *info)
{
	unsigned int i, n = 0;
	uint64_t ts = info && info->ts_ns ? info->ts_ns : (uint64_t)mono_ns();
	int ret;

	if (id >= dmk_pool_count(ch->pool) ||
	    (info && info->meta_len > DMK_META_MAX))
		return -EINVAL;
	for (i = 0; i < ch->max_cons; i++) {
		struct consumer *c = ch->cons[i];

		if (!c || !c->ready)
			continue;
		if (c->out[id])
			return -EINVAL;	/* published and not released */
		n++;
	}
	if (n == 0) {
		ch->st.frames++;	/* published, to nobody */
		return 0;
	}
	/* One hold per consumer; fails if the caller holds none itself. */
	ret = dmk_pool_ref(ch->pool, id, n);
	if (ret)
		return -EINVAL;
	n = 0;
	for (i = 0; i < ch->max_cons; i++) {
		struct consumer *c = ch->cons[i];
		struct ring_slot *s;

		if (!c || !c->ready)
			continue;
		if (producer_drain(ch, c) || producer_make_room(ch, c)) {
			c->out[id] = c->head + 1;	/* the drop gives it back */
			consumer_drop(ch, c, -EPROTO);
			continue;
		}
		s = &c->r.slots[c->head & (c->r.nslots - 1)];
		atomic_store_explicit(&s->seq, 0, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		s->buf_id = id;
		s->flags = info ? info->flags : 0;
		s->frame_id = info ? info->frame_id : ch->st.frames;
		s->ts_ns = ts;
		s->meta_len = info ? info->meta_len : 0;
		if (s->meta_len)
			memcpy(s->meta, info->meta, s->meta_len);
		atomic_store_explicit(&s->seq, c->head + 1,
				      memory_order_release);
		c->shadow[c->head & (c->r.nslots - 1)] = id;
		c->out[id] = c->head + 1;	/* out with this frame */
		c->head++;
		/* seq_cst pairs with the consumer's arm-then-recheck. */
		atomic_store(&c->r.hdr->head, c->head);
		if (atomic_load(&c->r.hdr->cons_waiting) &&
		    atomic_exchange(&c->r.hdr->cons_waiting, 0))
			efd_signal(c->frame_efd);
		n++;
	}
	ch->st.frames++;
	return (int)n;
}

/* ---- consumer ---- */

static bool is_eventfd(int fd)
{
	char path[64], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

static int wait_readable(int fd, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ms = -1, n;

	if (deadline) {
		int64_t left = deadline - mono_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		ms = (int)((left + 999999) / 1000000);
	}
	n = poll(&p, 1, ms);
	if (n < 0)
		return dmk__neg_errno();
	return n ? 0 : -ETIMEDOUT;
}

/* Receive one handshake message, waiting until @deadline (0: forever). */
static int consumer_recv_msg(struct dmk_chan *ch, void *buf, int *fds,
			     unsigned int *nfds, int64_t deadline)
{
	struct msg_hdr *h = buf;
	int ret = wait_readable(ch->sock, deadline);

	if (ret)
		return ret;
	ret = msg_recv(ch->sock, buf, fds, nfds, MSG_DONTWAIT);
	/*
	 * A producer that refuses us answers GOODBYE and hangs up, maybe
	 * with our HELLO unread: the kernel then reports ECONNRESET once,
	 * ahead of the GOODBYE still queued for us.  Read on for the why.
	 */
	if (ret == -ECONNRESET)
		ret = msg_recv(ch->sock, buf, fds, nfds, MSG_DONTWAIT);
	if (ret == 0 || ret == -EAGAIN)
		return -ECONNRESET;
	if (ret < 0)
		return ret;
	if (h->type == MSG_GOODBYE) {
		struct msg_goodbye *g = buf;

		close_fds(fds, *nfds);
		if (h->len != sizeof(*g) || g->reason <= 0 ||
		    g->reason > 4095)
			return -ECONNRESET;
		return -g->reason;
	}
	return ret;
}

/*
 * A peer's frame layout: applications index pixels with these numbers, so
 * every plane must lie inside the frame and the frame inside a buffer.
 */
static bool layout_ok(const struct dmk_frame_layout *l, uint64_t buf_size)
{
	uint64_t rows, end;
	unsigned int i;

	if (l->size > buf_size || l->nplanes == 0 ||
	    l->nplanes > DMK_MAX_PLANES)
		return false;
	for (i = 0; i < l->nplanes; i++)
		if (__builtin_mul_overflow((uint64_t)l->pitch[i],
					   (uint64_t)l->plane_height[i],
					   &rows) ||
		    rows > l->plane_size[i] ||
		    __builtin_add_overflow(l->offset[i], l->plane_size[i],
					   &end) ||
		    end > l->size)
			return false;
	return true;
}

static int consumer_take_ring(struct dmk_chan *ch, const struct msg_welcome *w,
			      int *fds)
{
	DMK_OPTS(dmk_buf_import_opts, io, .min_size = w->ring_size);
	struct dmk_buf *rb;
	void *base;
	int ret;

	if (!is_pow2(w->nslots) || w->nslots > DMK_CHAN_MAX_SLOTS ||
	    w->nbufs == 0 || w->nbufs > DMK_POOL_MAX || !is_pow2(w->nrel) ||
	    w->nrel < w->nbufs || w->nrel > 2 * DMK_POOL_MAX ||
	    w->ring_size != ring_bytes(w->nslots, w->nrel) ||
	    w->buf_size == 0 || w->has_layout > 1 ||
	    (w->has_layout && !layout_ok(&w->layout, w->buf_size)) ||
	    !is_eventfd(fds[1]) || !is_eventfd(fds[2]))
		return -EPROTO;
	/* The ring must be a memfd sealed against shrinking, of full size. */
	ret = dmk_buf_import(fds[0], 0, &io, &rb);
	if (ret)
		return -EPROTO;
	if (!dmk_buf_writable(rb)) {
		dmk_buf_put(rb);
		return -EPROTO;
	}
	ret = dmk__mmap(dmk_buf_fd(rb), w->ring_size, PROT_READ | PROT_WRITE,
			0, &base);
	dmk_buf_put(rb);
	if (ret)
		return ret;
	ring_layout(&ch->r, base, w->ring_size, w->nslots, w->nrel);
	if (ch->r.hdr->magic != RING_MAGIC ||
	    ch->r.hdr->version != DMK_CHAN_VERSION ||
	    ch->r.hdr->nslots != w->nslots || ch->r.hdr->nrel != w->nrel ||
	    ch->r.hdr->nbufs != w->nbufs || ch->r.hdr->size != w->ring_size)
		return -EPROTO;
	ch->frame_efd = fds[1];
	ch->rel_efd = fds[2];
	fds[1] = fds[2] = -1;
	ch->nbufs = w->nbufs;
	ch->has_layout = w->has_layout;
	ch->layout = w->layout;
	ch->bufs = calloc(ch->nbufs, sizeof(*ch->bufs));
	ch->addrs = calloc(ch->nbufs, sizeof(*ch->addrs));
	ch->held = calloc(ch->nbufs, sizeof(*ch->held));
	if (!ch->bufs || !ch->addrs || !ch->held)
		return -ENOMEM;
	ch->rel_head = atomic_load(&ch->r.hdr->rel_head);
	return 0;
}

static int consumer_take_buffers(struct dmk_chan *ch,
				 const struct msg_buffers *mb, int *fds,
				 unsigned int nfds, unsigned int *have,
				 uint64_t buf_size)
{
	DMK_OPTS(dmk_buf_import_opts, io, .min_size = buf_size);
	unsigned int k;
	int ret;

	if (mb->h.len != sizeof(*mb) || mb->first_id != *have ||
	    mb->count == 0 || mb->count != nfds ||
	    mb->count > ch->nbufs - *have)
		return -EPROTO;
	for (k = 0; k < nfds; k++) {
		struct dmk_buf *b;

		/* A dma-buf or a shrink-sealed memfd, at least as large as
		 * announced; anything else ends the connection. */
		ret = dmk_buf_import(fds[k], 0, &io, &b);
		if (ret) {
			pr_warn("chan: buffer %u refused: %s\n", *have + k,
				strerror(-ret));
			return -EPROTO;
		}
		ch->bufs[*have + k] = b;
		ret = dmk_buf_map(b, &ch->addrs[*have + k]);
		if (ret)
			return ret;
	}
	*have += nfds;
	return 0;
}

DMK_API int dmk_chan_connect(const char *path,
			     const struct dmk_chan_opts *uopts, int timeout_ms,
			     struct dmk_chan **out)
{
	struct dmk_chan_opts opts;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct msg_welcome w;
	struct msg_hello hello;
	struct dmk_chan *ch;
	char buf[MSG_MAX];
	struct msg_hdr *h = (struct msg_hdr *)buf;
	int fds[MAX_FDS], ret;
	unsigned int nfds, have = 0;
	int64_t deadline = timeout_ms < 0 ? 0 :
			   mono_ns() + (int64_t)timeout_ms * 1000000;

	ret = DMK_OPTS_LOAD(dmk_chan_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!path || !*path || !out || (opts.flags & ~DMK_CHAN_BUSY_POLL))
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->lsock = -1;
	ch->frame_efd = -1;
	ch->rel_efd = -1;
	ch->epfd = -1;
	ch->busy = opts.flags & DMK_CHAN_BUSY_POLL;
	ch->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ch->sock < 0) {
		ret = dmk__neg_errno();
		goto err;
	}
	strcpy(sa.sun_path, path);
	/*
	 * connect() on a unix socket waits while the producer's listen
	 * backlog is full (a producer that stalls or never accepts), and
	 * only SO_SNDTIMEO bounds that wait: give it the handshake's
	 * timeout (a zero timeval would mean forever: at least 1 ms).
	 */
	if (timeout_ms >= 0) {
		int ms = timeout_ms ? timeout_ms : 1;
		struct timeval tv = {
			.tv_sec = ms / 1000,
			.tv_usec = ms % 1000 * 1000,
		};

		setsockopt(ch->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(ch->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = errno == EAGAIN ? -ETIMEDOUT : dmk__neg_errno();
		goto err;
	}
	msg_init(&hello.h, MSG_HELLO, sizeof(hello), 0);
	dmk__strscpy(hello.name, opts.name ? opts.name : "consumer",
		     sizeof(hello.name));
	ret = msg_send(ch->sock, &hello, sizeof(hello), NULL, 0);
	/* A refusing producer may have sent its GOODBYE and hung up before
	 * our HELLO went out: the GOODBYE, still queued, says why. */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		goto err;

	ret = consumer_recv_msg(ch, buf, fds, &nfds, deadline);
	if (ret < 0)
		goto err;
	if (h->type != MSG_WELCOME || h->len != sizeof(w) || nfds != 3) {
		close_fds(fds, nfds);
		ret = -EPROTO;
		goto err;
	}
	memcpy(&w, buf, sizeof(w));
	ret = consumer_take_ring(ch, &w, fds);
	close_fds(fds, 3);	/* what was kept was set to -1 */
	if (ret)
		goto err;
	for (;;) {
		ret = consumer_recv_msg(ch, buf, fds, &nfds, deadline);
		if (ret < 0)
			goto err;
		if (h->type == MSG_READY && h->len == sizeof(*h) && !nfds &&
		    have == ch->nbufs)
			break;
		if (h->type != MSG_BUFFERS) {
			close_fds(fds, nfds);
			ret = -EPROTO;
			goto err;
		}
		ret = consumer_take_buffers(ch, (struct msg_buffers *)buf, fds,
					    nfds, &have, w.buf_size);
		close_fds(fds, nfds);	/* imports hold their own dups */
		if (ret)
			goto err;
	}
	ch->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ch->epfd < 0) {
		ret = dmk__neg_errno();
		goto err;
	}
	ret = epoll_add(ch->epfd, ch->frame_efd, 0);
	if (!ret)
		ret = epoll_add(ch->epfd, ch->sock, 1);
	if (ret)
		goto err;
	*out = ch;
	return 0;

err:
	dmk_chan_close(ch);
	return ret;
}

/* Is the producer still there?  Looks at the socket without blocking. */
static bool consumer_peer_alive(struct dmk_chan *ch)
{
	char buf[MSG_MAX];
	int fds[MAX_FDS], n;
	unsigned int nfds;

	if (ch->peer_gone)
		return false;
	if (atomic_load_explicit(&ch->r.hdr->closed, memory_order_acquire)) {
		ch->peer_gone = true;
		return false;
	}
	n = msg_recv(ch->sock, buf, fds, &nfds, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return true;
	if (n > 0)
		close_fds(fds, nfds);
	/*
	 * EOF, GOODBYE, or anything else after READY: the stream is over.
	 * A hang-up or a GOODBYE is the end (-EPIPE); any other message,
	 * well-formed or not (msg_recv() said -EPROTO), broke the protocol.
	 */
	ch->peer_gone = true;
	if (n > 0 ? ((struct msg_hdr *)buf)->type != MSG_GOODBYE :
		    n == -EPROTO || n == -EPROTONOSUPPORT)
		ch->err = -EPROTO;
	return false;
}

/* Try to claim one frame: its id, -EAGAIN when the ring is empty. */
static int consumer_claim(struct dmk_chan *ch, struct dmk_frame_info *info)
{
	struct ring_hdr *hd = ch->r.hdr;
	uint32_t mask = ch->r.nslots - 1;

	for (;;) {
		uint64_t t = atomic_load_explicit(&hd->tail,
						  memory_order_acquire);
		uint64_t h = atomic_load(&hd->head);
		struct ring_slot *s = &ch->r.slots[t & mask];
		uint64_t seq;
		uint32_t id, len;

		if (h == t)
			return -EAGAIN;
		if (h - t > ch->r.nslots)
			return -EPROTO;
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		id = s->buf_id;
		len = s->meta_len;
		info->frame_id = s->frame_id;
		info->ts_ns = s->ts_ns;
		info->flags = s->flags;
		if (len <= DMK_META_MAX)
			memcpy(info->meta, s->meta, len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq ||
		    seq != t + 1) {
			/* Rewritten under us: only after a reclaim moved
			 * tail.  If tail did not move, the producer lies. */
			if (atomic_load(&hd->tail) == t)
				return -EPROTO;
			continue;
		}
		if (!atomic_compare_exchange_strong(&hd->tail, &t, t + 1))
			continue;	/* reclaimed by the producer */
		if (id >= ch->nbufs || len > DMK_META_MAX || ch->held[id])
			return -EPROTO;
		ch->held[id] = t + 1;	/* held with frame t */
		ch->st.held++;
		ch->st.frames++;
		info->buf_id = id;
		info->meta_len = len;
		return (int)id;
	}
}

static int consumer_recv(struct dmk_chan *ch, struct dmk_frame_info *info,
			 int64_t timeout_ns)
{
	int64_t deadline = 0;
	int ret;

	if (timeout_ns > 0)
		deadline = mono_ns() + timeout_ns;
	for (;;) {
		ret = consumer_claim(ch, info);
		if (ret != -EAGAIN)
			break;
		if (ch->busy) {
			/* Once the producer is known gone, say so every time
			 * (a failed channel stays failed), not every
			 * LIVENESS_SPINS-th poll. */
			if ((ch->peer_gone ||
			     ++ch->spins % LIVENESS_SPINS == 0) &&
			    !consumer_peer_alive(ch))
				return ch->err ? ch->err : -EPIPE;
			if (timeout_ns == 0)
				return -EAGAIN;
			if (deadline && mono_ns() > deadline)
				return -ETIMEDOUT;
			/* Be polite to a sibling hyperthread, and to a
			 * producer that shares our CPU. */
			cpu_relax();
			if (ch->spins % 256 == 0)
				sched_yield();
			continue;
		}
		/* Arm the wakeup, then look once more: a frame published in
		 * between either shows here or sees the flag. */
		atomic_store(&ch->r.hdr->cons_waiting, 1);
		ret = consumer_claim(ch, info);
		if (ret != -EAGAIN)
			break;
		/*
		 * The goodbye flag costs nothing to read.  The socket is
		 * looked at when epoll says it is readable, and, for callers
		 * that never wait, every LIVENESS_SPINS-th empty poll.
		 */
		if ((ch->peer_gone ||
		     atomic_load_explicit(&ch->r.hdr->closed,
					  memory_order_acquire) ||
		     (timeout_ns == 0 && ++ch->spins % LIVENESS_SPINS == 0)) &&
		    !consumer_peer_alive(ch))
			return ch->err ? ch->err : -EPIPE;
		if (timeout_ns == 0)
			return -EAGAIN;
		{
			struct epoll_event ev[2];
			int ms = -1, n, k;

			if (deadline) {
				int64_t left = deadline - mono_ns();

				if (left <= 0)
					return -ETIMEDOUT;
				ms = (int)((left + 999999) / 1000000);
			}
			n = epoll_wait(ch->epfd, ev, 2, ms);
			if (n < 0)
				return dmk__neg_errno();
			for (k = 0; k < n; k++) {
				if (ev[k].data.u64 == 0)
					efd_drain(ch->frame_efd);
				else if (!consumer_peer_alive(ch))
					ch->peer_gone = true;
			}
			/* Loop: drain what is left in the ring, then say the
			 * producer is gone. */
		}
	}
	if (ret == -EPROTO)
		ch->err = -EPROTO;
	else if (ret >= 0)
		ch->spins = 0;
	return ret;
}

static int consumer_release(struct dmk_chan *ch, unsigned int id)
{
	struct ring_hdr *hd = ch->r.hdr;
	uint64_t rt, frame;

	if (id >= ch->nbufs || !ch->held[id])
		return -ENOENT;
	frame = ch->held[id] - 1;
	ch->held[id] = 0;
	ch->st.held--;
	if (ch->peer_gone)
		return -EPIPE;
	rt = atomic_load_explicit(&hd->rel_tail, memory_order_acquire);
	/* We never have more than nbufs <= nrel releases in flight. */
	if (ch->rel_head - rt >= ch->r.nrel) {
		ch->err = -EPROTO;
		return -EPROTO;
	}
	atomic_store_explicit(&ch->r.rel[ch->rel_head & (ch->r.nrel - 1)],
			      REL_ENTRY(frame, id), memory_order_relaxed);
	ch->rel_head++;
	atomic_store(&hd->rel_head, ch->rel_head);
	ch->st.releases++;
	if (atomic_load(&hd->prod_waiting))
		efd_signal(ch->rel_efd);
	return 0;
}

/* ---- both ---- */

DMK_API void dmk_chan_close(struct dmk_chan *ch)
{
	unsigned int i;

	if (!ch)
		return;
	if (ch->producer) {
		for (i = 0; ch->cons && i < ch->max_cons; i++) {
			struct consumer *c = ch->cons[i];

			if (!c)
				continue;
			if (c->r.hdr)
				atomic_store(&c->r.hdr->closed, 1);
			if (c->frame_efd >= 0)
				efd_signal(c->frame_efd);
			send_goodbye(c->sock, 0);
			consumer_drop(ch, c, 0);
		}
		free(ch->cons);
		if (ch->path[0])
			unlink(ch->path);
		dmk__close(ch->lsock);
	} else {
		if (ch->sock >= 0 && !ch->peer_gone)
			send_goodbye(ch->sock, 0);
		for (i = 0; ch->bufs && i < ch->nbufs; i++)
			dmk_buf_put(ch->bufs[i]);
		free(ch->bufs);
		free(ch->addrs);
		free(ch->held);
		ring_unmap(&ch->r);
		dmk__close(ch->sock);
		dmk__close(ch->frame_efd);
		dmk__close(ch->rel_efd);
	}
	dmk__close(ch->epfd);
	free(ch);
}

DMK_API int dmk_chan_fd(const struct dmk_chan *ch)
{
	return ch->epfd;
}

DMK_API int dmk_chan_dispatch(struct dmk_chan *ch, int timeout_ms)
{
	if (!ch->producer)
		return -EINVAL;
	return producer_dispatch(ch, timeout_ms);
}

DMK_API int dmk_chan_publish(struct dmk_chan *ch, unsigned int buf_id,
			     const struct dmk_frame_info *info)
{
	if (!ch->producer)
		return -EINVAL;
	return producer_publish(ch, buf_id, info);
}

DMK_API int dmk_chan_recv(struct dmk_chan *ch, struct dmk_frame_info *info,
			  int64_t timeout_ns)
{
	if (ch->producer || !info)
		return -EINVAL;
	if (ch->err)
		return ch->err;
	return consumer_recv(ch, info, timeout_ns);
}

DMK_API int dmk_chan_release(struct dmk_chan *ch, unsigned int buf_id)
{
	if (ch->producer)
		return -EINVAL;
	return consumer_release(ch, buf_id);
}

DMK_API struct dmk_buf *dmk_chan_buf(const struct dmk_chan *ch,
				     unsigned int id)
{
	if (ch->producer)
		return dmk_pool_buf(ch->pool, id);
	return id < ch->nbufs ? ch->bufs[id] : NULL;
}

DMK_API void *dmk_chan_addr(const struct dmk_chan *ch, unsigned int id)
{
	if (ch->producer)
		return dmk_pool_addr(ch->pool, id);
	return id < ch->nbufs ? ch->addrs[id] : NULL;
}

DMK_API unsigned int dmk_chan_nbufs(const struct dmk_chan *ch)
{
	return ch->producer ? dmk_pool_count(ch->pool) : ch->nbufs;
}

DMK_API const struct dmk_frame_layout *
dmk_chan_layout(const struct dmk_chan *ch)
{
	if (ch->producer)
		return dmk_pool_layout(ch->pool);
	return ch->has_layout ? &ch->layout : NULL;
}

DMK_API int dmk_chan_stats(const struct dmk_chan *ch,
			   struct dmk_chan_stats *st)
{
	struct dmk_chan_stats s = ch->st;

	if (!ch->producer && ch->r.hdr)
		s.dropped = atomic_load_explicit(&ch->r.hdr->dropped,
						 memory_order_relaxed);
	return dmk__struct_out(st, &s, sizeof(s));
}

DMK_API int dmk_chan_error(const struct dmk_chan *ch)
{
	return ch->err;
}
