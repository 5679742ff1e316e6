// SPDX-License-Identifier: MIT
/* One fd-backed buffer: identity, mapping, CPU-access brackets, import. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "internal.h"
#include "sys.h"

int dmk__is_memfd(int fd)
{
	char path[64], link[16];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return dmk__neg_errno();
	link[n] = '\0';
	return !strncmp(link, "/memfd:", 7);
}

void dmk__memfd_name(int fd, char *name, size_t len)
{
	/* /proc/self/fd/N reads "/memfd:NAME (deleted)". */
	static const char prefix[] = "/memfd:", suffix[] = " (deleted)";
	char path[64], link[DMK_MEMFD_NAME_MAX + 32];
	ssize_t n;
	size_t sl = sizeof(suffix) - 1;

	name[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return;
	link[n] = '\0';
	if (strncmp(link, prefix, sizeof(prefix) - 1))
		return;
	if ((size_t)n >= sl && !strcmp(link + n - sl, suffix))
		link[n - sl] = '\0';
	dmk__strscpy(name, link + sizeof(prefix) - 1, len);
}

int dmk__buf_new(int fd, int memfd, enum dmk_backend backend,
		 unsigned int caps, uint64_t size, const char *name,
		 struct dmk_buf **out)
{
	struct dmk_buf *buf;
	int err, prim = fd >= 0 ? fd : memfd;

	buf = calloc(1, sizeof(*buf));
	if (!buf) {
		err = -ENOMEM;
		goto err_close;
	}
	atomic_init(&buf->refs, 1);
	buf->fd = prim;
	buf->memfd = memfd;
	buf->backend = backend;
	buf->caps = caps;
	buf->size = size;
	buf->writable = true;
	atomic_init(&buf->map, NULL);
	dmk__strscpy(buf->name, name ? name : "", sizeof(buf->name));
	/* Default attributes: initialisation cannot fail on Linux. */
	pthread_mutex_init(&buf->hook_lock, NULL);
	buf->hooks = NULL;
	*out = buf;
	return 0;

err_close:
	dmk__close(fd);
	if (memfd != fd)
		dmk__close(memfd);
	return err;
}

DMK_API struct dmk_buf *dmk_buf_get(struct dmk_buf *buf)
{
	atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
	return buf;
}

int dmk__buf_add_free_hook(struct dmk_buf *buf, struct dmk__buf_hook *hook)
{
	if (!hook || !hook->fn)
		return -EINVAL;
	pthread_mutex_lock(&buf->hook_lock);
	hook->next = buf->hooks;
	buf->hooks = hook;
	pthread_mutex_unlock(&buf->hook_lock);
	return 0;
}

int dmk__buf_del_free_hook(struct dmk_buf *buf, struct dmk__buf_hook *hook)
{
	struct dmk__buf_hook **pp;
	int ret = -ENOENT;

	pthread_mutex_lock(&buf->hook_lock);
	for (pp = &buf->hooks; *pp; pp = &(*pp)->next) {
		if (*pp == hook) {
			*pp = hook->next;
			hook->next = NULL;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&buf->hook_lock);
	return ret;
}

/*
 * Run the free hooks of a buffer nobody references any more.  The list is
 * taken whole under the lock, then each hook runs unlocked: a hook may
 * wait (for a device to finish with the pages) and take its owner's
 * locks, and its owner may call dmk__buf_del_free_hook() under those same
 * locks, learning -ENOENT once the list is taken.
 */
static void buf_run_hooks(struct dmk_buf *buf)
{
	struct dmk__buf_hook *h, *next;

	pthread_mutex_lock(&buf->hook_lock);
	h = buf->hooks;
	buf->hooks = NULL;
	pthread_mutex_unlock(&buf->hook_lock);
	for (; h; h = next) {
		next = h->next;	/* fn may free h */
		h->fn(buf, h);
	}
}

DMK_API void dmk_buf_put(struct dmk_buf *buf)
{
	void *map;

	if (!buf)
		return;
	/* Release pairs with the acquire below: the last putter sees every
	 * write other holders made before dropping their reference. */
	if (atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_release) != 1)
		return;
	atomic_thread_fence(memory_order_acquire);
	/* Before the unmap: a device may hold the mapping (host import). */
	buf_run_hooks(buf);
	map = atomic_load_explicit(&buf->map, memory_order_relaxed);
	if (map)
		munmap(map, buf->size);
	if (buf->memfd >= 0 && buf->memfd != buf->fd)
		dmk__close(buf->memfd);
	dmk__close(buf->fd);
	pthread_mutex_destroy(&buf->hook_lock);
	free(buf);
}

DMK_API int dmk_buf_fd(const struct dmk_buf *buf)
{
	return buf->fd;
}

