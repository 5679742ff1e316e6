// SPDX-License-Identifier: MIT
/*
 * Where buffers come from: dma-heaps, udmabuf, sealed memfds, and the
 * "auto" ladder that picks one of them from what the caller needs.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <linux/io_uring.h>

#include "internal.h"
#include "sys.h"

#define DMA_HEAP_DIR "/dev/dma_heap"
#define UDMABUF_DEV "/dev/udmabuf"
#define UDMABUF_PARAMS "/sys/module/udmabuf/parameters"
#define MAX_CANDIDATES 16
#define DEFAULT_NAME "dmakit"

/*
 * The memfd seals every buffer gets: no one (us included) may shrink or
 * grow it, and no one may change the seals.  F_SEAL_SHRINK is what makes
 * mapping it in another process safe from SIGBUS, and what udmabuf
 * requires; F_SEAL_WRITE must stay off, udmabuf refuses it.
 */
#define DMK_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static bool have_cma_area(void);
static int new_pin_ring(void);

struct dmk_candidate {
	char name[NAME_MAX + 1];
	int verdict;
	char reason[192];
};

struct dmk_heap {
	enum dmk_backend backend;
	unsigned int caps;
	int dev_fd;		/* dma-heap or udmabuf node; -1 for memfd */
	int pin_ring;		/* udmabuf: io_uring for CMA migration, or -1 */
	char name[NAME_MAX + 1];
	unsigned int ncand;
	struct dmk_candidate cand[MAX_CANDIDATES];
};

static const char *caps_missing_reason(unsigned int missing)
{
	if (missing & DMK_CAP_CONTIG)
		return "not physically contiguous";
	if (missing & DMK_CAP_DMABUF)
		return "gives no dma-buf fd";
	if (missing & DMK_CAP_PINNABLE)
		return "pages cannot be pinned (dma-buf mappings are "
		       "VM_PFNMAP; CMA pages must not be long-term pinned)";
	return "does not offer what was needed";
}

static bool heap_name_valid(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, NAME_MAX + 1);
	return len > 0 && len <= NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") && strcmp(name, "..");
}

DMK_API int dmk_heap_is_contig_name(const char *name)
{
	if (!name)
		return 0;
	/* 6.1 names the default CMA area "reserved" (or after its DT node,
	 * "linux,cma"); newer kernels call it "default_cma_region". */
	return !strcmp(name, "reserved") || strstr(name, "cma") ? 1 : 0;
}

static unsigned int dma_heap_caps(const char *name)
{
	return DMK_CAP_DMABUF |
	       (dmk_heap_is_contig_name(name) ? DMK_CAP_CONTIG : 0);
}

/* Open a device node for probing: 1 (and *fd), 0 when absent, -errno. */
static int probe_open(const char *path, int flags, int *fd)
{
	int ret = dmk__open(path, flags);

	if (ret >= 0) {
		if (fd)
			*fd = ret;
		else
			dmk__close(ret);
		return 1;
	}
	if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO ||
	    ret == -ENOTDIR)
		return 0;
	return ret;
}

static int dma_heap_open_node(const char *name, int *fd)
{
	char path[sizeof(DMA_HEAP_DIR) + NAME_MAX + 2];

	if (!heap_name_valid(name))
		return -EINVAL;
	snprintf(path, sizeof(path), DMA_HEAP_DIR "/%s", name);
	return probe_open(path, O_RDONLY, fd);
}

DMK_API int dmk_probe_dma_heap(const char *name)
{
	if (!name)
		return probe_open(DMA_HEAP_DIR, O_RDONLY | O_DIRECTORY, NULL);
	return dma_heap_open_node(name, NULL);
}

DMK_API int dmk_probe_udmabuf(void)
{
	return probe_open(UDMABUF_DEV, O_RDWR, NULL);
}

