// SPDX-License-Identifier: MIT
/*
 * stats: accounting against the real kernel.
 *
 * Behavioural tests use the real /proc: a buffer is created (a memfd on
 * the host; a system-heap dma-buf, which skips here and runs in the VM
 * tier), handed to a child over a unix socket, dup'ed, inherited through
 * fork, mapped and its fd closed, and the child killed; after each step a
 * snapshot must show the holders, references and shares that step makes,
 * and for a dma-buf the references must add up to the kernel's own
 * fdinfo "count".  A fake tree in a temp dir is used only for the
 * parsers' edge cases (missing fields, huge numbers, garbage lines).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "stats_internal.h"

#define NOBODY 65534
#define MIB (1ull << 20)

static uint64_t page(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- buffers ---- */

/*
 * A buffer of @size bytes from @backend ("memfd" or a dma-heap), as one
 * plain fd the test owns, with nothing mapped.  @name gets a name unique
 * to this process (dma-buf names are at most 31 bytes).
 */
static int make_buffer(const char *backend, uint64_t size, const char *tag,
		       char *name, size_t len)
{
	struct dmk_buf *b;
	int fd;

	snprintf(name, len, "st-%s-%d", tag, (int)getpid());
	if (!strcmp(backend, "memfd")) {
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
		cr_assert_eq(ftruncate(fd, (off_t)size), 0);
		return fd;
	}
	b = dmk_test_alloc(backend, size, name);
	fd = fcntl(dmk_buf_fd(b), F_DUPFD_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	dmk_buf_put(b);
	return fd;
}

struct ident {
	dev_t dev;
	ino_t ino;
};

static struct ident ident_of(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (struct ident){ st.st_dev, st.st_ino };
}

/* The kernel's own reference count of a dma-buf, from our fdinfo. */
static int64_t fdinfo_count(int fd)
{
	char val[64];

	cr_assert_eq(dmk_test_fdinfo(fd, "count", val, sizeof(val)), 0,
		     "no count: in fdinfo of fd %d", fd);
	return strtoll(val, NULL, 10);
}

/* ---- snapshots ---- */

static struct dmk_stats_snapshot *snap_opts(const struct dmk_stats_opts *o)
{
	struct dmk_stats_snapshot *s = NULL;
	int ret = dmk_stats_snapshot_new(o, &s);

	cr_assert_eq(ret, 0, "dmk_stats_snapshot_new: %s", strerror(-ret));
	cr_assert_not_null(s);
	return s;
}

static struct dmk_stats_snapshot *snap(void)
{
	return snap_opts(NULL);
}

static struct dmk_stats_buf_info buf_info(const struct dmk_stats_snapshot *s,
					  size_t i)
{
	struct dmk_stats_buf_info bi = { .sz = sizeof(bi) };

	cr_assert_eq(dmk_stats_buf(s, i, &bi), 0);
	return bi;
}

static struct dmk_stats_proc_info proc_info(const struct dmk_stats_snapshot *s,
					    size_t i)
{
	struct dmk_stats_proc_info pi = { .sz = sizeof(pi) };

	cr_assert_eq(dmk_stats_proc(s, i, &pi), 0);
	return pi;
}

static struct dmk_stats_holder_info
holder_info(const struct dmk_stats_snapshot *s, size_t b, size_t j)
{
	struct dmk_stats_holder_info hi = { .sz = sizeof(hi) };

	cr_assert_eq(dmk_stats_holder(s, b, j, &hi), 0);
	return hi;
}

/*
 * Everything a snapshot says must add up: holders sum to their buffer's
 * references, each process's numbers are the sums over the buffers it
 * holds, totals count each buffer once.
 */
static void check_consistent(const struct dmk_stats_snapshot *s)
{
	size_t nb = dmk_stats_nbufs(s), np = dmk_stats_nprocs(s), i, j;
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	uint64_t *ref, *pss, bytes = 0, dbytes = 0, mbytes = 0, refsum = 0;
	uint64_t extra = 0;
	uint32_t *nbufs, *fds, *maps, unreadable = 0, holding = 0;

	ref = calloc(np + 1, sizeof(*ref));
	pss = calloc(np + 1, sizeof(*pss));
	nbufs = calloc(np + 1, sizeof(*nbufs));
	fds = calloc(np + 1, sizeof(*fds));
	maps = calloc(np + 1, sizeof(*maps));
	cr_assert(ref && pss && nbufs && fds && maps);
	for (i = 0; i < nb; i++) {
		struct dmk_stats_buf_info bi = buf_info(s, i);
		uint32_t f = 0, m = 0;
		pid_t last = 0;

		cr_assert_geq(bi.nholders, 1, "buffer %zu has no holder", i);
		if (i) {
			struct dmk_stats_buf_info prev = buf_info(s, i - 1);

			cr_assert(prev.dev < bi.dev ||
				  (prev.dev == bi.dev && prev.ino < bi.ino),
				  "buffers not in (dev, ino) order, or twice");
		}
		cr_assert_eq(dmk_stats_find_buf(s, bi.dev, bi.ino), (int)i);
		for (j = 0; j < bi.nholders; j++) {
			struct dmk_stats_holder_info h = holder_info(s, i, j);
			struct dmk_stats_proc_info p = proc_info(s, h.proc);

			cr_assert_eq(p.pid, h.pid);
			cr_assert_gt(h.pid, last, "holders not in pid order");
			last = h.pid;
			cr_assert(h.fd_refs + h.map_refs > 0);
			f += h.fd_refs;
			m += h.map_refs;
			ref[h.proc] += bi.size;
			pss[h.proc] += bi.size / bi.nholders;
			nbufs[h.proc]++;
			fds[h.proc] += h.fd_refs;
			maps[h.proc] += h.map_refs;
		}
		cr_assert_eq(f, bi.fd_refs);
		cr_assert_eq(m, bi.map_refs);
		bytes += bi.size;
		extra += (bi.nholders - 1) * bi.size;
		if (bi.kind == DMK_STATS_DMABUF)
			dbytes += bi.size;
		else
			mbytes += bi.size;
		if (bi.kind == DMK_STATS_MEMFD) {
			cr_assert_eq(bi.kcount, -1);
			cr_assert_str_eq(bi.exporter, "memfd");
		}
	}
	for (i = 0; i < np; i++) {
		struct dmk_stats_proc_info p = proc_info(s, i);

		cr_assert_eq(p.referenced, ref[i], "pid %d referenced", p.pid);
		cr_assert_eq(p.proportional, pss[i], "pid %d share", p.pid);
		cr_assert_eq(p.nbufs, nbufs[i]);
		cr_assert_eq(p.fd_refs, fds[i]);
		cr_assert_eq(p.map_refs, maps[i]);
		cr_assert_eq(p.readable, p.err == 0);
		cr_assert_eq(dmk_stats_find_proc(s, p.pid), (int)i);
		unreadable += !p.readable;
		holding += p.nbufs > 0;
		refsum += p.referenced;
	}
	cr_assert_eq(dmk_stats_totals(s, &t), 0);
	cr_assert_eq(t.nbufs, nb);
	cr_assert_eq(t.nprocs, np);
	cr_assert_eq(t.bytes, bytes);
	cr_assert_eq(t.dmabuf_bytes, dbytes);
	cr_assert_eq(t.memfd_bytes, mbytes);
	cr_assert_eq(t.ndmabufs + t.nmemfds, t.nbufs);
	cr_assert_eq(t.nunreadable, unreadable);
	cr_assert_eq(t.nholding, holding);
	/* Shared buffers count once in the totals, once per holder above. */
	cr_assert_eq(refsum, t.bytes + extra);
	free(ref);
	free(pss);
	free(nbufs);
	free(fds);
	free(maps);
}

struct want {
	pid_t pid;
	uint32_t fd_refs, map_refs;
};

/*
 * The buffer @id must be in a fresh snapshot exactly as @w says (holders
 * in any order; n == 0: in no process), with @size bytes; for a dma-buf
 * the references must add up to the kernel's count, and to what our
 * fdinfo says when @kfd >= 0.
 */
static void expect(const struct ident *id, const char *kind_name,
		   uint64_t size, const char *name, const struct want *w,
		   size_t n, int kfd)
{
	struct dmk_stats_snapshot *s = snap();
	struct dmk_stats_buf_info bi;
	uint32_t fds = 0, maps = 0;
	size_t i, j, same = 0;
	int idx;

	check_consistent(s);
	idx = dmk_stats_find_buf(s, id->dev, id->ino);
	if (!n) {
		cr_assert_eq(idx, -ENOENT, "buffer still listed");
		dmk_stats_snapshot_free(s);
		return;
	}
	cr_assert_geq(idx, 0, "buffer not found");
	for (i = 0; i < dmk_stats_nbufs(s); i++) {
		bi = buf_info(s, i);
		same += bi.dev == id->dev && bi.ino == id->ino;
	}
	cr_assert_eq(same, 1, "buffer listed %zu times", same);
	bi = buf_info(s, (size_t)idx);
	cr_assert_eq(bi.size, size, "size %" PRIu64 ", want %" PRIu64,
		     bi.size, size);
	cr_assert_eq(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED, 0);
	cr_assert_str_eq(bi.name, name);
	cr_assert_eq(bi.nholders, n, "%u holders, want %zu", bi.nholders, n);
	for (i = 0; i < n; i++) {
		struct dmk_stats_holder_info h;
		struct dmk_stats_proc_info p;

		for (j = 0; j < n; j++) {
			h = holder_info(s, (size_t)idx, j);
			if (h.pid == w[i].pid)
				break;
		}
		cr_assert_lt(j, n, "pid %d does not hold it", w[i].pid);
		cr_assert_eq(h.fd_refs, w[i].fd_refs,
			     "pid %d: %u fd refs, want %u", w[i].pid,
			     h.fd_refs, w[i].fd_refs);
		cr_assert_eq(h.map_refs, w[i].map_refs,
			     "pid %d: %u map refs, want %u", w[i].pid,
			     h.map_refs, w[i].map_refs);
		p = proc_info(s, h.proc);
		cr_assert(p.readable, "pid %d unreadable: %s", p.pid,
			  strerror(-p.err));
		/* Its share of this buffer is in its proportional total. */
		cr_assert_geq(p.proportional, size / n);
		cr_assert_geq(p.referenced, size);
		fds += w[i].fd_refs;
		maps += w[i].map_refs;
	}
	if (!strcmp(kind_name, "memfd")) {
		cr_assert_eq(bi.kind, DMK_STATS_MEMFD);
		cr_assert_str_eq(bi.exporter, "memfd");
		cr_assert_eq(bi.kcount, -1);
	} else {
		cr_assert_eq(bi.kind, DMK_STATS_DMABUF);
		cr_assert_str_eq(bi.exporter, kind_name);
		/* The kernel sees exactly the references we counted. */
		if (kfd >= 0 || dmk_test_require_all())
			cr_assert_eq(bi.kcount, (int64_t)(fds + maps),
				     "kernel count %" PRId64 ", we saw %u",
				     bi.kcount, fds + maps);
		if (kfd >= 0)
			cr_assert_eq(fdinfo_count(kfd), bi.kcount);
	}
	dmk_stats_snapshot_free(s);
}

/* ---- a child that holds buffers on command ---- */

struct peer {
	pid_t pid;
	int sock;
};

struct peer_cmd {
	char op;	/* r d m c k u x */
	uint64_t len;
};

static int send_fd(int sock, const void *data, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The child: obey commands until told to exit or the parent goes. */
static int peer_main(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	int fds[8], nfds = 0, i;
	void *map = NULL;
	size_t maplen = 0;
	struct peer_cmd c;
	char st;

	for (;;) {
		struct iovec iov = { &c, sizeof(c) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return 0;
		st = 0;
		switch (c.op) {
		case 'r':
			cm = CMSG_FIRSTHDR(&msg);
			if (!cm || cm->cmsg_type != SCM_RIGHTS || nfds == 8)
				return 10;
			memcpy(&fds[nfds++], CMSG_DATA(cm), sizeof(int));
			break;
		case 'd':
			if (!nfds || nfds == 8)
				return 11;
			fds[nfds] = fcntl(fds[nfds - 1], F_DUPFD_CLOEXEC, 0);
			if (fds[nfds++] < 0)
				st = 1;
			break;
		case 'm':
			if (!nfds)
				return 12;
			map = mmap(NULL, c.len, PROT_READ, MAP_SHARED,
				   fds[nfds - 1], 0);
			if (map == MAP_FAILED) {
				map = NULL;
				st = 2;
			}
			maplen = c.len;
			break;
		case 'c':
			for (i = 0; i < nfds; i++)
				close(fds[i]);
			nfds = 0;
			break;
		case 'k':	/* close an fd it inherited */
			if (close((int)c.len))
				st = 3;
			break;
		case 'u':
			if (map)
				munmap(map, maplen);
			map = NULL;
			break;
		case 'x':
			return 0;
		default:
			return 13;
		}
		if (send(sock, &st, 1, MSG_NOSIGNAL) != 1)
			return 14;
	}
}

static struct peer peer_start(void)
{
	struct peer p;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	p.pid = fork();
	cr_assert_geq(p.pid, 0);
	if (p.pid == 0) {
		close(sv[0]);
		alarm(60);
		_exit(peer_main(sv[1]));
	}
	close(sv[1]);
	p.sock = sv[0];
	return p;
}

/* Run one command in the child (@fd is sent along when >= 0). */
static void peer_do(struct peer *p, char op, uint64_t len, int fd)
{
	struct peer_cmd c;
	char st = -1;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.len = len;
	cr_assert_eq(send_fd(p->sock, &c, sizeof(c), fd), 0,
		     "send '%c': %s", op, strerror(errno));
	cr_assert_eq(recv(p->sock, &st, 1, 0), 1, "child died on '%c'", op);
	cr_assert_eq(st, 0, "child failed '%c': %d", op, st);
}

static void peer_stop(struct peer *p)
{
	struct peer_cmd c = { .op = 'x' };
	int status;

	send_fd(p->sock, &c, sizeof(c), -1);
	cr_assert_eq(waitpid(p->pid, &status, 0), p->pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child exit status %d", status);
	close(p->sock);
}

/* Kill the child outright (SIGKILL) and reap it. */
static void peer_kill(struct peer *p)
{
	int status;

	cr_assert_eq(kill(p->pid, SIGKILL), 0);
	cr_assert_eq(waitpid(p->pid, &status, 0), p->pid);
	cr_assert(WIFSIGNALED(status));
	close(p->sock);
}

/* One test per backend: memfd here, a dma-buf where there are heaps. */
#define STATS_TEST(tname)						\
	static void tname##_body(const char *backend);			\
	DMK_TEST(stats, tname##_memfd) { tname##_body("memfd"); }	\
	DMK_TEST(stats, tname##_dmabuf)					\
	{ tname##_body(dmk_test_require_backend("system")); }		\
	static void tname##_body(const char *backend)

/* ---- behaviour, against the real /proc ---- */

STATS_TEST(share_over_socket_then_child_death)
{
	pid_t me = getpid();
	char name[32];
	struct peer p;
	struct ident id;
	int fd;

	/* The child exists before the buffer, so it can only get it over
	 * the socket. */
	p = peer_start();
	fd = make_buffer(backend, MIB, "sock", name, sizeof(name));
	id = ident_of(fd);
	expect(&id, backend, MIB, name, (struct want[]){ { me, 1, 0 } }, 1,
	       fd);

	peer_do(&p, 'r', 0, fd);
	expect(&id, backend, MIB, name,
	       (struct want[]){ { me, 1, 0 }, { p.pid, 1, 0 } }, 2, fd);

	/* The child maps it too: one more reference, still one buffer. */
	peer_do(&p, 'm', MIB, -1);
	expect(&id, backend, MIB, name,
	       (struct want[]){ { me, 1, 0 }, { p.pid, 1, 1 } }, 2, fd);

	/* Its death drops everything it held, mapping included. */
	peer_kill(&p);
	expect(&id, backend, MIB, name, (struct want[]){ { me, 1, 0 } }, 1,
	       fd);
	close(fd);
	expect(&id, backend, MIB, name, NULL, 0, -1);
}

STATS_TEST(shares_are_size_over_holders)
{
	struct dmk_stats_snapshot *s;
	struct peer p[3];
	char name[32];
	struct ident id;
	int fd, idx, i, k;

	for (i = 0; i < 3; i++)
		p[i] = peer_start();
	fd = make_buffer(backend, 3 * MIB, "share", name, sizeof(name));
	id = ident_of(fd);
	for (i = 0; i < 3; i++)
		peer_do(&p[i], 'r', 0, fd);
	close(fd);
	/* Held by the three children only: 1 MiB each. */
	s = snap();
	check_consistent(s);
	idx = dmk_stats_find_buf(s, id.dev, id.ino);
	cr_assert_geq(idx, 0);
	cr_assert_eq(buf_info(s, (size_t)idx).nholders, 3);
	cr_assert_eq(dmk_stats_find_proc(s, getpid()) >= 0, true);
	for (i = 0; i < 3; i++) {
		struct dmk_stats_proc_info pi;
		uint64_t others = 0;
		size_t b;

		k = dmk_stats_find_proc(s, p[i].pid);
		cr_assert_geq(k, 0);
		pi = proc_info(s, (size_t)k);
		/* What the child holds besides ours (inherited memfds of
		 * the test runner, if any) is shared the same way. */
		for (b = 0; b < dmk_stats_nbufs(s); b++) {
			struct dmk_stats_buf_info bi = buf_info(s, b);
			size_t j;

			if ((int)b == idx)
				continue;
			for (j = 0; j < bi.nholders; j++)
				if (holder_info(s, b, j).pid == p[i].pid)
					others += bi.size / bi.nholders;
		}
		cr_assert_eq(pi.proportional - others, MIB,
			     "child %d: share %" PRIu64, i,
			     pi.proportional - others);
	}
	dmk_stats_snapshot_free(s);
	for (i = 0; i < 3; i++)
		peer_stop(&p[i]);
	expect(&id, backend, 3 * MIB, name, NULL, 0, -1);
}

STATS_TEST(dup_adds_fd_references)
{
	pid_t me = getpid();
	char name[32];
	struct ident id;
	int fd, d1, d2;

	fd = make_buffer(backend, 64 * 1024, "dup", name, sizeof(name));
	id = ident_of(fd);
	d1 = dup(fd);
	d2 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	cr_assert(d1 >= 0 && d2 >= 0);
	expect(&id, backend, 64 * 1024, name,
	       (struct want[]){ { me, 3, 0 } }, 1, fd);
	close(d1);
	close(fd);
	expect(&id, backend, 64 * 1024, name,
	       (struct want[]){ { me, 1, 0 } }, 1, d2);
	close(d2);
}

STATS_TEST(fork_inherits_fds_and_mappings)
{
	pid_t me = getpid();
	char name[32];
	struct ident id;
	struct peer p;
	void *m;
	int fd;

	fd = make_buffer(backend, 2 * MIB, "fork", name, sizeof(name));
	id = ident_of(fd);
	m = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED, "mmap: %s", strerror(errno));
	expect(&id, backend, 2 * MIB, name, (struct want[]){ { me, 1, 1 } },
	       1, fd);

	/* fork() copies the fd table and the mappings: the child holds
	 * the buffer the same way, and the kernel counts both. */
	p = peer_start();
	expect(&id, backend, 2 * MIB, name,
	       (struct want[]){ { me, 1, 1 }, { p.pid, 1, 1 } }, 2, fd);

	/* The child lets go of its fd but not of its mapping. */
	peer_do(&p, 'k', (uint64_t)fd, -1);
	expect(&id, backend, 2 * MIB, name,
	       (struct want[]){ { me, 1, 1 }, { p.pid, 0, 1 } }, 2, fd);

	peer_stop(&p);
	expect(&id, backend, 2 * MIB, name, (struct want[]){ { me, 1, 1 } },
	       1, fd);
	cr_assert_eq(munmap(m, 2 * MIB), 0);
	close(fd);
	expect(&id, backend, 2 * MIB, name, NULL, 0, -1);
}

STATS_TEST(map_then_close_fd_keeps_the_buffer)
{
	uint64_t size = 4 * page();
	pid_t me = getpid();
	char name[32];
	struct ident id;
	void *whole, *last;
	int fd;

	fd = make_buffer(backend, size, "mapclose", name, sizeof(name));
	id = ident_of(fd);
	whole = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	last = mmap(NULL, page(), PROT_READ, MAP_SHARED, fd,
		    (off_t)(size - page()));
	cr_assert(whole != MAP_FAILED && last != MAP_FAILED);
	/* Two mappings are two references. */
	expect(&id, backend, size, name, (struct want[]){ { me, 1, 2 } }, 1,
	       fd);
	close(fd);
	/* No fd anywhere, yet the buffer lives: found through maps alone,
	 * its size from map_files, the dma-buf sysfs or debugfs (as root)
	 * or the furthest mapping (here the last page reaches the end). */
	expect(&id, backend, size, name, (struct want[]){ { me, 0, 2 } }, 1,
	       -1);
	cr_assert_eq(munmap(whole, size), 0);
	expect(&id, backend, size, name, (struct want[]){ { me, 0, 1 } }, 1,
	       -1);
	cr_assert_eq(munmap(last, page()), 0);
	expect(&id, backend, size, name, NULL, 0, -1);
}

STATS_TEST(in_flight_fd_is_the_kernels_not_a_process)
{
	struct dmk_stats_snapshot *s;
	struct dmk_stats_buf_info bi;
	char name[32], byte = 0;
	struct ident id;
	int sv[2], fd, idx;

	/* An fd sent but not yet received belongs to no process: it is
	 * not a holder, though the kernel still counts its reference. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	fd = make_buffer(backend, 64 * 1024, "flight", name, sizeof(name));
	id = ident_of(fd);
	cr_assert_eq(send_fd(sv[0], &byte, 1, fd), 0);
	s = snap();
	check_consistent(s);
	idx = dmk_stats_find_buf(s, id.dev, id.ino);
	cr_assert_geq(idx, 0);
	bi = buf_info(s, (size_t)idx);
	cr_assert_eq(bi.nholders, 1);
	cr_assert_eq(bi.fd_refs, 1);
	if (bi.kind == DMK_STATS_DMABUF)
		cr_assert_eq(bi.kcount, 2, "kernel count %" PRId64
			     ": our fd and the one in flight", bi.kcount);
	dmk_stats_snapshot_free(s);
	close(fd);
	/* Now only the message holds it. */
	expect(&id, backend, 64 * 1024, name, NULL, 0, -1);
	close(sv[0]);
	close(sv[1]);
}

DMK_TEST(stats, udmabuf_and_its_memfd)
{
	struct dmk_stats_snapshot *s;
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	struct dmk_stats_buf_info bi;
	struct dmk_buf *b;
	struct stat st;
	dev_t dev;
	ino_t ino;
	int idx;

	dmk_test_require_backend("udmabuf");
	b = dmk_test_alloc("udmabuf", MIB, "st-udmabuf");
	dmk_buf_identity(b, &dev, &ino);
	s = snap();
	check_consistent(s);
	idx = dmk_stats_find_buf(s, dev, ino);
	cr_assert_geq(idx, 0);
	bi = buf_info(s, (size_t)idx);
	cr_assert_eq(bi.kind, DMK_STATS_DMABUF);
	cr_assert_str_eq(bi.exporter, "udmabuf");
	cr_assert_eq(bi.size, MIB);
	/* Its memfd is a buffer of its own, over the same pages. */
	cr_assert_eq(fstat(dmk_buf_memfd(b), &st), 0);
	idx = dmk_stats_find_buf(s, st.st_dev, st.st_ino);
	cr_assert_geq(idx, 0);
	cr_assert_eq(buf_info(s, (size_t)idx).kind, DMK_STATS_MEMFD);
	cr_assert_eq(dmk_stats_totals(s, &t), 0);
	cr_assert_geq(t.udmabuf_bytes, MIB);
	dmk_stats_snapshot_free(s);
	dmk_buf_put(b);
}

DMK_TEST(stats, identity_matches_dmk_buf)
{
	struct dmk_stats_snapshot *s;
	struct dmk_stats_buf_info bi;
	struct dmk_buf *b;
	dev_t dev;
	ino_t ino;
	int idx;

	b = dmk_test_alloc("memfd", 3 * page(), "st-ident");
	dmk_buf_identity(b, &dev, &ino);
	s = snap();
	idx = dmk_stats_find_buf(s, dev, ino);
	cr_assert_geq(idx, 0);
	bi = buf_info(s, (size_t)idx);
	cr_assert_eq(bi.size, dmk_buf_size(b));
	cr_assert_str_eq(bi.name, dmk_buf_name(b));
	cr_assert_eq(dmk_stats_find_buf(s, dev, ino + 1000000000), -ENOENT);
	dmk_stats_snapshot_free(s);
	dmk_buf_put(b);
}

DMK_TEST(stats, whole_system_adds_up)
{
	struct dmk_stats_snapshot *s = snap();
	struct dmk_stats_memory m = { .sz = sizeof(m) };
	struct dmk_stats_heaps h = { .sz = sizeof(h) };

	check_consistent(s);
	cr_assert_geq(dmk_stats_find_proc(s, getpid()), 0);
	cr_assert_geq(dmk_stats_find_proc(s, getppid()), 0);
	cr_assert_eq(dmk_stats_memory(s, &m), 0);
	cr_assert_eq(m.meminfo_err, 0);
	cr_assert_neq(m.total, DMK_STATS_UNKNOWN);
	cr_assert_neq(m.available, DMK_STATS_UNKNOWN);
	cr_assert_leq(m.available, m.total);
	if (access("/proc/pressure/memory", R_OK) == 0) {
		cr_assert_eq(m.psi_err, 0);
		cr_assert(m.psi_some_valid);
	} else {
		cr_assert_lt(m.psi_err, 0);
	}
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	if (access("/sys/kernel/dmabuf/buffers", R_OK) == 0)
		cr_assert_eq(h.source, DMK_STATS_SRC_SYSFS);
	else if (h.source == DMK_STATS_SRC_NONE)
		cr_assert_lt(h.err, 0);
	dmk_stats_snapshot_free(s);
}

/* ---- the kernel's own dma-buf list ---- */

static bool heap_has(const struct dmk_stats_snapshot *s, const char *exp,
		     uint64_t at_least)
{
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	size_t i;

	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	for (i = 0; i < h.nexporters; i++) {
		struct dmk_stats_heap_info hi = { .sz = sizeof(hi) };

		cr_assert_eq(dmk_stats_heap(s, i, &hi), 0);
		if (!strcmp(hi.exporter, exp))
			return hi.nbufs >= 1 && hi.bytes >= at_least;
	}
	return false;
}

DMK_TEST(stats, heap_totals_from_sysfs)
{
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_snapshot *s;
	char name[32];
	int fd;

	dmk_test_require_backend("system");
	dmk_test_require(access("/sys/kernel/dmabuf/buffers", R_OK) == 0,
			 "no /sys/kernel/dmabuf/buffers (kernel without "
			 "CONFIG_DMABUF_SYSFS_STATS)");
	fd = make_buffer("system", 2 * MIB, "sysfs", name, sizeof(name));
	s = snap();
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_SYSFS);
	cr_assert_eq(h.err, 0);
	cr_assert_geq(h.bytes, 2 * MIB);
	cr_assert(heap_has(s, "system", 2 * MIB));
	dmk_stats_snapshot_free(s);
	close(fd);
}

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmpdir_make(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dmk-stats-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void tmpdir_remove(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

DMK_TEST(stats, heap_totals_from_debugfs)
{
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	DMK_OPTS(dmk_stats_opts, o);
	struct dmk_stats_snapshot *s;
	char name[32], sys[128], link[128];
	int fd;

	dmk_test_require_backend("system");
	dmk_test_require(access("/sys/kernel/debug/dma_buf/bufinfo", R_OK) == 0,
			 "no readable /sys/kernel/debug/dma_buf/bufinfo "
			 "(needs root and debugfs)");
	/* Force the debugfs path on the real debugfs: a sysfs root that
	 * has it but no kernel/dmabuf. */
	tmpdir_make();
	snprintf(sys, sizeof(sys), "%s/kernel", tmpdir);
	cr_assert_eq(mkdir(sys, 0755), 0);
	snprintf(link, sizeof(link), "%s/kernel/debug", tmpdir);
	cr_assert_eq(symlink("/sys/kernel/debug", link), 0);
	o.sys_root = tmpdir;
	fd = make_buffer("system", 3 * MIB, "debugfs", name, sizeof(name));
	s = snap_opts(&o);
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_DEBUGFS, "source %d err %d",
		     h.source, h.err);
	cr_assert_geq(h.bytes, 3 * MIB);
	cr_assert(heap_has(s, "system", 3 * MIB));
	dmk_stats_snapshot_free(s);
	close(fd);
	tmpdir_remove();
}

/* ---- who may not be read ---- */

/*
 * As uid nobody, a root process cannot be read: it must be listed, not
 * dropped, with the reason.  Returns a test-private exit code.
 */
static int scan_as_nobody(pid_t target)
{
	struct dmk_stats_snapshot *s = NULL;
	struct dmk_stats_proc_info pi = { .sz = sizeof(pi) };
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	DMK_OPTS(dmk_stats_opts, one, .pid = target);
	int k;

	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 30;
	if (dmk_stats_snapshot_new(NULL, &s))
		return 31;
	k = dmk_stats_find_proc(s, target);
	if (k < 0 || dmk_stats_proc(s, (size_t)k, &pi))
		return 32;
	if (pi.readable || pi.err != -EACCES || pi.uid != 0)
		return 33;
	if (dmk_stats_totals(s, &t) || t.nunreadable < 1)
		return 34;
	dmk_stats_snapshot_free(s);
	/* The same when asked for that process alone. */
	if (dmk_stats_snapshot_new(&one, &s) || dmk_stats_nprocs(s) != 1 ||
	    dmk_stats_proc(s, 0, &pi) || pi.readable || pi.err != -EACCES)
		return 35;
	dmk_stats_snapshot_free(s);
	return 0;
}

DMK_TEST(stats, unreadable_processes_are_listed)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		struct dmk_stats_snapshot *s = snap();
		struct dmk_stats_proc_info pi;
		int k = dmk_stats_find_proc(s, 1);

		cr_assert_geq(k, 0, "pid 1 left out");
		pi = proc_info(s, (size_t)k);
		cr_assert(!pi.readable && pi.err < 0);
		dmk_stats_snapshot_free(s);
		return;
	}
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(scan_as_nobody(getppid()));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child as nobody: status %d", status);
}

/* As a user without CAP_SYS_ADMIN, map_files is closed: a mapped-only
 * memfd's size can only be estimated from its mappings. */
static int estimate_as_nobody(void)
{
	DMK_OPTS(dmk_stats_opts, o, .pid = getpid());
	struct dmk_stats_buf_info bi = { .sz = sizeof(bi) };
	struct dmk_stats_snapshot *s;
	long pg = sysconf(_SC_PAGESIZE);
	struct stat st;
	void *m;
	int fd, k;

	if (geteuid() == 0 && (setgroups(0, NULL) || setgid(NOBODY) ||
			       setuid(NOBODY)))
		return 40;
	prctl(PR_SET_DUMPABLE, 1);
	fd = memfd_create("st-estimate", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 5 * pg) || fstat(fd, &st))
		return 41;
	m = mmap(NULL, (size_t)(2 * pg), PROT_READ, MAP_SHARED, fd, pg);
	if (m == MAP_FAILED)
		return 42;
	close(fd);
	if (dmk_stats_snapshot_new(&o, &s))
		return 43;
	k = dmk_stats_find_buf(s, st.st_dev, st.st_ino);
	if (k < 0 || dmk_stats_buf(s, (size_t)k, &bi))
		return 44;
	/* Offset 1 page + 2 pages mapped: at least 3 pages long. */
	if (!(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED) ||
	    bi.size != (uint64_t)(3 * pg) || bi.map_refs != 1 ||
	    strcmp(bi.name, "st-estimate"))
		return 45;
	dmk_stats_snapshot_free(s);
	return 0;
}

DMK_TEST(stats, mapped_only_size_is_estimated_without_privilege)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(estimate_as_nobody());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child: status %d", status);
}

/* ---- options ---- */

DMK_TEST(stats, pid_filter)
{
	DMK_OPTS(dmk_stats_opts, o, .pid = getpid());
	struct dmk_stats_snapshot *s;
	struct dmk_stats_buf_info bi;
	struct peer p;
	char name[32];
	struct ident id;
	pid_t gone;
	int fd, k;

	fd = make_buffer("memfd", MIB, "pid", name, sizeof(name));
	id = ident_of(fd);
	p = peer_start();	/* inherits the fd */
	s = snap_opts(&o);
	check_consistent(s);
	cr_assert_eq(dmk_stats_nprocs(s), 1);
	cr_assert_eq(proc_info(s, 0).pid, getpid());
	k = dmk_stats_find_buf(s, id.dev, id.ino);
	cr_assert_geq(k, 0);
	bi = buf_info(s, (size_t)k);
	/* Only this process was looked at, so it is the only holder. */
	cr_assert_eq(bi.nholders, 1);
	cr_assert_eq(proc_info(s, 0).proportional >= MIB, true);
	dmk_stats_snapshot_free(s);
	gone = p.pid;
	peer_stop(&p);
	close(fd);
	o.pid = gone;
	s = NULL;
	cr_assert_eq(dmk_stats_snapshot_new(&o, &s), -ESRCH);
	cr_assert_null(s);
}

DMK_TEST(stats, flags_leave_out_maps_and_memfds)
{
	DMK_OPTS(dmk_stats_opts, nomaps, .flags = DMK_STATS_NO_MAPS);
	DMK_OPTS(dmk_stats_opts, nomemfd, .flags = DMK_STATS_NO_MEMFD);
	struct dmk_stats_snapshot *s;
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	struct ident a, b;
	char name[32];
	void *m;
	int fd, fd2, k;

	fd = make_buffer("memfd", MIB, "flags", name, sizeof(name));
	fd2 = make_buffer("memfd", MIB, "flags2", name, sizeof(name));
	a = ident_of(fd);
	b = ident_of(fd2);
	m = mmap(NULL, MIB, PROT_READ, MAP_SHARED, fd2, 0);
	cr_assert_neq(m, MAP_FAILED);
	close(fd2);

	s = snap_opts(&nomaps);
	check_consistent(s);
	k = dmk_stats_find_buf(s, a.dev, a.ino);
	cr_assert_geq(k, 0);
	cr_assert_eq(buf_info(s, (size_t)k).map_refs, 0);
	cr_assert_eq(dmk_stats_find_buf(s, b.dev, b.ino), -ENOENT,
		     "a mapped-only buffer without reading maps");
	dmk_stats_snapshot_free(s);

	s = snap_opts(&nomemfd);
	check_consistent(s);
	cr_assert_eq(dmk_stats_find_buf(s, a.dev, a.ino), -ENOENT);
	cr_assert_eq(dmk_stats_find_buf(s, b.dev, b.ino), -ENOENT);
	cr_assert_eq(dmk_stats_totals(s, &t), 0);
	cr_assert_eq(t.nmemfds, 0);
	cr_assert_eq(t.memfd_bytes, 0);
	dmk_stats_snapshot_free(s);
	munmap(m, MIB);
	close(fd);
}

DMK_TEST(stats, bad_opts_and_indices)
{
	struct {
		struct dmk_stats_opts o;
		char tail[8];
	} big;
	DMK_OPTS(dmk_stats_opts, bad_flags, .flags = 1u << 31);
	DMK_OPTS(dmk_stats_opts, empty_root, .proc_root = "");
	DMK_OPTS(dmk_stats_opts, no_root, .proc_root = "/nonexistent/proc");
	DMK_OPTS(dmk_stats_opts, neg_pid, .pid = -1);
	struct dmk_stats_snapshot *s = NULL;
	struct dmk_stats_buf_info bi = { .sz = sizeof(bi) };
	struct dmk_stats_proc_info pi = { .sz = 0 };
	struct dmk_stats_totals t;

	cr_assert_eq(dmk_stats_snapshot_new(NULL, NULL), -EINVAL);
	cr_assert_eq(dmk_stats_snapshot_new(&bad_flags, &s), -EINVAL);
	cr_assert_eq(dmk_stats_snapshot_new(&empty_root, &s), -EINVAL);
	cr_assert_eq(dmk_stats_snapshot_new(&no_root, &s), -ENOENT);
	cr_assert_eq(dmk_stats_snapshot_new(&neg_pid, &s), -EINVAL);
	/* A newer caller's field this library does not know, set. */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.tail[3] = 1;
	cr_assert_eq(dmk_stats_snapshot_new(&big.o, &s), -EINVAL);
	cr_assert_null(s);
	/* ... and left zero, fine. */
	big.tail[3] = 0;
	cr_assert_eq(dmk_stats_snapshot_new(&big.o, &s), 0);

	cr_assert_eq(dmk_stats_buf(s, dmk_stats_nbufs(s), &bi), -EINVAL);
	cr_assert_eq(dmk_stats_holder(s, dmk_stats_nbufs(s), 0, NULL),
		     -EINVAL);
	cr_assert_eq(dmk_stats_proc(s, 0, &pi), -EINVAL);	/* sz 0 */
	cr_assert_eq(dmk_stats_proc(s, dmk_stats_nprocs(s), &pi), -EINVAL);
	cr_assert_eq(dmk_stats_heap(s, 1000000, NULL), -EINVAL);
	cr_assert_eq(dmk_stats_find_proc(s, 0), -ENOENT);
	/* An older caller's smaller struct is written up to its size. */
	memset(&t, 0xa5, sizeof(t));
	t.sz = offsetof(struct dmk_stats_totals, nmemfds);
	cr_assert_eq(dmk_stats_totals(s, &t), 0);
	cr_assert_eq(t.nmemfds, 0xa5a5a5a5u, "wrote past the caller's sz");
	cr_assert_eq(t.sz, offsetof(struct dmk_stats_totals, nmemfds));
	dmk_stats_snapshot_free(s);
	dmk_stats_snapshot_free(NULL);
	cr_assert_eq(dmk_stats_nbufs(NULL), 0);
}

/* ---- parsers, on a fake tree (edge cases only) ---- */

static void fake_put(const char *rel, const char *content)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (slash = strchr(path + strlen(tmpdir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (!content) {
		cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
		return;
	}
	f = fopen(path, "we");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
}

static void fake_link(const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

static struct dmk_stats_snapshot *fake_snap(void)
{
	char proc[128], sys[128];
	DMK_OPTS(dmk_stats_opts, o, .proc_root = proc, .sys_root = sys);

	snprintf(proc, sizeof(proc), "%s/proc", tmpdir);
	snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
	return snap_opts(&o);
}

static const char fake_maps[] =
	"7f0000000000-7f0000002000 rw-s 00001000 00:01 4242"
	"                       /memfd:frame a (deleted)\n"
	"7f0000004000-7f0000005000 r--s 00000000 00:01 4242"
	"                       /memfd:frame a (deleted)\n"
	"7f0000010000-7f0000014000 rw-s 00000000 00:0e 5001"
	"                       /dmabuf:cam0\n"
	"garbage line here\n"
	"\n"
	"fffffffffffffffffff-0 rw-s 0 00:01 1 /memfd:huge (deleted)\n"
	"7f0000020000-7f0000010000 rw-s 00000000 00:01 4343"
	" /memfd:backwards (deleted)\n"
	"7f0000030000-7f0000031000 rw-p 00000000 00:00 0 \n"
	"7f0000040000-7f0000041000 r-xp 00000000 08:01 131"
	"    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f0000050000-7f0000051000 rw-s 00000000 00:01 "
	"99999999999999999999 /memfd:bigino (deleted)\n"
	"7f0000060000-7f0000061000 rw-s 00000000 00:01 4444\n"
	"7f0000070000-7f0000071000 rw-s 00000000 zz:01 4545 /memfd:x\n"
	"7f0000080000-7f0000081000 rw-s 00000000 00:01 4646 /memfd:no-nl";

static void fake_proc_tree(void)
{
	fake_put("proc/meminfo",
		 "MemTotal:       16000000 kB\n"
		 "MemFree:        garbage kB\n"
		 "MemAvailable:   99999999999999999999 kB\n"
		 "Shmem:          18014398509481984 kB\n"
		 "this line is garbage\n"
		 ":\n"
		 "CmaTotal:          65536 kB\n"
		 "CmaFree:              12 MB\n");
	fake_put("proc/pressure/memory",
		 "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
		 "full avg10=abc avg60=0.00 avg300=0.00 total=1\n");
	fake_put("proc/100/comm", "fakeproc\n");
	fake_put("proc/100/fd", NULL);
	/* An fd closed under us: its link no longer resolves. */
	fake_link("proc/100/fd/3", "/memfd:gone (deleted)");
	fake_link("proc/100/fd/4", "pipe:[123]");
	fake_put("proc/100/fd/x", "not an fd");
	fake_put("proc/100/maps", fake_maps);
	/* 101 exited while being read: no fd directory any more. */
	fake_put("proc/101/comm", "gone\n");
	/* 102's fd "directory" cannot be listed. */
	fake_put("proc/102/comm", "noread\n");
	fake_put("proc/102/fd", "not a directory");
	fake_put("proc/102/maps", "");
	fake_put("proc/abc/comm", "not a pid\n");
	fake_link("proc/self", "100");
}

DMK_TEST(stats, fake_maps_meminfo_psi_sysfs)
{
	struct dmk_stats_memory m = { .sz = sizeof(m) };
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_heap_info hi = { .sz = sizeof(hi) };
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	struct dmk_stats_snapshot *s;
	struct dmk_stats_buf_info bi;
	struct dmk_stats_proc_info pi;
	int k;

	tmpdir_make();
	fake_proc_tree();
	fake_put("sys/kernel/dmabuf/buffers/5001/size", "1048576\n");
	fake_put("sys/kernel/dmabuf/buffers/5001/exporter_name", "system\n");
	fake_put("sys/kernel/dmabuf/buffers/5002/size", "garbage\n");
	fake_put("sys/kernel/dmabuf/buffers/5002/exporter_name", "system\n");
	fake_put("sys/kernel/dmabuf/buffers/5003/size",
		 "99999999999999999999\n");
	fake_put("sys/kernel/dmabuf/buffers/5003/exporter_name", "x\n");
	fake_put("sys/kernel/dmabuf/buffers/5004/size", "4096\n");
	fake_put("sys/kernel/dmabuf/buffers/5004/exporter_name", "udmabuf\n");
	fake_put("sys/kernel/dmabuf/buffers/5005/size", "4096\n");
	fake_put("sys/kernel/dmabuf/buffers/notanumber/size", "4096\n");
	s = fake_snap();
	check_consistent(s);

	/* Processes: 100 and 102 (listed, unreadable); 101 is gone. */
	cr_assert_eq(dmk_stats_nprocs(s), 2);
	cr_assert_eq(dmk_stats_find_proc(s, 101), -ENOENT);
	k = dmk_stats_find_proc(s, 102);
	cr_assert_geq(k, 0);
	pi = proc_info(s, (size_t)k);
	cr_assert(!pi.readable);
	cr_assert_eq(pi.err, -ENOTDIR);
	cr_assert_str_eq(pi.comm, "noread");
	k = dmk_stats_find_proc(s, 100);
	pi = proc_info(s, (size_t)k);
	cr_assert(pi.readable);
	cr_assert_str_eq(pi.comm, "fakeproc");
	cr_assert_eq(pi.nbufs, 3);
	cr_assert_eq(pi.map_refs, 4);
	cr_assert_eq(pi.fd_refs, 0);

	/* The memfd mapped twice: size from the furthest mapping end
	 * (offset 0x1000 + 0x2000), estimated as map_files is absent. */
	cr_assert_eq(dmk_stats_nbufs(s), 3);
	k = dmk_stats_find_buf(s, makedev(0, 1), 4242);
	cr_assert_geq(k, 0);
	bi = buf_info(s, (size_t)k);
	cr_assert_eq(bi.kind, DMK_STATS_MEMFD);
	cr_assert_str_eq(bi.name, "frame a");
	cr_assert_eq(bi.size, 0x3000);
	cr_assert(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED);
	cr_assert_eq(bi.map_refs, 2);
	/* The last line, without a newline, still counts. */
	k = dmk_stats_find_buf(s, makedev(0, 1), 4646);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(buf_info(s, (size_t)k).name, "no-nl");
	/* The dma-buf mapped once, completed from sysfs. */
	k = dmk_stats_find_buf(s, makedev(0, 0xe), 5001);
	cr_assert_geq(k, 0);
	bi = buf_info(s, (size_t)k);
	cr_assert_eq(bi.kind, DMK_STATS_DMABUF);
	cr_assert_str_eq(bi.name, "cam0");
	cr_assert_str_eq(bi.exporter, "system");
	cr_assert_eq(bi.size, MIB);
	cr_assert_eq(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED, 0);
	cr_assert_eq(bi.kcount, -1, "sysfs has no count");

	cr_assert_eq(dmk_stats_totals(s, &t), 0);
	cr_assert_eq(t.nprocs, 2);
	cr_assert_eq(t.nunreadable, 1);
	cr_assert_eq(t.nholding, 1);
	cr_assert_eq(t.bytes, 0x3000 + 0x1000 + MIB);

	/* Heap totals: the garbage sizes and the half-made entry are out. */
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_SYSFS);
	cr_assert_eq(h.nbufs, 2);
	cr_assert_eq(h.bytes, MIB + 4096);
	cr_assert_eq(h.nexporters, 2);
	cr_assert_eq(dmk_stats_heap(s, 0, &hi), 0);
	cr_assert_str_eq(hi.exporter, "system");
	cr_assert_eq(hi.bytes, MIB);
	cr_assert_eq(dmk_stats_heap(s, 1, &hi), 0);
	cr_assert_str_eq(hi.exporter, "udmabuf");
	cr_assert_eq(hi.nbufs, 1);

	/* meminfo: good fields read, bad ones unknown, never garbage. */
	cr_assert_eq(dmk_stats_memory(s, &m), 0);
	cr_assert_eq(m.meminfo_err, 0);
	cr_assert_eq(m.total, 16000000ull * 1024);
	cr_assert_eq(m.free, DMK_STATS_UNKNOWN);
	cr_assert_eq(m.available, DMK_STATS_UNKNOWN);
	cr_assert_eq(m.shmem, DMK_STATS_UNKNOWN, "kB * 1024 overflows");
	cr_assert_eq(m.cma_total, 65536ull * 1024);
	cr_assert_eq(m.cma_free, DMK_STATS_UNKNOWN, "not in kB");
	/* PSI: the good line read, the bad one not. */
	cr_assert_eq(m.psi_err, 0);
	cr_assert(m.psi_some_valid);
	cr_assert(!m.psi_full_valid);
	cr_assert_float_eq(m.psi_some.avg10, 1.5, 1e-9);
	cr_assert_float_eq(m.psi_some.avg60, 0.25, 1e-9);
	cr_assert_float_eq(m.psi_some.avg300, 0.0, 1e-9);
	cr_assert_eq(m.psi_some.total_us, 123456);
	dmk_stats_snapshot_free(s);
	tmpdir_remove();
}

DMK_TEST(stats, fake_debugfs_bufinfo)
{
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_heap_info hi = { .sz = sizeof(hi) };
	struct dmk_stats_snapshot *s;
	struct dmk_stats_buf_info bi;
	int k;

	tmpdir_make();
	fake_proc_tree();
	/* 6.1's format, with fence and attachment lines and junk. */
	fake_put("sys/kernel/debug/dma_buf/bufinfo",
		 "\nDma-buf Objects:\n"
		 "size    \tflags   \tmode    \tcount   \texp_name\tino     "
		 "\tname\n"
		 "00016384\t00000002\t00080007\t00000003\tsystem\t00005001"
		 "\tcam0\n"
		 "\tExclusive fence: dma_fence_array signalled\n"
		 "\tAttached Devices:\n"
		 "Total 0 devices attached\n\n"
		 "garbage\tline\n"
		 "99999999999999999999999\t0\t0\t1\tsystem\t00005009\t<none>\n"
		 "00004096\t00000002\t00080007\t00000001\tudmabuf\t00005002"
		 "\t<none>\n"
		 "00004096\t00000002\t00080007\tnotanumber\tvgem\t00005003"
		 "\tx\n"
		 "00004096\t00000002\n"
		 "\nTotal 3 objects, 24576 bytes\n");
	s = fake_snap();
	check_consistent(s);
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_DEBUGFS);
	cr_assert_eq(h.nbufs, 3);
	cr_assert_eq(h.bytes, 16384 + 4096 + 4096);
	cr_assert_eq(h.nexporters, 3);
	cr_assert_eq(dmk_stats_heap(s, 2, &hi), 0);
	cr_assert_str_eq(hi.exporter, "vgem");
	/* The mapped-only dma-buf learns size and count from debugfs. */
	k = dmk_stats_find_buf(s, makedev(0, 0xe), 5001);
	cr_assert_geq(k, 0);
	bi = buf_info(s, (size_t)k);
	cr_assert_eq(bi.size, 16384);
	cr_assert_eq(bi.kcount, 3);
	cr_assert_str_eq(bi.exporter, "system");
	cr_assert_eq(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED, 0);
	dmk_stats_snapshot_free(s);

	/* No header: not a list we understand. */
	fake_put("sys/kernel/debug/dma_buf/bufinfo", "00004096\tjunk\n");
	s = fake_snap();
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_NONE);
	cr_assert_eq(h.err, -EPROTO);
	cr_assert_eq(h.nbufs, 0);
	k = dmk_stats_find_buf(s, makedev(0, 0xe), 5001);
	bi = buf_info(s, (size_t)k);
	cr_assert(bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED);
	cr_assert_eq(bi.size, 0x4000, "the mapping's length");
	cr_assert_str_eq(bi.exporter, "");
	dmk_stats_snapshot_free(s);
	tmpdir_remove();
}

DMK_TEST(stats, fake_tree_without_anything)
{
	struct dmk_stats_memory m = { .sz = sizeof(m) };
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_snapshot *s;

	tmpdir_make();
	fake_put("proc/7/comm", "lonely\n");
	fake_put("proc/7/fd", NULL);
	fake_put("proc/7/maps", "");
	fake_put("proc/pressure/memory", "some avg10=1.00\n");
	fake_put("sys", NULL);
	s = fake_snap();
	check_consistent(s);
	cr_assert_eq(dmk_stats_nprocs(s), 1);
	cr_assert_eq(dmk_stats_nbufs(s), 0);
	cr_assert_eq(dmk_stats_heaps(s, &h), 0);
	cr_assert_eq(h.source, DMK_STATS_SRC_NONE);
	cr_assert_eq(h.err, -ENOENT);
	cr_assert_eq(dmk_stats_memory(s, &m), 0);
	cr_assert_eq(m.meminfo_err, -ENOENT);
	cr_assert_eq(m.total, DMK_STATS_UNKNOWN);
	cr_assert_eq(m.psi_err, -EPROTO, "a PSI line missing its fields");
	cr_assert(!m.psi_some_valid);
	dmk_stats_snapshot_free(s);
	tmpdir_remove();
}

/* fdinfo is read only for an fd that resolves to a real dma-buf, which a
 * fake tree cannot make: its parser gets the bad input directly. */
DMK_TEST(stats, fdinfo_parser_edge_cases)
{
	struct dmk__fdinfo fi;
	char longname[600];

	dmk__stats_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t15\n"
				"ino:\t1234\nsize:\t4194304\ncount:\t3\n"
				"exp_name:\tsystem\nname:\tcam 0 frame\n", &fi);
	cr_assert(fi.have_size && fi.size == 4194304);
	cr_assert(fi.have_count && fi.count == 3);
	cr_assert(fi.have_ino && fi.ino == 1234);
	cr_assert(fi.have_exp_name);
	cr_assert_str_eq(fi.exp_name, "system");
	cr_assert(fi.have_name);
	cr_assert_str_eq(fi.name, "cam 0 frame");

	/* Missing fields (older kernels: no ino; unnamed: no name). */
	dmk__stats_parse_fdinfo("pos:\t0\nsize:\t8192\n", &fi);
	cr_assert(fi.have_size && !fi.have_count && !fi.have_ino &&
		  !fi.have_exp_name && !fi.have_name);

	/* Huge and bad numbers are not numbers. */
	dmk__stats_parse_fdinfo("size:\t99999999999999999999999\n"
				"count:\t18446744073709551615\n"
				"ino:\t12abc\n", &fi);
	cr_assert(!fi.have_size && !fi.have_count && !fi.have_ino);
	dmk__stats_parse_fdinfo("size:\t18446744073709551615\ncount:\t-1\n",
				&fi);
	cr_assert(fi.have_size && fi.size == UINT64_MAX);
	cr_assert(!fi.have_count);

	/* Garbage lines, look-alike keys, no final newline. */
	dmk__stats_parse_fdinfo("\n\n::::\nsizes:\t5\nsize\t6\nxsize:\t7\n"
				"\x01\x02\xff\nexp_name:\n"
				"count:\t2", &fi);
	cr_assert(!fi.have_size);
	cr_assert(fi.have_count && fi.count == 2);
	cr_assert(fi.have_exp_name);
	cr_assert_str_eq(fi.exp_name, "");

	/* A name longer than any is cut, not overflowed. */
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "name:\t", 6);
	longname[sizeof(longname) - 1] = '\0';
	dmk__stats_parse_fdinfo(longname, &fi);
	cr_assert(fi.have_name);
	cr_assert_lt(strlen(fi.name), sizeof(fi.name));
	cr_assert_gt(strlen(fi.name), 200);
	cr_assert_eq(strspn(fi.name, "n"), strlen(fi.name));
	dmk__stats_parse_fdinfo("", &fi);
	cr_assert(!fi.have_size && !fi.have_name);
}

