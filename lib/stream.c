// SPDX-License-Identifier: MIT
/*
 * Streams: chunked io_uring I/O between files and buffers.
 *
 * A request (file range <-> memory range) waits on the `pending` list until
 * chunk slots are free; each slot is one SQE in the kernel.  A chunk is
 * (re)issued on the fastest path its current offset, length and memory
 * allow, so the remainder of a short O_DIRECT read at an unaligned end of
 * file simply goes buffered.  When a chunk completes its slot refills from
 * the pending list; when a request has nothing in flight and nothing left
 * to queue it moves to the `done` list, which reap/wait empty.
 *
 * The sync path (no io_uring) does each request inside dmk_stream_submit()
 * with pread()/pwrite() and puts it straight on the done list.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "stream_internal.h"
#include "sys.h"

#define DEFAULT_DEPTH 8
#define DEFAULT_REQUESTS 256
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_SQPOLL_IDLE_MS 100
#define MAX_RETRIES 64			/* EINTR/EAGAIN resubmissions */
#define REG_BUF_MAX (1ull << 30)	/* the kernel's limit per buffer */
#define MAX_ENTRIES 32768		/* IORING_MAX_ENTRIES */
/* Chunk user_data: generation << 32 | (slot + 1); 0 marks cancel SQEs. */
#define UD_CANCEL 0

struct list {
	struct list *prev, *next;
};

static void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static bool list_empty(const struct list *l)
{
	return l->next == l;
}

static void list_add_tail(struct list *n, struct list *head)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

#define list_entry(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

enum req_state { REQ_FREE, REQ_ACTIVE, REQ_DONE };
enum req_where { ON_NONE, ON_FREE, ON_PENDING, ON_DONE };

struct sreq {
	struct list link;	/* free, pending or done list */
	enum req_state state;
	enum req_where where;
	unsigned int op;
	unsigned int file;
	bool pinnable;		/* O_DIRECT may pin this memory */
	bool cancelled;
	struct dmk_buf *synced;	/* CPU-access bracket taken on it */
	char *addr;
	uint64_t file_off, len;
	uint64_t queued;	/* bytes handed to chunks */
	uint64_t eof;		/* reads: bytes before the end of file seen */
	uint32_t inflight;	/* chunks in the kernel */
	int err;
	uint64_t err_off;
	uint64_t tag;
	int64_t res;
};

struct chunk {
	struct sreq *req;	/* NULL: free */
	char *addr;
	uint64_t file_off;
	uint32_t len, done;
	uint32_t gen;		/* bumped per issue: cancels hit this one */
	int next_free;
	int buf_index;		/* registered buffer, -1 none */
	uint16_t retries;
	uint8_t path;
};

struct sfile {
	bool used;
	unsigned int flags;	/* DMK_STREAM_READ / WRITE */
	int fd;			/* buffered */
	int dfd;		/* O_DIRECT, -1 none */
	int slot, dslot;	/* registered file indices, -1 none */
	uint32_t mem_align, off_align;
	/*
	 * Reads: the end of the file's last whole direct-I/O block, as last
	 * seen.  O_DIRECT reads stop there: a direct read of the block that
	 * holds the end of the file would write the whole block into the
	 * caller's memory, past the bytes it returns.
	 */
	uint64_t direct_end;
	bool direct_off;	/* turned off after a failure */
	char direct_why[192];
	char why[640];		/* dmk_stream_path()'s line */
};

struct regbuf {
	uintptr_t start;
	uint64_t len;
};

struct dmk_stream {
	unsigned int flags;
	bool uring;
	struct io_uring ring;
	unsigned int depth, max_requests;
	uint64_t chunk_size;
	bool files_registered;
	bool fixed_off;		/* turned off after a failure */
	unsigned int unsubmitted;	/* SQEs prepared, not yet entered */
	char uring_why[192];
	char files_why[128];
	char fixed_why[192];
	struct sfile files[DMK_STREAM_MAX_FILES];
	struct chunk *chunks;
	int free_chunk;
	unsigned int inflight;
	struct sreq *reqs;
	struct list free_reqs, pending, done;
	struct regbuf *reg;
	unsigned int nreg;
	struct dmk_stream_stats st;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err < 0 ? -err : err);

	return n ? n : "unknown error";
}

static const char *fmt_bytes(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ull << 20) && !(v & ((1ull << 20) - 1)))
		snprintf(buf, len, "%" PRIu64 " MiB", v >> 20);
	else if (v >= 1024 && !(v & 1023))
		snprintf(buf, len, "%" PRIu64 " KiB", v >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " B", v);
	return buf;
}

DMK_API const char *dmk_stream_path_name(int path)
{
	switch (path) {
	case DMK_STREAM_PATH_FIXED_DIRECT:
		return "fixed+direct";
	case DMK_STREAM_PATH_DIRECT:
		return "direct";
	case DMK_STREAM_PATH_FIXED:
		return "fixed";
	case DMK_STREAM_PATH_BUFFERED:
		return "buffered";
	case DMK_STREAM_PATH_SYNC:
		return "sync";
	}
	return "none";
}

static bool file_direct(const struct sfile *f)
{
	return f->dfd >= 0 && !f->direct_off;
}

static bool stream_fixed(const struct dmk_stream *s)
{
	return s->nreg > 0 && !s->fixed_off;
}

static int file_best_path(const struct dmk_stream *s, const struct sfile *f)
{
	bool direct = file_direct(f), fixed = stream_fixed(s);

	if (!s->uring)
		return DMK_STREAM_PATH_SYNC;
	if (direct)
		return fixed ? DMK_STREAM_PATH_FIXED_DIRECT :
			       DMK_STREAM_PATH_DIRECT;
	return fixed ? DMK_STREAM_PATH_FIXED : DMK_STREAM_PATH_BUFFERED;
}