DMK_API int dmk_buf_memfd(const struct dmk_buf *buf)
{
	return buf->memfd >= 0 ? buf->memfd : -ENOENT;
}

DMK_API uint64_t dmk_buf_memfd_offset(const struct dmk_buf *buf)
{
	return buf->memfd_off;
}

DMK_API uint64_t dmk_buf_size(const struct dmk_buf *buf)
{
	return buf->size;
}

DMK_API enum dmk_backend dmk_buf_backend(const struct dmk_buf *buf)
{
	return buf->backend;
}

DMK_API unsigned int dmk_buf_caps(const struct dmk_buf *buf)
{
	return buf->caps;
}

DMK_API void dmk_buf_identity(const struct dmk_buf *buf, dev_t *dev,
			      ino_t *ino)
{
	struct dmk_buf *b = (struct dmk_buf *)buf;
	struct stat st;

	/*
	 * Taken on first use, not at allocation: the fstat() was the one
	 * syscall dmakit added over the bare allocation sequence.  Racing
	 * callers store the same values; the fd cannot fail fstat().
	 */
	if (!atomic_load_explicit(&b->have_identity, memory_order_acquire)) {
		if (fstat(b->fd, &st) == 0) {
			b->dev = st.st_dev;
			b->ino = st.st_ino;
		}
		atomic_store_explicit(&b->have_identity, true,
				      memory_order_release);
	}
	if (dev)
		*dev = b->dev;
	if (ino)
		*ino = b->ino;
}

DMK_API const char *dmk_buf_name(const struct dmk_buf *buf)
{
	return buf->name;
}

DMK_API bool dmk_buf_writable(const struct dmk_buf *buf)
{
	return buf->writable;
}

static bool buf_is_dmabuf(const struct dmk_buf *buf)
{
	return buf->fd != buf->memfd;
}

DMK_API int dmk_buf_set_name(struct dmk_buf *buf, const char *name)
{
	int ret;

	if (!name)
		return -EINVAL;
	if (!buf_is_dmabuf(buf))
		return -ENOTSUP;
	if (!dmk__dmabuf_name_ok(name))
		return -ENAMETOOLONG;
	/* The argument is the string itself, not a pointer to it. */
	ret = dmk__ioctl(buf->fd, DMA_BUF_SET_NAME_B, (void *)name);
	if (ret < 0)
		return ret;
	/* A udmabuf's memfd keeps its own name; the buffer shows the new one. */
	dmk__strscpy(buf->name, name, sizeof(buf->name));
	return 0;
}