DMK_TEST(stats, maps_parser_edge_cases)
{
	struct dmk__maps_line ml;

	cr_assert_eq(dmk__stats_parse_maps_line(
		"7f12a000-7f12c000 rw-s 00002000 00:01 635 "
		"   /memfd:with space (deleted) (deleted)", &ml), 0);
	cr_assert_eq(ml.start, 0x7f12a000);
	cr_assert_eq(ml.end, 0x7f12c000);
	cr_assert_eq(ml.offset, 0x2000);
	cr_assert_eq(ml.major, 0);
	cr_assert_eq(ml.minor, 1);
	cr_assert_eq(ml.ino, 635);
	cr_assert_str_eq(ml.path, "/memfd:with space (deleted) (deleted)");

	cr_assert_eq(dmk__stats_parse_maps_line(
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
		"                  [vsyscall]", &ml), 0);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"00400000-00401000 r--p 00000000 fd:1a3 18446744073709551615",
		&ml), 0);
	cr_assert_eq(ml.minor, 0x1a3);
	cr_assert_eq(ml.ino, UINT64_MAX);
	cr_assert_str_eq(ml.path, "");

	cr_assert_eq(dmk__stats_parse_maps_line("", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line("garbage", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"10000000000000000-0 rw-s 0 0:0 0", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"2000-1000 rw-s 0 0:0 0", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"1000-2000 rw-sx 0 0:0 0", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"1000-2000 rw-s 0 0:0 18446744073709551616", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"1000-2000 rw-s 0 100000000:0 1", &ml), -EINVAL);
	cr_assert_eq(dmk__stats_parse_maps_line(
		"1000-2000 rw-s 0 0:0 12x /memfd:a", &ml), -EINVAL);
}