/* Rebuild every file's dmk_stream_path() line. */
static void update_why(struct dmk_stream *s)
{
	char cs[32];
	unsigned int i;

	for (i = 0; i < DMK_STREAM_MAX_FILES; i++) {
		struct sfile *f = &s->files[i];
		size_t n = sizeof(f->why);
		char *w = f->why;
		int k;

		if (!f->used)
			continue;
		if (!s->uring) {
			snprintf(w, n, "sync: pread/pwrite through the page "
				 "cache (%s)", s->uring_why);
			continue;
		}
		k = snprintf(w, n, "io_uring (depth %u, chunk %s%s); ",
			     s->depth, fmt_bytes(s->chunk_size, cs, sizeof(cs)),
			     (s->flags & DMK_STREAM_SQPOLL) ? ", sqpoll" : "");
		if (k < 0 || (size_t)k >= n)
			continue;
		if (file_direct(f))
			k += snprintf(w + k, n - (size_t)k,
				      "O_DIRECT (memory %u B / offset %u B "
				      "aligned, %s); ", f->mem_align,
				      f->off_align, f->direct_why);
		else
			k += snprintf(w + k, n - (size_t)k,
				      "no O_DIRECT (%s); ", f->direct_why);
		if ((size_t)k >= n)
			continue;
		if (stream_fixed(s))
			k += snprintf(w + k, n - (size_t)k,
				      "%u registered buffers; ", s->nreg);
		else
			k += snprintf(w + k, n - (size_t)k,
				      "no registered buffers (%s); ",
				      s->fixed_why);
		if ((size_t)k >= n)
			continue;
		snprintf(w + k, n - (size_t)k, "%s", s->files_why);
	}
}

/* ---- setup ---- */

static void ring_setup(struct dmk_stream *s, unsigned int idle_ms)
{
	struct io_uring_params p;
	struct io_uring_probe *probe;
	unsigned int entries = s->depth * 2;
	int fds[2 * DMK_STREAM_MAX_FILES];
	unsigned int i;
	int ret;

	if (s->flags & DMK_STREAM_NO_URING) {
		snprintf(s->uring_why, sizeof(s->uring_why),
			 "io_uring turned off by the caller");
		return;
	}
	if (entries > MAX_ENTRIES)
		entries = MAX_ENTRIES;
	memset(&p, 0, sizeof(p));
	if (s->flags & DMK_STREAM_SQPOLL) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = idle_ms;
	}
	ret = io_uring_queue_init_params(entries, &s->ring, &p);
	if (ret < 0 && (s->flags & DMK_STREAM_SQPOLL)) {
		pr_info("stream: SQPOLL refused (%s), plain ring",
			errname(ret));
		s->flags &= ~DMK_STREAM_SQPOLL;
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, &s->ring, &p);
	}
	if (ret < 0) {
		snprintf(s->uring_why, sizeof(s->uring_why),
			 "io_uring_setup: %s%s", errname(ret),
			 ret == -ENOSYS ? ", kernel without io_uring" :
			 ret == -EPERM ? ", disabled (sysctl "
			 "kernel.io_uring_disabled, seccomp or LSM)" :
			 ret == -ENOMEM ? ", out of locked memory" : "");
		pr_info("stream: %s; using pread/pwrite", s->uring_why);
		return;
	}
	/* IORING_OP_READ/WRITE are 5.6, as is the probe itself. */
	probe = io_uring_get_probe_ring(&s->ring);
	if (!probe || !io_uring_opcode_supported(probe, IORING_OP_READ) ||
	    !io_uring_opcode_supported(probe, IORING_OP_WRITE) ||
	    !io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL)) {
		snprintf(s->uring_why, sizeof(s->uring_why),
			 "io_uring without IORING_OP_READ/WRITE (before 5.6)");
		if (probe)
			io_uring_free_probe(probe);
		io_uring_queue_exit(&s->ring);
		return;
	}
	io_uring_free_probe(probe);
	s->uring = true;

	if (s->flags & DMK_STREAM_NO_FIXED_FILES) {
		snprintf(s->files_why, sizeof(s->files_why),
			 "no registered files (turned off)");
		return;
	}
	/* A table of empty slots, filled as files are added. */
	for (i = 0; i < DMK_ARRAY_SIZE(fds); i++)
		fds[i] = -1;
	ret = io_uring_register_files(&s->ring, fds, DMK_ARRAY_SIZE(fds));
	if (ret < 0) {
		snprintf(s->files_why, sizeof(s->files_why),
			 "no registered files (%s)", errname(ret));
		return;
	}
	s->files_registered = true;
	snprintf(s->files_why, sizeof(s->files_why), "registered files");
}

DMK_API int dmk_stream_new(unsigned int flags,
			   const struct dmk_stream_opts *uopts,
			   struct dmk_stream **out)
{
	const unsigned int known = DMK_STREAM_NO_URING | DMK_STREAM_NO_DIRECT |
				   DMK_STREAM_NO_FIXED |
				   DMK_STREAM_NO_FIXED_FILES |
				   DMK_STREAM_SQPOLL;
	struct dmk_stream_opts opts;
	struct dmk_stream *s;
	unsigned int i;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_stream_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!out || (flags & ~known) ||
	    opts.queue_depth > DMK_STREAM_MAX_DEPTH ||
	    opts.max_requests > DMK_STREAM_MAX_REQUESTS ||
	    opts.chunk_size > DMK_STREAM_MAX_CHUNK)
		return -EINVAL;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->flags = flags;
	s->depth = opts.queue_depth ? opts.queue_depth : DEFAULT_DEPTH;
	s->max_requests = opts.max_requests ? opts.max_requests :
					      DEFAULT_REQUESTS;
	s->chunk_size = opts.chunk_size ? opts.chunk_size : DEFAULT_CHUNK;
	list_init(&s->free_reqs);
	list_init(&s->pending);
	list_init(&s->done);
	for (i = 0; i < DMK_STREAM_MAX_FILES; i++) {
		s->files[i].fd = -1;
		s->files[i].dfd = -1;
	}
	s->chunks = calloc(s->depth, sizeof(*s->chunks));
	s->reqs = calloc(s->max_requests, sizeof(*s->reqs));
	if (!s->chunks || !s->reqs) {
		free(s->chunks);
		free(s->reqs);
		free(s);
		return -ENOMEM;
	}
	for (i = 0; i < s->depth; i++)
		s->chunks[i].next_free = i + 1 < s->depth ? (int)i + 1 : -1;
	s->free_chunk = 0;
	for (i = 0; i < s->max_requests; i++) {
		list_add_tail(&s->reqs[i].link, &s->free_reqs);
		s->reqs[i].where = ON_FREE;
	}
	snprintf(s->fixed_why, sizeof(s->fixed_why), "none registered");
	ring_setup(s, opts.sqpoll_idle_ms ? opts.sqpoll_idle_ms :
					    DEFAULT_SQPOLL_IDLE_MS);
	if (!s->uring)
		snprintf(s->files_why, sizeof(s->files_why),
			 "no registered files");
	s->st.queue_depth = s->depth;
	s->st.chunk_size = s->chunk_size;
	s->st.registered_files = s->files_registered;
	*out = s;
	return 0;
}