DMK_API int dmk_buf_map(struct dmk_buf *buf, void **addr)
{
	void *p, *expected = NULL;
	int fd, prot, ret;

	p = atomic_load_explicit(&buf->map, memory_order_acquire);
	if (p) {
		*addr = p;
		return 0;
	}
	if (buf->size > SIZE_MAX)
		return -EOVERFLOW;
	/* CPU access and pinning go through the memfd where there is one:
	 * its pages are ordinary shmem pages, a dma-buf mapping is PFNMAP. */
	fd = buf->memfd >= 0 ? buf->memfd : buf->fd;
	prot = PROT_READ | (buf->writable ? PROT_WRITE : 0);
	ret = dmk__mmap(fd, (size_t)buf->size, prot,
			fd == buf->memfd ? (off_t)buf->memfd_off : 0, &p);
	if (ret)
		return ret;
	/* Two threads may race to map: one mapping wins, the other goes. */
	if (!atomic_compare_exchange_strong_explicit(&buf->map, &expected, p,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		munmap(p, (size_t)buf->size);
		p = expected;
	}
	*addr = p;
	return 0;
}

static int buf_sync(struct dmk_buf *buf, unsigned int dir, uint64_t phase)
{
	struct dma_buf_sync sync;

	if (dir == 0 || (dir & ~(unsigned int)DMK_SYNC_RW))
		return -EINVAL;
	if (!buf_is_dmabuf(buf))
		return 0;	/* a memfd's mapping is always coherent */
	memset(&sync, 0, sizeof(sync));
	sync.flags = phase;
	if (dir & DMK_SYNC_READ)
		sync.flags |= DMA_BUF_SYNC_READ;
	if (dir & DMK_SYNC_WRITE)
		sync.flags |= DMA_BUF_SYNC_WRITE;
	return dmk__ioctl(buf->fd, DMA_BUF_IOCTL_SYNC, &sync);
}

DMK_API int dmk_buf_begin_cpu(struct dmk_buf *buf, unsigned int dir)
{
	return buf_sync(buf, dir, DMA_BUF_SYNC_START);
}

DMK_API int dmk_buf_end_cpu(struct dmk_buf *buf, unsigned int dir)
{
	return buf_sync(buf, dir, DMA_BUF_SYNC_END);
}

DMK_API const char *dmk_backend_name(enum dmk_backend backend)
{
	switch (backend) {
	case DMK_BACKEND_DMA_HEAP:
		return "dma-heap";
	case DMK_BACKEND_UDMABUF:
		return "udmabuf";
	case DMK_BACKEND_MEMFD:
		return "memfd";
	case DMK_BACKEND_IMPORTED_DMABUF:
		return "imported-dmabuf";
	case DMK_BACKEND_IMPORTED_MEMFD:
		return "imported-memfd";
	case DMK_BACKEND_NONE:
		break;
	}
	return "none";
}

/*
 * Classify a foreign fd: 1 dma-buf, 0 memfd sealed against shrinking, or
 * the -errno dmk_buf_import() documents.
 */
static int import_classify(int fd, int *seals)
{
	struct statfs sfs;
	struct stat st;
	int s;

	if (fstat(fd, &st))
		return -EBADF;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (fstatfs(fd, &sfs))
		return dmk__neg_errno();
	if ((unsigned long)sfs.f_type == DMA_BUF_MAGIC)
		return 1;
	if (!S_ISREG(st.st_mode) ||
	    ((unsigned long)sfs.f_type != TMPFS_MAGIC &&
	     (unsigned long)sfs.f_type != HUGETLBFS_MAGIC)) {
		pr_debug("import: fd %d is neither a dma-buf nor a memfd "
			 "(mode 0%o, fs 0x%lx)\n", fd, st.st_mode,
			 (unsigned long)sfs.f_type);
		return -ENOTSUP;
	}
	/*
	 * Other shmem files (tmpfs, /dev/shm) report F_SEAL_SEAL only; tell
	 * them apart by the name memfd_create() gives, so the caller learns
	 * "not a memfd" rather than "not sealed".
	 */
	if (dmk__is_memfd(fd) == 0) {
		pr_debug("import: fd %d is a shmem file, not a memfd\n", fd);
		return -ENOTSUP;
	}
	s = dmk__get_seals(fd);
	if (s < 0)
		return -ENOTSUP;
	if (!(s & F_SEAL_SHRINK)) {
		pr_debug("import: memfd %d is not sealed against shrinking\n",
			 fd);
		return -EPERM;
	}
	*seals = s;
	return 0;
}

DMK_API int dmk_buf_import(int fd, unsigned int flags,
			   const struct dmk_buf_import_opts *uopts,
			   struct dmk_buf **out)
{
	struct dmk_buf_import_opts opts;
	enum dmk_backend backend;
	char name[DMK_MEMFD_NAME_MAX + 1] = "";
	struct dmk_buf *buf;
	uint64_t size;
	int kind, seals = 0, nfd, ret, fl;

	ret = DMK_OPTS_LOAD(dmk_buf_import_opts, &opts, uopts);
	if (ret)
		return ret;
	if (flags || !out)
		return -EINVAL;
	if (opts.name && !dmk__dmabuf_name_ok(opts.name))
		return -ENAMETOOLONG;
	if (fd < 0)
		return -EBADF;
	kind = import_classify(fd, &seals);
	if (kind < 0)
		return kind;
	ret = dmk__fd_size(fd, &size);
	if (ret)
		return ret;
	if (size == 0)
		return -ENODATA;
	if (size < opts.min_size)
		return -ERANGE;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return dmk__neg_errno();

	nfd = dmk__dup_cloexec(fd);
	if (nfd < 0)
		return nfd;
	if (kind == 1) {
		backend = DMK_BACKEND_IMPORTED_DMABUF;
		if (opts.name) {
			ret = dmk__ioctl(nfd, DMA_BUF_SET_NAME_B,
					 (void *)opts.name);
			if (ret)
				goto err_close;
			dmk__strscpy(name, opts.name, sizeof(name));
		} else if (dmk__fdinfo_field(nfd, "name", name, sizeof(name))) {
			name[0] = '\0';
		}
		ret = dmk__buf_new(nfd, -1, backend, DMK_CAP_DMABUF, size,
				   name, &buf);
	} else {
		if (opts.name) {
			ret = -ENOTSUP;	/* a memfd's name is fixed */
			goto err_close;
		}
		backend = DMK_BACKEND_IMPORTED_MEMFD;
		dmk__memfd_name(nfd, name, sizeof(name));
		ret = dmk__buf_new(nfd, nfd, backend, DMK_CAP_PINNABLE, size,
				   name, &buf);
	}
	if (ret)
		return ret;	/* dmk__buf_new closed nfd */
	/* A read-only fd, or a memfd sealed against writes, maps read-only. */
	buf->writable = (fl & O_ACCMODE) == O_RDWR &&
			!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
	*out = buf;
	return 0;

err_close:
	dmk__close(nfd);
	return ret;
}