/* ---- GPU memory ----
 *
 * Under LeakSanitizer the lavapipe test reports the 128-byte block the
 * driver keeps in a global and loses when the loader unloads it at
 * vkDestroyInstance() (see test_vkhost.c); it is not ours.
 */

DMK_TEST(stats, gpu_lavapipe_is_unified)
{
	struct dmk_stats_gpu_info gi = { .sz = sizeof(gi) };
	struct dmk_stats_gpu_heap_info hi = { .sz = sizeof(hi) };
	struct dmk_stats_gpu *g = NULL;
	uint64_t sum;
	size_t i, j;
	bool cpu = false;
	int ret;

	ret = dmk_stats_gpu_new(0, &g);
	dmk_test_require(ret == 0 ? 1 : ret == -ENODEV ? 0 : ret,
			 "no Vulkan device (install mesa-vulkan-drivers "
			 "for lavapipe)");
	cr_assert_geq(dmk_stats_gpu_ndevs(g), 1);
	for (i = 0; i < dmk_stats_gpu_ndevs(g); i++) {
		cr_assert_eq(dmk_stats_gpu_dev(g, i, &gi), 0);
		cr_assert_gt(strlen(gi.name), 0);
		cr_assert_geq(gi.nheaps, 1);
		cr_assert_not_null(gi.reason);
		sum = 0;
		for (j = 0; j < gi.nheaps; j++) {
			cr_assert_eq(dmk_stats_gpu_heap(g, i, j, &hi), 0);
			sum += hi.size;
		}
		cr_assert_eq(dmk_stats_gpu_heap(g, i, gi.nheaps, &hi),
			     -EINVAL);
		cr_assert_eq(gi.system_bytes + gi.device_bytes, sum);
		if (gi.type == DMK_STATS_GPU_CPU) {
			/* lavapipe: one device-local, host-visible heap
			 * that is system memory. */
			cpu = true;
			cr_assert(gi.unified);
			cr_assert_eq(gi.device_bytes, 0);
			cr_assert_eq(gi.system_bytes, sum);
			cr_assert_eq(dmk_stats_gpu_heap(g, i, 0, &hi), 0);
			cr_assert(hi.device_local && hi.host_visible);
		}
		if (gi.type == DMK_STATS_GPU_DISCRETE)
			cr_assert(!gi.unified && gi.device_bytes > 0);
	}
	cr_assert(cpu, "no CPU device (lavapipe) among the Vulkan devices");
	cr_assert_eq(dmk_stats_gpu_dev(g, i, &gi), -EINVAL);
	dmk_stats_gpu_free(g);
	/* The instance is gone: DMK_TEST checks no fd stayed open. */
}

DMK_TEST(stats, gpu_without_driver_is_enodev)
{
	struct dmk_stats_gpu *g = NULL;

	/* Force the no-device path: a loader that finds no driver. */
	setenv("VK_DRIVER_FILES", "/nonexistent/dmk_icd.json", 1);
	setenv("VK_ICD_FILENAMES", "/nonexistent/dmk_icd.json", 1);
	cr_assert_eq(dmk_stats_gpu_new(0, &g), -ENODEV);
	cr_assert_null(g);
	cr_assert_eq(dmk_stats_gpu_new(1, &g), -EINVAL);
	cr_assert_eq(dmk_stats_gpu_new(0, NULL), -EINVAL);
	dmk_stats_gpu_free(NULL);
	cr_assert_eq(dmk_stats_gpu_ndevs(NULL), 0);
}