/* Re-read the file's size (it may have grown) into f->direct_end. */
static void direct_end_update(struct sfile *f)
{
	struct stat st;
	uint64_t size;

	if (fstat(f->fd, &st))
		return;
	if (S_ISBLK(st.st_mode)) {
		if (dmk__fd_size(f->fd, &size))
			return;
	} else {
		size = (uint64_t)st.st_size;
	}
	f->direct_end = size - size % f->off_align;
}

/*
 * The fallback alignment probe for kernels without STATX_DIOALIGN: an
 * O_DIRECT read of 512 bytes at offset 512 into memory at a 512-byte
 * (not page) boundary.  It works where the logical block is 512 bytes;
 * otherwise the page size, which every filesystem's block divides here.
 */
static void dio_probe(struct sfile *f, uint32_t *mem_align,
		      uint32_t *off_align)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t safe = page > 0 ? (uint32_t)page : 4096;
	struct stat st;
	void *mem;
	ssize_t n;

	*mem_align = safe;
	*off_align = safe;
	if (!fstat(f->fd, &st) && st.st_blksize > (blksize_t)safe &&
	    st.st_blksize <= (1 << 20))
		*off_align = *mem_align = (uint32_t)st.st_blksize;
	if (!(f->flags & DMK_STREAM_READ) || fstat(f->fd, &st) ||
	    st.st_size < 1024)
		return;
	if (posix_memalign(&mem, safe, 2 * safe))
		return;
	do {
		n = pread(f->dfd, (char *)mem + 512, 512, 512);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		*mem_align = *off_align = 512;
	free(mem);
}

/* Open the O_DIRECT twin of @f->fd, or say why not (f->direct_why). */
static void file_direct_setup(struct dmk_stream *s, struct sfile *f,
			      const char *path, mode_t type)
{
	char proc[64];
	int acc, ret;
	uint32_t mem = 0, off = 0;

	if (!S_ISREG(type) && !S_ISBLK(type)) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "not a regular file or block device");
		return;
	}
	if (s->flags & DMK_STREAM_NO_DIRECT) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "turned off by the caller");
		return;
	}
	if (!s->uring) {
		snprintf(f->direct_why, sizeof(f->direct_why), "sync path");
		return;
	}
	acc = (f->flags & DMK_STREAM_WRITE) ?
	      ((f->flags & DMK_STREAM_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
	/* A new open file description: O_DIRECT on a dup would change the
	 * caller's (F_SETFL acts on the description). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	ret = dmk__open(proc, acc | O_DIRECT);
	if (ret == -ENOENT && path)
		ret = dmk__open(path, acc | O_DIRECT);
	if (ret < 0) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "open with O_DIRECT: %s%s", errname(ret),
			 ret == -EINVAL ? ", the filesystem does not take it" :
			 "");
		return;
	}
	f->dfd = ret;
	ret = dmk__statx_dioalign(f->fd, &mem, &off);
	if (ret == 1 && (!mem || !off)) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "statx: the filesystem offers no direct I/O here");
		goto err_close;
	}
	if (ret == 1) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "statx DIOALIGN");
	} else {
		dio_probe(f, &mem, &off);
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "no statx DIOALIGN, probed");
	}
	/* Alignments are powers of two; anything else is not trusted. */
	if (mem & (mem - 1) || off & (off - 1) || off > (1u << 20) ||
	    mem > (1u << 20)) {
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "odd direct-I/O alignment %u/%u", mem, off);
		goto err_close;
	}
	f->mem_align = mem;
	f->off_align = off;
	direct_end_update(f);
	return;

err_close:
	dmk__close(f->dfd);
	f->dfd = -1;
}

static void file_register(struct dmk_stream *s, unsigned int idx)
{
	struct sfile *f = &s->files[idx];
	int ret;

	f->slot = -1;
	f->dslot = -1;
	if (!s->files_registered)
		return;
	ret = io_uring_register_files_update(&s->ring, 2 * idx, &f->fd, 1);
	if (ret == 1)
		f->slot = (int)(2 * idx);
	if (f->dfd >= 0) {
		ret = io_uring_register_files_update(&s->ring, 2 * idx + 1,
						     &f->dfd, 1);
		if (ret == 1)
			f->dslot = (int)(2 * idx + 1);
	}
	if (f->slot < 0)
		pr_info("stream: file %u not registered (%s)", idx,
			errname(ret));
}

/* Check and take @fd (closed on failure too); the file's index. */
static int file_add(struct dmk_stream *s, int fd, unsigned int flags,
		    const char *path)
{
	struct stat st;
	struct sfile *f = NULL;
	unsigned int i;

	for (i = 0; i < DMK_STREAM_MAX_FILES; i++) {
		if (!s->files[i].used) {
			f = &s->files[i];
			break;
		}
	}
	if (!f) {
		dmk__close(fd);
		return -EMFILE;
	}
	if (fstat(fd, &st)) {
		int err = dmk__neg_errno();

		dmk__close(fd);
		return err;
	}
	if (S_ISDIR(st.st_mode)) {
		dmk__close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) &&
	    !S_ISCHR(st.st_mode)) {
		dmk__close(fd);
		return -ESPIPE;
	}
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->flags = flags & (DMK_STREAM_READ | DMK_STREAM_WRITE);
	f->fd = fd;
	f->dfd = -1;
	file_direct_setup(s, f, path, st.st_mode);
	file_register(s, i);
	update_why(s);
	return (int)i;
}

