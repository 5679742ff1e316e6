/* SPDX-License-Identifier: MIT */
/*
 * dmakit buffers: one fd-backed buffer, whatever its origin.
 *
 * A struct dmk_buf wraps a dma-buf (from a dma-heap or udmabuf), a sealed
 * memfd, or both (a udmabuf keeps the memfd it was made from: the memfd's
 * mapping is the one to use for CPU access and for anything that pins
 * pages, see drivers-notes/udmabuf.md).  Buffers are reference counted;
 * the fds belong to the buffer and are closed by the last dmk_buf_put().
 */
#ifndef DMAKIT_BUF_H
#define DMAKIT_BUF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <dmakit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_buf;

/* Where a buffer's memory came from. */
enum dmk_backend {
	DMK_BACKEND_NONE = 0,
	DMK_BACKEND_DMA_HEAP = 1,	/* /dev/dma_heap/<name> */
	DMK_BACKEND_UDMABUF = 2,	/* sealed memfd turned into a dma-buf */
	DMK_BACKEND_MEMFD = 3,		/* sealed memfd, no dma-buf */
	DMK_BACKEND_IMPORTED_DMABUF = 4,/* foreign dma-buf, exporter unknown */
	DMK_BACKEND_IMPORTED_MEMFD = 5,	/* foreign sealed memfd */
};

/* What a buffer offers (dmk_buf_caps()); also what an allocation needs. */
enum dmk_caps {
	/* dmk_buf_fd() is a real dma-buf a device driver can import. */
	DMK_CAP_DMABUF = 1u << 0,
	/*
	 * dmk_buf_map() returns pages that get_user_pages() can pin: io_uring
	 * fixed buffers, O_DIRECT, GPU host-pointer import.  dma-buf mappings
	 * are VM_PFNMAP and cannot be pinned; memfd pages can.
	 */
	DMK_CAP_PINNABLE = 1u << 1,
	/* Physically contiguous memory (a CMA heap). */
	DMK_CAP_CONTIG = 1u << 2,
};

/* CPU-access directions for dmk_buf_begin_cpu() / dmk_buf_end_cpu(). */
enum dmk_sync {
	DMK_SYNC_READ = 1u << 0,
	DMK_SYNC_WRITE = 1u << 1,
	DMK_SYNC_RW = DMK_SYNC_READ | DMK_SYNC_WRITE,
};

struct dmk_buf_import_opts {
	size_t sz;
	/*
	 * Fail with -ERANGE when the fd's real size (lseek SEEK_END) is
	 * smaller than this.  0: any non-zero size.
	 */
	uint64_t min_size;
	/* Optional name for a dma-buf (DMA_BUF_SET_NAME); NULL keeps it. */
	const char *name;
};
#define dmk_buf_import_opts__last_field name

/**
 * dmk_buf_import() - wrap a foreign fd after validating it.
 * @fd:    a dma-buf, or a memfd sealed against shrinking (F_SEAL_SHRINK).
 *         Not taken: the buffer holds its own close-on-exec duplicate,
 *         and @fd stays the caller's on success and on failure.
 * @flags: none defined yet; must be 0.
 * @opts:  may be NULL.
 * @out:   the new buffer, one reference.
 *
 * The size is read from the fd itself, never trusted from a peer.  A memfd
 * without F_SEAL_SHRINK could be truncated under a mapping (SIGBUS), so it
 * is refused.
 *
 * Return: 0, or -EBADF (not an open fd), -EISDIR (a directory),
 * -ENOTSUP (a pipe, socket, device, regular file or anything that is not a
 * dma-buf or memfd), -EPERM (a memfd without F_SEAL_SHRINK), -ENODATA
 * (size 0), -ERANGE (smaller than @opts->min_size), -EINVAL (bad flags or
 * opts), -ENOMEM.
 */
DMK_API int dmk_buf_import(int fd, unsigned int flags,
			   const struct dmk_buf_import_opts *opts,
			   struct dmk_buf **out);

/** dmk_buf_get() - take one more reference; returns @buf. */
DMK_API struct dmk_buf *dmk_buf_get(struct dmk_buf *buf);