static int memfd_new(const char *name, uint64_t size, bool populate)
{
	/* MFD_NOEXEC_SEAL (6.3+) keeps vm.memfd_noexec=2 systems happy;
	 * older kernels reject the unknown flag with EINVAL: learn it once. */
	static _Atomic int noexec = 1;
	int fd, ret;

	if (atomic_load_explicit(&noexec, memory_order_relaxed)) {
		fd = dmk__memfd_create(name, MFD_ALLOW_SEALING |
					     MFD_NOEXEC_SEAL);
		if (fd != -EINVAL)
			goto created;
		atomic_store_explicit(&noexec, 0, memory_order_relaxed);
	}
	fd = dmk__memfd_create(name, MFD_ALLOW_SEALING);
created:
	if (fd < 0)
		return fd;
	ret = dmk__ftruncate(fd, (off_t)size);
	if (ret)
		goto err_close;
	if (populate) {
		ret = dmk__fallocate(fd, (off_t)size);
		if (ret)
			goto err_close;
	}
	ret = dmk__add_seals(fd, DMK_SEALS);
	if (ret)
		goto err_close;
	return fd;

err_close:
	dmk__close(fd);
	return ret;
}

DMK_API int dmk_probe_memfd(void)
{
	int fd = memfd_new("dmakit-probe", 4096, false);

	if (fd >= 0) {
		dmk__close(fd);
		return 1;
	}
	/* No memfd_create (ENOSYS) or no sealing on this filesystem. */
	return fd == -ENOSYS || fd == -EINVAL ? 0 : fd;
}