DMK_API int dmk_stream_open_file(struct dmk_stream *s, const char *path,
				 unsigned int flags, unsigned int mode)
{
	const unsigned int known = DMK_STREAM_READ | DMK_STREAM_WRITE |
				   DMK_STREAM_CREATE | DMK_STREAM_TRUNC;
	int oflags, fd;

	if (!s || !path || (flags & ~known) ||
	    !(flags & (DMK_STREAM_READ | DMK_STREAM_WRITE)) ||
	    ((flags & (DMK_STREAM_CREATE | DMK_STREAM_TRUNC)) &&
	     !(flags & DMK_STREAM_WRITE)) || mode > 07777)
		return -EINVAL;
	if (flags & DMK_STREAM_WRITE)
		oflags = (flags & DMK_STREAM_READ) ? O_RDWR : O_WRONLY;
	else
		oflags = O_RDONLY;
	if (flags & DMK_STREAM_CREATE)
		oflags |= O_CREAT;
	if (flags & DMK_STREAM_TRUNC)
		oflags |= O_TRUNC;
	fd = dmk__open_mode(path, oflags, mode ? (mode_t)mode : 0644);
	if (fd < 0)
		return fd;
	return file_add(s, fd, flags, path);
}

DMK_API int dmk_stream_add_fd(struct dmk_stream *s, int fd,
			      unsigned int flags)
{
	int fl, acc, nfd;

	if (!s || !(flags & (DMK_STREAM_READ | DMK_STREAM_WRITE)) ||
	    (flags & ~(DMK_STREAM_READ | DMK_STREAM_WRITE)))
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl == -1)
		return -EBADF;
	acc = fl & O_ACCMODE;
	if (((flags & DMK_STREAM_READ) && acc == O_WRONLY) ||
	    ((flags & DMK_STREAM_WRITE) && acc == O_RDONLY))
		return -EBADF;
	nfd = dmk__dup_cloexec(fd);
	if (nfd < 0)
		return nfd;
	/* The dup shares the caller's description: if it is O_DIRECT, the
	 * "buffered" fd would be direct too; use a fresh one instead. */
	if (fl & O_DIRECT) {
		char proc[64];
		int rfd;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		rfd = dmk__open(proc, acc);
		dmk__close(nfd);
		if (rfd < 0)
			return rfd;
		nfd = rfd;
	}
	return file_add(s, nfd, flags, NULL);
}

/* ---- registered buffers ---- */