/**
 * dmk_buf_put() - drop a reference; the last one unmaps the buffer and
 * closes its fds.  NULL is a no-op.  Thread-safe.
 */
DMK_API void dmk_buf_put(struct dmk_buf *buf);

/**
 * dmk_buf_fd() - the buffer's primary fd: the dma-buf when there is one,
 * else the memfd.  Borrowed: valid until the last put; dup() it to keep it
 * or to hand it to an API that takes ownership (Vulkan imports do).
 */
DMK_API int dmk_buf_fd(const struct dmk_buf *buf);

/**
 * dmk_buf_memfd() - the memfd behind the buffer (memfd and udmabuf
 * backends, imported memfds), borrowed like dmk_buf_fd(); -ENOENT for a
 * buffer with no memfd (a heap buffer, an imported dma-buf).
 */
DMK_API int dmk_buf_memfd(const struct dmk_buf *buf);

/**
 * dmk_buf_memfd_offset() - where the buffer starts inside dmk_buf_memfd():
 * 0 except for a udmabuf made by dmk_udmabuf_create() at an offset.
 */
DMK_API uint64_t dmk_buf_memfd_offset(const struct dmk_buf *buf);

/** dmk_buf_size() - size in bytes (a whole number of pages when allocated here). */
DMK_API uint64_t dmk_buf_size(const struct dmk_buf *buf);

/** dmk_buf_backend() - where the memory came from. */
DMK_API enum dmk_backend dmk_buf_backend(const struct dmk_buf *buf);

/** dmk_buf_caps() - DMK_CAP_* bits the buffer offers. */
DMK_API unsigned int dmk_buf_caps(const struct dmk_buf *buf);

/**
 * dmk_buf_identity() - the identity of the primary fd's file: two fds
 * refer to the same buffer exactly when both values match.  Either
 * pointer may be NULL.
 */
DMK_API void dmk_buf_identity(const struct dmk_buf *buf, dev_t *dev,
			      ino_t *ino);

/**
 * dmk_buf_name() - the buffer's name: the dma-buf name, or the memfd name
 * (without the "memfd:" prefix).  Empty string when unnamed.  Valid until
 * the next dmk_buf_set_name() or the last put.
 */
DMK_API const char *dmk_buf_name(const struct dmk_buf *buf);

/**
 * dmk_buf_set_name() - name a dma-buf (shown as "name:" in fdinfo).
 *
 * Return: 0, -ENAMETOOLONG (over 31 bytes, the kernel's limit), -ENOTSUP
 * (a plain memfd: its name is fixed at creation), -EBUSY (older kernels
 * refuse to rename a dma-buf that a device has attached), -errno.
 */
DMK_API int dmk_buf_set_name(struct dmk_buf *buf, const char *name);

/**
 * dmk_buf_map() - map the whole buffer shared into this process.
 * @addr: the mapping.  It is made once and kept until the last put;
 *        later calls return the same address.
 *
 * The mapping is read-write when the fd allows it (see dmk_buf_writable()),
 * read-only otherwise.  For a udmabuf it is the memfd's mapping, whose
 * pages can be pinned.
 *
 * Return: 0 or -errno from mmap().
 */
DMK_API int dmk_buf_map(struct dmk_buf *buf, void **addr);

/** dmk_buf_writable() - whether dmk_buf_map() gives a writable mapping. */
DMK_API bool dmk_buf_writable(const struct dmk_buf *buf);

/**
 * dmk_buf_begin_cpu() / dmk_buf_end_cpu() - bracket CPU access to the
 * mapping (DMA_BUF_IOCTL_SYNC on dma-bufs; nothing to do for a memfd).
 * @dir: DMK_SYNC_READ, DMK_SYNC_WRITE or DMK_SYNC_RW; end with the same.
 *
 * Return: 0, -EINVAL for any other @dir, or -errno from the kernel.
 */
DMK_API int dmk_buf_begin_cpu(struct dmk_buf *buf, unsigned int dir);
DMK_API int dmk_buf_end_cpu(struct dmk_buf *buf, unsigned int dir);

/** dmk_backend_name() - "dma-heap", "udmabuf", "memfd", ... */
DMK_API const char *dmk_backend_name(enum dmk_backend backend);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_BUF_H */