DMK_API int dmk_udmabuf_limits(uint64_t *size_limit, unsigned int *list_limit)
{
	char text[32];
	uint64_t mb, list;
	int ret;

	ret = dmk__read_text(AT_FDCWD, UDMABUF_PARAMS "/size_limit_mb", text,
			     sizeof(text));
	if (ret < 0)
		return ret;
	ret = dmk__parse_u64(text, &mb);
	if (ret)
		return ret;
	ret = dmk__read_text(AT_FDCWD, UDMABUF_PARAMS "/list_limit", text,
			     sizeof(text));
	if (ret < 0)
		return ret;
	ret = dmk__parse_u64(text, &list);
	if (ret)
		return ret;
	if (mb > UINT64_MAX >> 20 || list > UINT_MAX)
		return -ERANGE;
	if (size_limit)
		*size_limit = mb << 20;
	if (list_limit)
		*list_limit = (unsigned int)list;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

DMK_API int dmk_heap_enumerate(dmk_heap_enum_fn fn, void *user)
{
	struct dirent *de;
	char **names = NULL, **tmp;
	size_t n = 0, cap = 0, i;
	DIR *dir;
	int ret = 0;

	if (!fn)
		return -EINVAL;
	dir = opendir(DMA_HEAP_DIR);
	if (!dir)
		return errno == ENOENT || errno == ENOTDIR ? 0 :
							     dmk__neg_errno();
	while ((errno = 0, de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			tmp = realloc(names, cap * sizeof(*names));
			if (!tmp) {
				ret = -ENOMEM;
				goto out;
			}
			names = tmp;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		ret = dmk__neg_errno();
		goto out;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		ret = fn(names[i], user);
		if (ret)
			goto out;
	}
	ret = (int)n;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return ret;
}

static void add_candidate(struct dmk_heap *h, const char *name, int verdict,
			  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_candidate(struct dmk_heap *h, const char *name, int verdict,
			  const char *fmt, ...)
{
	struct dmk_candidate *c;
	va_list ap;

	if (h->ncand == MAX_CANDIDATES)
		return;
	c = &h->cand[h->ncand++];
	dmk__strscpy(c->name, name, sizeof(c->name));
	c->verdict = verdict;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

/* Open the named backend into @h: 0, or -errno with a candidate entry. */
static int heap_open_one(struct dmk_heap *h, const char *name)
{
	int ret, fd = -1;

	if (!strcmp(name, DMK_HEAP_MEMFD)) {
		ret = dmk_probe_memfd();
		if (ret <= 0) {
			ret = ret ? ret : -ENOTSUP;
			add_candidate(h, name, ret, "memfd_create with sealing "
				      "failed: %s", strerror(-ret));
			return ret;
		}
		h->backend = DMK_BACKEND_MEMFD;
		h->caps = DMK_CAP_PINNABLE;
	} else if (!strcmp(name, DMK_HEAP_UDMABUF)) {
		ret = probe_open(UDMABUF_DEV, O_RDWR, &fd);
		if (ret <= 0) {
			ret = ret ? ret : -ENOENT;
			add_candidate(h, name, ret, ret == -ENOENT ?
				      "no " UDMABUF_DEV " (kernel without "
				      "CONFIG_UDMABUF)" :
				      "cannot open " UDMABUF_DEV ": %s",
				      strerror(-ret));
			return ret;
		}
		h->backend = DMK_BACKEND_UDMABUF;
		h->caps = DMK_CAP_DMABUF | DMK_CAP_PINNABLE;
		/* One io_uring per heap serves every CMA migration pin
		 * (-1 if it cannot be had: each pin then tries its own). */
		if (have_cma_area())
			h->pin_ring = new_pin_ring();
	} else {
		ret = dma_heap_open_node(name, &fd);
		if (ret <= 0) {
			ret = ret ? ret : -ENOENT;
			add_candidate(h, name, ret, ret == -ENOENT ?
				      "no " DMA_HEAP_DIR "/%s%s" :
				      "cannot open " DMA_HEAP_DIR "/%s: %s",
				      name, ret != -ENOENT ? strerror(-ret) :
				      dmk_probe_dma_heap(NULL) == 1 ? "" :
				      " (kernel without CONFIG_DMABUF_HEAPS)");
			return ret;
		}
		h->backend = DMK_BACKEND_DMA_HEAP;
		h->caps = dma_heap_caps(name);
	}
	h->dev_fd = fd;
	dmk__strscpy(h->name, name, sizeof(h->name));
	return 0;
}

static void heap_reset(struct dmk_heap *h)
{
	dmk__close(h->dev_fd);
	dmk__close(h->pin_ring);
	h->dev_fd = -1;
	h->pin_ring = -1;
	h->backend = DMK_BACKEND_NONE;
	h->caps = 0;
}

struct ladder_ctx {
	char names[MAX_CANDIDATES][NAME_MAX + 1];
	unsigned int n;
};

static int collect_heap(const char *name, void *user)
{
	struct ladder_ctx *lc = user;

	if (lc->n < MAX_CANDIDATES)
		dmk__strscpy(lc->names[lc->n++], name, NAME_MAX + 1);
	return 0;
}

/*
 * The ladder, cheapest first: memfd (pinnable), the system heap (dma-buf),
 * udmabuf (dma-buf and pinnable, but a memfd plus a pinned sg table), CMA
 * heaps (contiguous: scarce, so last).  The first available rung that
 * offers everything needed serves; the others are reported.
 */
static int heap_open_auto(struct dmk_heap *h, unsigned int needs,
			  unsigned int avoid)
{
	struct ladder_ctx lc = { .n = 0 };
	const char *rungs[MAX_CANDIDATES];
	unsigned int nr = 0, i, caps;
	enum dmk_backend be;
	bool chosen = false, have_cma = false;
	int ret;

	ret = dmk_heap_enumerate(collect_heap, &lc);
	if (ret < 0)
		pr_warn("auto: cannot list " DMA_HEAP_DIR ": %s\n",
			strerror(-ret));
	/* The system heap is always a rung, so its absence is reported. */
	rungs[nr++] = DMK_HEAP_MEMFD;
	rungs[nr++] = "system";
	rungs[nr++] = DMK_HEAP_UDMABUF;
	for (i = 0; i < lc.n && nr < MAX_CANDIDATES; i++) {
		if (dmk_heap_is_contig_name(lc.names[i])) {
			rungs[nr++] = lc.names[i];
			have_cma = true;
		}
	}

	for (i = 0; i < nr; i++) {
		const char *name = rungs[i];
		int avail;

		if (!strcmp(name, DMK_HEAP_MEMFD)) {
			be = DMK_BACKEND_MEMFD;
			caps = DMK_CAP_PINNABLE;
			avail = dmk_probe_memfd();
		} else if (!strcmp(name, DMK_HEAP_UDMABUF)) {
			be = DMK_BACKEND_UDMABUF;
			caps = DMK_CAP_DMABUF | DMK_CAP_PINNABLE;
			avail = dmk_probe_udmabuf();
		} else {
			be = DMK_BACKEND_DMA_HEAP;
			caps = dma_heap_caps(name);
			avail = dmk_probe_dma_heap(name);
		}
		if (avoid & (1u << be)) {
			add_candidate(h, name, 0, "avoided by the caller");
			continue;
		}
		/* What is missing is said first, whatever was needed. */
		if (avail <= 0) {
			heap_open_one(h, name);	/* records why */
			continue;
		}
		if (chosen) {
			add_candidate(h, name, 0, "not needed: %s served",
				      h->name);
			continue;
		}
		if (needs & ~caps) {
			add_candidate(h, name, 0, "%s",
				      caps_missing_reason(needs & ~caps));
			continue;
		}
		if (heap_open_one(h, name))
			continue;	/* recorded as unavailable */
		add_candidate(h, name, 1, "first rung that offers what was "
			      "needed");
		chosen = true;
	}
	if (!have_cma)
		add_candidate(h, "cma", (needs & DMK_CAP_CONTIG) ? -ENOENT : 0,
			      "no CMA heap in " DMA_HEAP_DIR "%s",
			      lc.n ? "" : " (kernel without CONFIG_DMABUF_HEAPS)");
	/* Heaps auto never picks by itself: name them to use them. */
	for (i = 0; i < lc.n; i++)
		if (strcmp(lc.names[i], "system") &&
		    !dmk_heap_is_contig_name(lc.names[i]))
			add_candidate(h, lc.names[i], 0, "auto uses only the "
				      "system and CMA heaps; open it by name");
	return chosen ? 0 : -ENOTSUP;
}

static void heap_report(const struct dmk_heap *h,
			const struct dmk_heap_opts *opts)
{
	unsigned int i;

	for (i = 0; opts->report && i < h->ncand; i++)
		opts->report(h->cand[i].name, h->cand[i].verdict,
			     h->cand[i].reason, opts->report_user);
}

DMK_API int dmk_heap_open(const char *name, const struct dmk_heap_opts *uopts,
			  struct dmk_heap **out)
{
	struct dmk_heap_opts opts;
	struct dmk_heap *h;
	unsigned int all = DMK_CAP_DMABUF | DMK_CAP_PINNABLE | DMK_CAP_CONTIG;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_heap_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!out || (opts.needs & ~all) || !heap_name_valid(name))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->dev_fd = -1;
	h->pin_ring = -1;
	if (!strcmp(name, DMK_HEAP_AUTO)) {
		ret = heap_open_auto(h, opts.needs, opts.avoid);
		if (ret)
			goto err_free;
	} else {
		ret = heap_open_one(h, name);
		if (ret)
			goto err_free;
		if (opts.needs & ~h->caps) {
			h->ncand = 0;
			add_candidate(h, name, 0, "%s",
				      caps_missing_reason(opts.needs & ~h->caps));
			heap_reset(h);
			ret = -ENOTSUP;
			goto err_free;
		}
		add_candidate(h, name, 1, "named by the caller");
	}
	heap_report(h, &opts);
	*out = h;
	return 0;

err_free:
	heap_report(h, &opts);
	pr_debug("heap %s: %s\n", name, h->ncand ?
		 h->cand[h->ncand - 1].reason : strerror(-ret));
	heap_reset(h);
	free(h);
	return ret;
}

DMK_API void dmk_heap_close(struct dmk_heap *heap)
{
	if (!heap)
		return;
	heap_reset(heap);
	free(heap);
}

DMK_API enum dmk_backend dmk_heap_backend(const struct dmk_heap *heap)
{
	return heap->backend;
}

DMK_API const char *dmk_heap_name(const struct dmk_heap *heap)
{
	return heap->name;
}

DMK_API unsigned int dmk_heap_caps(const struct dmk_heap *heap)
{
	return heap->caps;
}

DMK_API int dmk_heap_candidate(const struct dmk_heap *heap, unsigned int idx,
			       const char **name, int *verdict,
			       const char **reason)
{
	const struct dmk_candidate *c;

	if (idx < heap->ncand) {
		c = &heap->cand[idx];
		if (name)
			*name = c->name;
		if (verdict)
			*verdict = c->verdict;
		if (reason)
			*reason = c->reason;
	}
	return (int)heap->ncand;
}

static int alloc_dma_heap(struct dmk_heap *h, uint64_t size, const char *name,
			  struct dmk_buf **out)
{
	struct dma_heap_allocation_data data;
	int ret;

	memset(&data, 0, sizeof(data));
	data.len = size;
	data.fd_flags = O_RDWR | O_CLOEXEC;
	ret = dmk__ioctl(h->dev_fd, DMA_HEAP_IOCTL_ALLOC, &data);
	if (ret < 0)
		return ret;
	ret = dmk__ioctl((int)data.fd, DMA_BUF_SET_NAME_B, (void *)name);
	if (ret < 0) {
		dmk__close((int)data.fd);
		return ret;
	}
	return dmk__buf_new((int)data.fd, -1, DMK_BACKEND_DMA_HEAP, h->caps,
			    size, name, out);
}

/* Whether this machine has a CMA area (CmaTotal in /proc/meminfo > 0). */
static bool have_cma_area(void)
{
	static int cached = -1;
	char text[4096], *p;
	uint64_t kb = 0;

	if (cached >= 0)
		return cached;
	if (dmk__read_text(AT_FDCWD, "/proc/meminfo", text, sizeof(text)) > 0) {
		p = strstr(text, "CmaTotal:");
		if (p)
			kb = strtoull(p + 9, NULL, 10);
	}
	cached = kb > 0;
	return cached;
}

/*
 * Move a memfd range's pages out of the CMA area, before udmabuf takes
 * references to them.
 *
 * shmem pages are movable, so the page allocator may serve them from CMA
 * pageblocks (it does, right after a CMA buffer is freed).  A long-term
 * pin (io_uring fixed buffers, GPU host-pointer import) must first migrate
 * such pages out of CMA, and migration fails (6.1: ENOMEM) once udmabuf
 * holds page references.  So pin the range long-term once, here, while the
 * pages can still move, then unpin: udmabuf's references keep them where
 * they landed.  Measured in the VM tier, drivers-notes/udmabuf.md.
 *
 * Return: 0, or -errno when the pages could not be pinned (io_uring
 * disabled or absent): the buffer is then not offered as pinnable.
 */
static int new_pin_ring(void)
{
	struct io_uring_params params;

	memset(&params, 0, sizeof(params));
	return dmk__io_uring_setup(1, &params);
}

/* @ring: an io_uring to pin with (a heap keeps one), or -1 for a new one. */
static int migrate_out_of_cma(int ring, int memfd, uint64_t offset,
			      uint64_t size)
{
	struct iovec iov;
	uint64_t done, chunk;
	bool own_ring = ring < 0;
	void *map;
	int ret;

	ret = dmk__mmap(memfd, (size_t)size, PROT_READ | PROT_WRITE,
			(off_t)offset, &map);
	if (ret)
		return ret;
	if (own_ring) {
		ring = new_pin_ring();
		if (ring < 0) {
			ret = ring;
			goto out_unmap;
		}
	}
	/* The kernel takes at most 1 GiB per registered buffer. */
	for (done = 0; done < size && !ret; done += chunk) {
		chunk = size - done < (1ull << 30) ? size - done : 1ull << 30;
		iov.iov_base = (char *)map + done;
		iov.iov_len = (size_t)chunk;
		ret = dmk__io_uring_register(ring, IORING_REGISTER_BUFFERS,
					     &iov, 1);
		if (!ret)
			ret = dmk__io_uring_register(
				ring, IORING_UNREGISTER_BUFFERS, NULL, 0);
	}
	if (own_ring)
		dmk__close(ring);
out_unmap:
	munmap(map, (size_t)size);
	return ret;
}

/*
 * Make a udmabuf of [@offset, @offset + @size) of @memfd and wrap both.
 * Takes ownership of @memfd (closed on failure too); @name may be NULL.
 */
static int udmabuf_wrap(int dev_fd, int pin_ring, int memfd, uint64_t offset,
			uint64_t size, const char *name, struct dmk_buf **out)
{
	unsigned int caps = DMK_CAP_DMABUF | DMK_CAP_PINNABLE;
	struct udmabuf_create create;
	struct dmk_buf *buf;
	int fd, ret;

	if (have_cma_area()) {
		ret = migrate_out_of_cma(pin_ring, memfd, offset, size);
		if (ret) {
			pr_info("udmabuf: cannot move pages out of CMA (%s): "
				"not offered as pinnable\n", strerror(-ret));
			caps &= ~DMK_CAP_PINNABLE;
		}
	}
	memset(&create, 0, sizeof(create));
	create.memfd = (__u32)memfd;
	create.flags = UDMABUF_FLAGS_CLOEXEC;
	create.offset = offset;
	create.size = size;
	fd = dmk__ioctl(dev_fd, UDMABUF_CREATE, &create);
	if (fd < 0) {
		ret = fd;
		pr_warn("udmabuf: UDMABUF_CREATE(offset %llu, size %llu, "
			"seals 0x%x) refused: %s\n", (unsigned long long)offset,
			(unsigned long long)size, dmk__get_seals(memfd),
			strerror(-ret));
		goto err_memfd;
	}
	if (name) {
		ret = dmk__ioctl(fd, DMA_BUF_SET_NAME_B, (void *)name);
		if (ret < 0)
			goto err_fd;
	}
	ret = dmk__buf_new(fd, memfd, DMK_BACKEND_UDMABUF, caps, size,
			   name ? name : "", &buf);
	if (ret)
		return ret;
	buf->memfd_off = offset;
	*out = buf;
	return 0;

err_fd:
	dmk__close(fd);
err_memfd:
	dmk__close(memfd);
	return ret;
}

static int alloc_udmabuf(struct dmk_heap *h, uint64_t size, const char *name,
			 struct dmk_buf **out)
{
	/* udmabuf pins (and so allocates) every page at creation. */
	int memfd = memfd_new(name, size, false);

	if (memfd < 0)
		return memfd;
	return udmabuf_wrap(h->dev_fd, h->pin_ring, memfd, 0, size, name, out);
}

DMK_API int dmk_udmabuf_create(int memfd, uint64_t offset, uint64_t size,
			       unsigned int flags, struct dmk_buf **out)
{
	char name[DMK_MEMFD_NAME_MAX + 1] = "";
	int dev_fd, nfd, ret;

	if (flags || !out)
		return -EINVAL;
	if (memfd < 0)
		return -EBADF;
	ret = probe_open(UDMABUF_DEV, O_RDWR, &dev_fd);
	if (ret <= 0)
		return ret ? ret : -ENOENT;
	nfd = dmk__dup_cloexec(memfd);
	if (nfd < 0) {
		ret = nfd;
		goto out;
	}
	dmk__memfd_name(nfd, name, sizeof(name));
	ret = udmabuf_wrap(dev_fd, -1, nfd, offset, size, NULL, out);
	if (!ret)
		dmk__strscpy((*out)->name, name, sizeof((*out)->name));
out:
	dmk__close(dev_fd);
	return ret;
}

DMK_API int dmk_heap_alloc(struct dmk_heap *heap, uint64_t size,
			   const struct dmk_alloc_opts *uopts,
			   struct dmk_buf **out)
{
	struct dmk_alloc_opts opts;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const char *name;
	int ret, fd;

	ret = DMK_OPTS_LOAD(dmk_alloc_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!heap || !out || size == 0 || (opts.flags & ~DMK_ALLOC_POPULATE))
		return -EINVAL;
	if (__builtin_add_overflow(size, page - 1, &size))
		return -EOVERFLOW;
	size &= ~(page - 1);
	if (size > (uint64_t)INT64_MAX || size > SIZE_MAX)
		return -EOVERFLOW;	/* off_t and mmap lengths */
	name = opts.name ? opts.name : DEFAULT_NAME;
	if (strnlen(name, DMK_MEMFD_NAME_MAX + 1) > DMK_MEMFD_NAME_MAX)
		return -ENAMETOOLONG;

	switch (heap->backend) {
	case DMK_BACKEND_MEMFD:
		fd = memfd_new(name, size, opts.flags & DMK_ALLOC_POPULATE);
		if (fd < 0)
			return fd;
		return dmk__buf_new(fd, fd, DMK_BACKEND_MEMFD, heap->caps, size,
				    name, out);
	case DMK_BACKEND_UDMABUF:
		if (!dmk__dmabuf_name_ok(name))
			return -ENAMETOOLONG;
		return alloc_udmabuf(heap, size, name, out);
	case DMK_BACKEND_DMA_HEAP:
		if (!dmk__dmabuf_name_ok(name))
			return -ENAMETOOLONG;
		return alloc_dma_heap(heap, size, name, out);
	default:
		return -EINVAL;
	}
}