static int cmp_reg(const void *a, const void *b)
{
	const struct regbuf *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void unregister_bufs(struct dmk_stream *s)
{
	if (s->nreg)
		io_uring_unregister_buffers(&s->ring);
	free(s->reg);
	s->reg = NULL;
	s->nreg = 0;
	s->st.registered_bufs = 0;
}

DMK_API int dmk_stream_register_bufs(struct dmk_stream *s,
				     struct dmk_buf *const *bufs,
				     unsigned int n)
{
	unsigned int i, cnt = 0, skipped = 0;
	struct regbuf *reg;
	struct iovec *iov;
	int ret;

	if (!s || (n && !bufs))
		return -EINVAL;
	if (s->inflight)
		return -EBUSY;
	if (s->uring)
		unregister_bufs(s);
	s->fixed_off = false;
	if (!n) {
		snprintf(s->fixed_why, sizeof(s->fixed_why), "none registered");
		goto out;
	}
	if (!s->uring) {
		snprintf(s->fixed_why, sizeof(s->fixed_why), "sync path");
		goto out;
	}
	if (s->flags & DMK_STREAM_NO_FIXED) {
		snprintf(s->fixed_why, sizeof(s->fixed_why),
			 "turned off by the caller");
		goto out;
	}
	reg = calloc(n, sizeof(*reg));
	iov = calloc(n, sizeof(*iov));
	if (!reg || !iov) {
		free(reg);
		free(iov);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		unsigned int caps;
		void *addr;

		if (!bufs[i]) {
			free(reg);
			free(iov);
			return -EINVAL;
		}
		caps = dmk_buf_caps(bufs[i]);
		/*
		 * Decided from the caps, never by trying: a dma-buf mapping is
		 * VM_PFNMAP (EFAULT) and a long-term pin of CMA memory can
		 * stall the kernel for minutes.
		 */
		if (!(caps & DMK_CAP_PINNABLE) || (caps & DMK_CAP_CONTIG) ||
		    dmk_buf_size(bufs[i]) > REG_BUF_MAX ||
		    dmk_buf_map(bufs[i], &addr)) {
			skipped++;
			continue;
		}
		reg[cnt].start = (uintptr_t)addr;
		reg[cnt].len = dmk_buf_size(bufs[i]);
		cnt++;
	}
	if (!cnt) {
		snprintf(s->fixed_why, sizeof(s->fixed_why),
			 "none of %u buffers can be pinned (dma-buf or CMA "
			 "memory)", n);
		free(reg);
		free(iov);
		goto out;
	}
	/* Sorted by address, so a lookup is a binary search. */
	qsort(reg, cnt, sizeof(*reg), cmp_reg);
	for (i = 0; i < cnt; i++) {
		iov[i].iov_base = (void *)reg[i].start;
		iov[i].iov_len = reg[i].len;
	}
	ret = io_uring_register_buffers(&s->ring, iov, cnt);
	free(iov);
	if (ret < 0) {
		snprintf(s->fixed_why, sizeof(s->fixed_why),
			 "io_uring_register_buffers: %s%s", errname(ret),
			 ret == -ENOMEM ? " (RLIMIT_MEMLOCK, or pages that "
			 "cannot be long-term pinned)" : "");
		pr_info("stream: %s; unregistered buffers", s->fixed_why);
		free(reg);
		goto out;
	}
	s->reg = reg;
	s->nreg = cnt;
	s->st.registered_bufs = cnt;
	if (skipped)
		snprintf(s->fixed_why, sizeof(s->fixed_why),
			 "%u not pinnable, skipped", skipped);
	else
		s->fixed_why[0] = '\0';
out:
	update_why(s);
	return (int)s->nreg;
}

DMK_API int dmk_stream_register_pool(struct dmk_stream *s,
				     const struct dmk_pool *pool)
{
	struct dmk_buf **bufs;
	unsigned int i, n;
	int ret;

	if (!s || !pool)
		return -EINVAL;
	n = dmk_pool_count(pool);
	bufs = calloc(n, sizeof(*bufs));
	if (!bufs)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		bufs[i] = dmk_pool_buf(pool, i);
	ret = dmk_stream_register_bufs(s, bufs, n);
	free(bufs);
	return ret;
}

/* The registered buffer holding [@a, @a + @len), or -1. */
static int reg_lookup(const struct dmk_stream *s, uintptr_t a, uint64_t len)
{
	unsigned int lo = 0, hi = s->nreg;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (s->reg[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	lo--;
	if (a - s->reg[lo].start + len <= s->reg[lo].len)
		return (int)lo;
	return -1;
}

/* ---- the engine ---- */

static struct sreq *req_of(struct dmk_stream *s, int id)
{
	if (id < 0 || (unsigned int)id >= s->max_requests)
		return NULL;
	return &s->reqs[id];
}

static int req_id(const struct dmk_stream *s, const struct sreq *r)
{
	return (int)(r - s->reqs);
}

static void req_move(struct sreq *r, struct list *to, enum req_where where)
{
	if (r->where != ON_NONE)
		list_del(&r->link);
	r->where = where;
	if (to)
		list_add_tail(&r->link, to);
}

static uint64_t req_limit(const struct sreq *r)
{
	return r->eof < r->len ? r->eof : r->len;
}

static bool req_stopped(const struct sreq *r)
{
	return r->cancelled || r->err;
}

/* Complete @r if nothing of it is in flight and nothing is left to do. */
static void req_maybe_complete(struct dmk_stream *s, struct sreq *r)
{
	int64_t res;
	int ret;

	if (r->state != REQ_ACTIVE || r->inflight)
		return;
	if (!req_stopped(r) && r->queued < req_limit(r))
		return;
	if (r->cancelled)
		res = -ECANCELED;
	else if (r->err)
		res = r->err;
	else
		res = (int64_t)req_limit(r);
	if (r->synced) {
		ret = dmk_buf_end_cpu(r->synced, r->op == DMK_STREAM_OP_READ ?
					       DMK_SYNC_WRITE : DMK_SYNC_READ);
		if (ret && res >= 0) {
			res = ret;
			r->err_off = r->file_off;
		}
		r->synced = NULL;
	}
	r->res = res;
	r->state = REQ_DONE;
	req_move(r, &s->done, ON_DONE);
	s->st.requests++;
	if (res < 0)
		s->st.errors++;
}

static struct io_uring_sqe *get_sqe(struct dmk_stream *s)
{
	struct io_uring_sqe *sqe;

	/* The SQ holds twice the depth: chunks plus their cancels fit, so
	 * this loops at most once in practice. */
	while (!(sqe = io_uring_get_sqe(&s->ring))) {
		io_uring_submit(&s->ring);
		s->unsubmitted = 0;
	}
	s->unsubmitted++;
	return sqe;
}

static bool direct_aligned(const struct sfile *f, uint64_t off, uint64_t len,
			   uintptr_t a)
{
	return !(off % f->off_align) && !(len % f->off_align) &&
	       !(a % f->mem_align) && len;
}

/* Whether a read of [@off, @off + @len) stays in whole blocks of the file
 * (always true for writes). */
static bool direct_in_file(const struct sfile *f, unsigned int op,
			   uint64_t off, uint64_t len)
{
	return op == DMK_STREAM_OP_WRITE || off + len <= f->direct_end;
}

/* Put (the rest of) chunk @ch in the SQ on the fastest path it allows. */
static void chunk_issue(struct dmk_stream *s, struct chunk *ch)
{
	struct sreq *r = ch->req;
	struct sfile *f = &s->files[r->file];
	uint64_t off = ch->file_off + ch->done;
	uint32_t rest = ch->len - ch->done;
	char *a = ch->addr + ch->done;
	struct io_uring_sqe *sqe;
	bool direct, fixed;
	int fd, idx = -1;

	direct = r->pinnable && file_direct(f) &&
		 direct_aligned(f, off, rest, (uintptr_t)a) &&
		 direct_in_file(f, r->op, off, rest);
	if (stream_fixed(s))
		idx = reg_lookup(s, (uintptr_t)a, rest);
	fixed = idx >= 0;
	if (direct)
		ch->path = fixed ? DMK_STREAM_PATH_FIXED_DIRECT :
				   DMK_STREAM_PATH_DIRECT;
	else
		ch->path = fixed ? DMK_STREAM_PATH_FIXED :
				   DMK_STREAM_PATH_BUFFERED;
	ch->buf_index = idx;
	ch->gen++;
	s->st.chunks[ch->path]++;

	sqe = get_sqe(s);
	fd = direct ? (f->dslot >= 0 ? f->dslot : f->dfd) :
		      (f->slot >= 0 ? f->slot : f->fd);
	if (r->op == DMK_STREAM_OP_READ) {
		if (fixed)
			io_uring_prep_read_fixed(sqe, fd, a, rest, off, idx);
		else
			io_uring_prep_read(sqe, fd, a, rest, off);
	} else {
		if (fixed)
			io_uring_prep_write_fixed(sqe, fd, a, rest, off, idx);
		else
			io_uring_prep_write(sqe, fd, a, rest, off);
	}
	if ((direct && f->dslot >= 0) || (!direct && f->slot >= 0))
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, ((uint64_t)ch->gen << 32) |
				     (uint64_t)(ch - s->chunks + 1));
}

/* How much of @r the next chunk takes. */
static uint64_t chunk_plan(struct dmk_stream *s, const struct sreq *r)
{
	struct sfile *f = &s->files[r->file];
	uint64_t rest = req_limit(r) - r->queued, c, off, b;
	uintptr_t a;

	c = rest < s->chunk_size ? rest : s->chunk_size;
	if (!r->pinnable || !file_direct(f))
		return c;
	off = r->file_off + r->queued;
	a = (uintptr_t)(r->addr + r->queued);
	if (!(off % f->off_align) && !(a % f->mem_align)) {
		if (r->op == DMK_STREAM_OP_READ) {
			/* Past the last whole block seen: the file may have
			 * grown; if not, the rest goes buffered. */
			if (off + c > f->direct_end)
				direct_end_update(f);
			if (off >= f->direct_end)
				return c;
			if (c > f->direct_end - off)
				c = f->direct_end - off;
		}
		/* Aligned start: an aligned length goes direct, a tail
		 * shorter than a block goes buffered on its own. */
		if (c >= f->off_align)
			c -= c % f->off_align;
		return c;
	}
	/* Unaligned start: buffered up to where both become aligned. */
	b = f->off_align - off % f->off_align;
	if (b < c && !((a + b) % f->mem_align))
		c = b;
	return c;
}

/* Fill free chunk slots from the pending requests, oldest first. */
static void pump(struct dmk_stream *s)
{
	while (s->free_chunk >= 0 && !list_empty(&s->pending)) {
		struct sreq *r = list_entry(s->pending.next, struct sreq, link);
		struct chunk *ch;
		uint64_t c;

		if (req_stopped(r) || r->queued >= req_limit(r)) {
			req_move(r, NULL, ON_NONE);
			req_maybe_complete(s, r);
			continue;
		}
		c = chunk_plan(s, r);
		ch = &s->chunks[s->free_chunk];
		s->free_chunk = ch->next_free;
		ch->req = r;
		ch->addr = r->addr + r->queued;
		ch->file_off = r->file_off + r->queued;
		ch->len = (uint32_t)c;
		ch->done = 0;
		ch->retries = 0;
		r->queued += c;
		r->inflight++;
		s->inflight++;
		if (r->queued >= req_limit(r))
			req_move(r, NULL, ON_NONE);
		chunk_issue(s, ch);
	}
}

static void chunk_finish(struct dmk_stream *s, struct chunk *ch)
{
	struct sreq *r = ch->req;

	ch->req = NULL;
	ch->next_free = s->free_chunk;
	s->free_chunk = (int)(ch - s->chunks);
	r->inflight--;
	s->inflight--;
	req_maybe_complete(s, r);
}

/*
 * A chunk failed with @res: if a slower path can do it, turn the failed
 * feature off (with the reason) and return true to reissue.
 */
static bool chunk_fallback(struct dmk_stream *s, struct chunk *ch, int res)
{
	struct sreq *r = ch->req;
	struct sfile *f = &s->files[r->file];
	bool direct = ch->path == DMK_STREAM_PATH_DIRECT ||
		      ch->path == DMK_STREAM_PATH_FIXED_DIRECT;
	bool fixed = ch->path == DMK_STREAM_PATH_FIXED ||
		     ch->path == DMK_STREAM_PATH_FIXED_DIRECT;

	if (res != -EINVAL && res != -EFAULT && res != -EOPNOTSUPP &&
	    res != -ENOTSUP)
		return false;
	if (direct) {
		f->direct_off = true;
		snprintf(f->direct_why, sizeof(f->direct_why),
			 "turned off: a direct %s at offset %" PRIu64
			 " failed with %s", r->op == DMK_STREAM_OP_READ ?
			 "read" : "write", ch->file_off + ch->done,
			 errname(res));
		pr_warn("stream: file %u: %s", r->file, f->direct_why);
	} else if (fixed) {
		s->fixed_off = true;
		snprintf(s->fixed_why, sizeof(s->fixed_why),
			 "turned off: a fixed-buffer chunk failed with %s",
			 errname(res));
		pr_warn("stream: %s", s->fixed_why);
	} else {
		return false;
	}
	s->st.fallbacks++;
	update_why(s);
	return true;
}

static void handle_cqe(struct dmk_stream *s, uint64_t ud, int res)
{
	uint32_t slot = (uint32_t)ud, gen = (uint32_t)(ud >> 32);
	struct chunk *ch;
	struct sreq *r;

	if (ud == UD_CANCEL || slot == 0 || slot > s->depth)
		return;
	ch = &s->chunks[slot - 1];
	r = ch->req;
	if (!r || ch->gen != gen)
		return;		/* cannot happen: one CQE per issue */

	if ((res == -EINTR || res == -EAGAIN) && !req_stopped(r) &&
	    ch->retries < MAX_RETRIES) {
		ch->retries++;
		s->st.retries++;
		chunk_issue(s, ch);
		return;
	}
	if (res < 0) {
		if (r->cancelled && (res == -ECANCELED || res == -EINTR))
			goto finish;
		if (!req_stopped(r) && chunk_fallback(s, ch, res)) {
			chunk_issue(s, ch);
			return;
		}
		if (!r->err || ch->file_off + ch->done < r->err_off) {
			r->err = res;
			r->err_off = ch->file_off + ch->done;
		}
		goto finish;
	}
	if (res == 0) {
		if (r->op == DMK_STREAM_OP_READ) {
			uint64_t e = ch->file_off + ch->done - r->file_off;

			if (e < r->eof)
				r->eof = e;
		} else if (!r->err) {
			/* A write that moves nothing would loop forever. */
			r->err = -EIO;
			r->err_off = ch->file_off + ch->done;
		}
		goto finish;
	}
	ch->done += (uint32_t)res;
	s->st.bytes[ch->path] += (uint64_t)res;
	if (ch->done < ch->len) {
		s->st.short_io++;
		if (!req_stopped(r)) {
			chunk_issue(s, ch);
			return;
		}
	}
finish:
	chunk_finish(s, ch);
}

/* Handle every CQE there is, without waiting; refill the slots. */
static void reap_cqes(struct dmk_stream *s)
{
	struct io_uring_cqe *cqes[64];
	unsigned int n, i;

	do {
		n = io_uring_peek_batch_cqe(&s->ring, cqes,
					    DMK_ARRAY_SIZE(cqes));
		for (i = 0; i < n; i++)
			handle_cqe(s, cqes[i]->user_data, cqes[i]->res);
		io_uring_cq_advance(&s->ring, n);
	} while (n == DMK_ARRAY_SIZE(cqes));
	pump(s);
}

/* Enter the kernel with what the SQ holds. */
static int sq_flush(struct dmk_stream *s)
{
	int ret;

	if (!s->uring || !s->unsubmitted)
		return 0;
	do {
		ret = io_uring_submit(&s->ring);
	} while (ret == -EINTR);
	if (ret < 0 && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	/* -EAGAIN/-EBUSY: the kernel is short of memory or the CQ is
	 * backed up; what stays in the SQ goes with the next enter. */
	if (ret >= 0)
		s->unsubmitted = 0;
	return 0;
}

/*
 * Submit what is queued and wait for at least one CQE (@deadline_ns < 0:
 * forever), then handle what arrived.  0, -ETIME, -EINTR, -errno.
 */
static int wait_cqes(struct dmk_stream *s, int64_t deadline_ns)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	int ret;

	if (deadline_ns >= 0) {
		int64_t left = deadline_ns - mono_ns();

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, tsp, NULL);
	if (ret >= 0 || ret == -ETIME)
		s->unsubmitted = 0;
	reap_cqes(s);
	return ret < 0 ? ret : 0;
}

static void complete_sync(struct dmk_stream *s, struct sreq *r)
{
	struct sfile *f = &s->files[r->file];
	uint64_t pos = 0;
	unsigned int retries = 0;

	while (pos < r->len) {
		uint64_t n = r->len - pos;
		ssize_t rw;

		if (n > s->chunk_size)
			n = s->chunk_size;
		if (r->op == DMK_STREAM_OP_READ)
			rw = pread(f->fd, r->addr + pos, n,
				   (off_t)(r->file_off + pos));
		else
			rw = pwrite(f->fd, r->addr + pos, n,
				    (off_t)(r->file_off + pos));
		if (rw < 0 && (errno == EINTR || errno == EAGAIN) &&
		    retries++ < MAX_RETRIES) {
			s->st.retries++;
			continue;
		}
		if (rw < 0) {
			r->err = dmk__neg_errno();
			r->err_off = r->file_off + pos;
			break;
		}
		s->st.chunks[DMK_STREAM_PATH_SYNC]++;
		if (rw == 0) {
			if (r->op == DMK_STREAM_OP_READ) {
				r->eof = pos;
			} else {
				r->err = -EIO;
				r->err_off = r->file_off + pos;
			}
			break;
		}
		if ((uint64_t)rw < n)
			s->st.short_io++;
		pos += (uint64_t)rw;
		s->st.bytes[DMK_STREAM_PATH_SYNC] += (uint64_t)rw;
	}
	r->queued = pos;
	req_maybe_complete(s, r);
}

DMK_API int dmk_stream_submit(struct dmk_stream *s,
			      const struct dmk_stream_req *ureq)
{
	const unsigned int known = DMK_STREAM_REQ_MORE |
				   DMK_STREAM_REQ_PINNABLE;
	struct dmk_stream_req rq;
	struct sfile *f;
	struct sreq *r;
	bool pinnable;
	uint64_t end;
	char *addr;
	int ret;

	if (!s || !ureq)
		return -EINVAL;
	ret = DMK_OPTS_LOAD(dmk_stream_req, &rq, ureq);
	if (ret)
		return ret;
	if (rq.op > DMK_STREAM_OP_WRITE || (rq.flags & ~known) || !rq.len ||
	    __builtin_add_overflow(rq.file_off, rq.len, &end) ||
	    end > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (rq.file >= DMK_STREAM_MAX_FILES || !s->files[rq.file].used)
		return -EBADF;
	f = &s->files[rq.file];
	if (!(f->flags & (rq.op == DMK_STREAM_OP_READ ? DMK_STREAM_READ :
						       DMK_STREAM_WRITE)))
		return -EBADF;
	if (rq.buf) {
		unsigned int caps = dmk_buf_caps(rq.buf);
		void *map;

		if (rq.addr || (rq.flags & DMK_STREAM_REQ_PINNABLE) ||
		    __builtin_add_overflow(rq.buf_off, rq.len, &end) ||
		    end > dmk_buf_size(rq.buf))
			return -EINVAL;
		ret = dmk_buf_map(rq.buf, &map);
		if (ret)
			return ret;
		if (rq.op == DMK_STREAM_OP_READ && !dmk_buf_writable(rq.buf))
			return -EACCES;
		addr = (char *)map + rq.buf_off;
		pinnable = (caps & DMK_CAP_PINNABLE) &&
			   !(caps & DMK_CAP_CONTIG);
	} else {
		if (!rq.addr || rq.buf_off)
			return -EINVAL;
		addr = rq.addr;
		pinnable = rq.flags & DMK_STREAM_REQ_PINNABLE;
	}
	if (list_empty(&s->free_reqs))
		return -EAGAIN;
	r = list_entry(s->free_reqs.next, struct sreq, link);
	req_move(r, NULL, ON_NONE);
	r->state = REQ_ACTIVE;
	r->op = rq.op;
	r->file = rq.file;
	r->pinnable = pinnable;
	r->cancelled = false;
	r->synced = NULL;
	r->addr = addr;
	r->file_off = rq.file_off;
	r->len = rq.len;
	r->queued = 0;
	r->eof = UINT64_MAX;
	r->inflight = 0;
	r->err = 0;
	r->err_off = 0;
	r->tag = rq.tag;
	r->res = 0;
	/* The kernel's copy to or from a dma-buf mapping is CPU access. */
	if (rq.buf && (dmk_buf_caps(rq.buf) & DMK_CAP_DMABUF)) {
		ret = dmk_buf_begin_cpu(rq.buf, rq.op == DMK_STREAM_OP_READ ?
						DMK_SYNC_WRITE : DMK_SYNC_READ);
		if (ret) {
			r->state = REQ_FREE;
			req_move(r, &s->free_reqs, ON_FREE);
			return ret;
		}
		r->synced = rq.buf;
	}
	if (!s->uring) {
		complete_sync(s, r);
		return req_id(s, r);
	}
	req_move(r, &s->pending, ON_PENDING);
	pump(s);
	if (!(rq.flags & DMK_STREAM_REQ_MORE)) {
		/* The request is queued: an enter failure here is seen
		 * again by the next reap or wait, not reported twice. */
		ret = sq_flush(s);
		if (ret)
			pr_warn("stream: io_uring_enter: %s", errname(ret));
	}
	return req_id(s, r);
}

DMK_API int dmk_stream_flush(struct dmk_stream *s)
{
	if (!s)
		return -EINVAL;
	return sq_flush(s);
}

static void done_fill(struct dmk_stream *s, struct sreq *r,
		      struct dmk_stream_done *d)
{
	if (d) {
		memset(d, 0, sizeof(*d));
		d->tag = r->tag;
		d->res = r->res;
		d->err_off = r->res < 0 ? r->err_off : 0;
		d->id = req_id(s, r);
	}
	r->state = REQ_FREE;
	req_move(r, &s->free_reqs, ON_FREE);
}

static int64_t deadline_of(int64_t timeout_ns)
{
	int64_t d;

	if (timeout_ns < 0)
		return -1;
	if (__builtin_add_overflow(mono_ns(), timeout_ns, &d))
		return INT64_MAX;
	return d;
}

DMK_API int dmk_stream_reap(struct dmk_stream *s,
			    struct dmk_stream_done *done, unsigned int max,
			    int64_t timeout_ns)
{
	int64_t deadline = deadline_of(timeout_ns);
	unsigned int n = 0;
	int ret;

	if (!s || (max && !done))
		return -EINVAL;
	for (;;) {
		if (s->uring)
			reap_cqes(s);
		while (n < max && !list_empty(&s->done))
			done_fill(s, list_entry(s->done.next, struct sreq,
						link), &done[n++]);
		if (n || !max || timeout_ns == 0 ||
		    (!s->inflight && list_empty(&s->pending)))
			break;
		ret = wait_cqes(s, deadline);
		if (ret == -ETIME)
			break;
		if (ret < 0 && !(ret == -EAGAIN || ret == -EBUSY))
			return ret;
	}
	ret = sq_flush(s);
	if (ret && !n)
		return ret;
	return (int)n;
}

DMK_API int dmk_stream_wait(struct dmk_stream *s, int id,
			    struct dmk_stream_done *done, int64_t timeout_ns)
{
	int64_t deadline = deadline_of(timeout_ns);
	struct sreq *r;
	int ret;

	if (!s)
		return -EINVAL;
	r = req_of(s, id);
	if (!r || r->state == REQ_FREE)
		return -ENOENT;
	for (;;) {
		if (s->uring)
			reap_cqes(s);
		if (r->state == REQ_DONE)
			break;
		if (timeout_ns == 0) {
			sq_flush(s);
			return -ETIMEDOUT;
		}
		ret = wait_cqes(s, deadline);
		if (ret == -ETIME) {
			sq_flush(s);
			return -ETIMEDOUT;
		}
		if (ret < 0 && !(ret == -EAGAIN || ret == -EBUSY))
			return ret;
	}
	done_fill(s, r, done);
	return sq_flush(s);
}

DMK_API int dmk_stream_cancel(struct dmk_stream *s, int id)
{
	struct sreq *r;
	unsigned int i;

	if (!s)
		return -EINVAL;
	r = req_of(s, id);
	if (!r || r->state == REQ_FREE)
		return -ENOENT;
	if (r->state == REQ_DONE || r->cancelled)
		return -EALREADY;
	r->cancelled = true;
	for (i = 0; i < s->depth && r->inflight; i++) {
		struct chunk *ch = &s->chunks[i];
		struct io_uring_sqe *sqe;

		if (ch->req != r)
			continue;
		sqe = get_sqe(s);
		io_uring_prep_cancel64(sqe, ((uint64_t)ch->gen << 32) | (i + 1),
				       0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
	}
	if (r->where == ON_PENDING)
		req_move(r, NULL, ON_NONE);
	req_maybe_complete(s, r);
	return sq_flush(s);
}

static int64_t rw_wait(struct dmk_stream *s, unsigned int op,
		       unsigned int file, struct dmk_buf *buf, uint64_t buf_off,
		       uint64_t file_off, uint64_t len)
{
	DMK_OPTS(dmk_stream_req, rq, .op = op, .file = file, .buf = buf,
		 .buf_off = buf_off, .file_off = file_off, .len = len);
	struct dmk_stream_done d;
	int id, ret;

	if (!buf)
		return -EINVAL;
	id = dmk_stream_submit(s, &rq);
	if (id < 0)
		return id;
	do {
		ret = dmk_stream_wait(s, id, &d, -1);
	} while (ret == -EINTR);
	if (ret)
		return ret;
	return d.res;
}

DMK_API int64_t dmk_stream_read(struct dmk_stream *s, unsigned int file,
				struct dmk_buf *buf, uint64_t buf_off,
				uint64_t file_off, uint64_t len)
{
	return rw_wait(s, DMK_STREAM_OP_READ, file, buf, buf_off, file_off,
		       len);
}

DMK_API int64_t dmk_stream_write(struct dmk_stream *s, unsigned int file,
				 struct dmk_buf *buf, uint64_t buf_off,
				 uint64_t file_off, uint64_t len)
{
	return rw_wait(s, DMK_STREAM_OP_WRITE, file, buf, buf_off, file_off,
		       len);
}

DMK_API int dmk_stream_path(const struct dmk_stream *s, unsigned int file,
			    const char **why)
{
	const struct sfile *f;

	if (!s || file >= DMK_STREAM_MAX_FILES || !s->files[file].used)
		return -EBADF;
	f = &s->files[file];
	if (why)
		*why = f->why;
	return file_best_path(s, f);
}

DMK_API int dmk_stream_stats(const struct dmk_stream *s,
			     struct dmk_stream_stats *st)
{
	struct dmk_stream_stats v;
	unsigned int p;
	uint64_t best = 0;
	size_t n;

	if (!s || !st || st->sz < sizeof(size_t))
		return -EINVAL;
	v = s->st;
	v.sz = st->sz;
	v.inflight = s->inflight;
	v.ran = DMK_STREAM_PATH_NONE;
	for (p = 1; p < DMK_STREAM_NPATHS; p++) {
		if (v.bytes[p] > best) {
			best = v.bytes[p];
			v.ran = p;
		}
	}
	n = st->sz < sizeof(v) ? st->sz : sizeof(v);
	memcpy(st, &v, n);
	return 0;
}

DMK_API void dmk_stream_free(struct dmk_stream *s)
{
	unsigned int i;
	int ret;

	if (!s)
		return;
	if (s->uring) {
		for (i = 0; i < s->max_requests; i++)
			if (s->reqs[i].state == REQ_ACTIVE)
				dmk_stream_cancel(s, (int)i);
		/* The kernel may still write into the caller's memory
		 * until every chunk is back. */
		while (s->inflight) {
			ret = wait_cqes(s, -1);
			if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
			    ret != -EBUSY && ret != -ETIME)
				break;
		}
		unregister_bufs(s);
		io_uring_queue_exit(&s->ring);
	}
	for (i = 0; i < s->max_requests; i++)
		if (s->reqs[i].synced)
			dmk_buf_end_cpu(s->reqs[i].synced,
					s->reqs[i].op == DMK_STREAM_OP_READ ?
					DMK_SYNC_WRITE : DMK_SYNC_READ);
	for (i = 0; i < DMK_STREAM_MAX_FILES; i++) {
		if (!s->files[i].used)
			continue;
		dmk__close(s->files[i].fd);
		dmk__close(s->files[i].dfd);
	}
	free(s->reg);
	free(s->chunks);
	free(s->reqs);
	free(s);
}
