/* SPDX-License-Identifier: MIT */
/*
 * dmakit heaps: where buffers come from.
 *
 * A struct dmk_heap is an opened allocator: one dma-heap
 * (/dev/dma_heap/<name>), udmabuf (a sealed memfd turned into a dma-buf),
 * plain sealed memfd, or "auto", which picks one of those from what the
 * caller needs and records why every other candidate was passed over.
 */
#ifndef DMAKIT_HEAP_H
#define DMAKIT_HEAP_H

#include <stdint.h>

#include <dmakit/buf.h>
#include <dmakit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_heap;

/* Special heap names; anything else names a /dev/dma_heap entry. */
#define DMK_HEAP_AUTO "auto"
#define DMK_HEAP_UDMABUF "udmabuf"
#define DMK_HEAP_MEMFD "memfd"

struct dmk_heap_opts {
	size_t sz;
	/* DMK_CAP_* bits the buffers must offer.  Checked for every name. */
	unsigned int needs;
	/*
	 * Bit (1u << DMK_BACKEND_x) per backend "auto" must not use, to
	 * force a fallback path (tests, benchmarks, policy).
	 */
	unsigned int avoid;
	/*
	 * Called once per candidate considered, in ladder order, before
	 * dmk_heap_open() returns, on failure too (when there is no heap to
	 * ask dmk_heap_candidate()).  @verdict and @reason as there; the
	 * strings live only during the call.
	 */
	void (*report)(const char *name, int verdict, const char *reason,
		       void *user);
	void *report_user;
};
#define dmk_heap_opts__last_field report_user

/**
 * dmk_heap_open() - open an allocator.
 * @name:  "auto", "udmabuf", "memfd", or a dma-heap name such as "system",
 *         "linux,cma" or "reserved".
 * @opts:  may be NULL (no needs).
 * @out:   the heap.
 *
 * "auto" ladder: contiguous memory -> a CMA heap; a dma-buf that is also
 * pinnable -> udmabuf; a dma-buf -> the system heap, then udmabuf;
 * pinnable pages or no needs -> memfd (the cheapest, and available on every
 * kernel with memfd_create).  A CMA buffer is never offered as pinnable:
 * long-term pins try to migrate CMA pages and can stall for minutes.
 *
 * Return: 0, -EINVAL (bad name or opts), -ENOENT (no such heap, or no
 * udmabuf device), -ENOTSUP (the named backend cannot offer opts->needs, or
 * no backend can for "auto": opts->report tells why), -EACCES, -ENOMEM.
 */
DMK_API int dmk_heap_open(const char *name, const struct dmk_heap_opts *opts,
			  struct dmk_heap **out);

/** dmk_heap_close() - close the allocator; buffers it made live on. */
DMK_API void dmk_heap_close(struct dmk_heap *heap);

/** dmk_heap_backend() - the backend that serves this heap. */
DMK_API enum dmk_backend dmk_heap_backend(const struct dmk_heap *heap);

/** dmk_heap_name() - the dma-heap name, or "udmabuf" / "memfd". */
DMK_API const char *dmk_heap_name(const struct dmk_heap *heap);

/** dmk_heap_caps() - DMK_CAP_* bits every buffer of this heap offers. */
DMK_API unsigned int dmk_heap_caps(const struct dmk_heap *heap);

/**
 * dmk_heap_candidate() - the choice report of dmk_heap_open(): one entry
 * per backend considered, in ladder order.
 * @idx:     0 .. count-1.
 * @name:    the candidate's heap name (static or owned by @heap).
 * @verdict: 1 chosen, 0 passed over (does not offer what was needed, or
 *           a higher rung served), -errno unavailable on this machine.
 * @reason:  one line in words.  Owned by @heap.
 *
 * Any output pointer may be NULL.  Valid while @heap is open; an explicit
 * name yields one entry.
 *
 * Return: the number of entries (when @idx is out of range nothing is
 * written, so dmk_heap_candidate(h, UINT32_MAX, ...) counts them).
 */
DMK_API int dmk_heap_candidate(const struct dmk_heap *heap, unsigned int idx,
			       const char **name, int *verdict,
			       const char **reason);

enum dmk_alloc_flags {
	/*
	 * Allocate the pages now (fallocate on a memfd), so the frame path
	 * never takes a page fault.  dma-heaps always allocate up front.
	 */
	DMK_ALLOC_POPULATE = 1u << 0,
};

struct dmk_alloc_opts {
	size_t sz;
	/*
	 * Buffer name: memfd name (up to 249 bytes) and dma-buf name (up to
	 * 31 bytes, shown in fdinfo).  NULL: "dmakit".
	 */
	const char *name;
	unsigned int flags;	/* DMK_ALLOC_* */
};
#define dmk_alloc_opts__last_field flags

/**
 * dmk_heap_alloc() - allocate one buffer.
 * @size: bytes; rounded up to a whole number of pages.
 * @opts: may be NULL.
 * @out:  the new buffer, one reference.
 *
 * Return: 0, -EINVAL (size 0, bad flags or opts; udmabuf on 6.1 also past
 * its size_limit_mb), -EOVERFLOW (size does not fit once rounded up),
 * -ENAMETOOLONG, -ENOMEM, or -errno from the kernel.
 */
DMK_API int dmk_heap_alloc(struct dmk_heap *heap, uint64_t size,
			   const struct dmk_alloc_opts *opts,
			   struct dmk_buf **out);

/**
 * dmk_udmabuf_create() - turn a range of the caller's memfd into a udmabuf.
 * @memfd:  a memfd sealed with F_SEAL_SHRINK and without F_SEAL_WRITE.
 *          Not taken: the buffer keeps its own close-on-exec duplicate.
 * @offset: page-aligned start of the range.
 * @size:   page-aligned length, inside the memfd and within the udmabuf
 *          module's size_limit_mb.
 * @flags:  none defined yet; must be 0.
 * @out:    the new buffer (backend udmabuf, caps DMABUF | PINNABLE).
 *
 * The kernel checks the memfd and the range; its errno is returned as it
 * is (6.1: -EINVAL for misalignment, missing or forbidden seals and ranges
 * past the limit, -EBADFD for an fd that is not a shmem file), with the
 * reason sent to the log callback.
 *
 * Return: 0, -EINVAL, -EBADF, -ENOENT (no udmabuf device), or -errno.
 */
DMK_API int dmk_udmabuf_create(int memfd, uint64_t offset, uint64_t size,
			       unsigned int flags, struct dmk_buf **out);

/**
 * dmk_heap_enumerate() - call @fn for each /dev/dma_heap entry, in name
 * order, until it returns non-zero (which is then returned).
 *
 * Return: the number of entries visited (0 when the kernel has no
 * dma-heaps), @fn's non-zero value, or -errno (-EACCES, -ENOMEM).
 */
typedef int (*dmk_heap_enum_fn)(const char *name, void *user);
DMK_API int dmk_heap_enumerate(dmk_heap_enum_fn fn, void *user);

/**
 * dmk_heap_is_contig_name() - whether a dma-heap of this name is a CMA
 * heap (physically contiguous): "linux,cma", "reserved", "default_cma_region",
 * or any name containing "cma".  Returns 1 or 0.
 */
DMK_API int dmk_heap_is_contig_name(const char *name);

/*
 * Probes: 1 supported, 0 not supported (the kernel lacks it), -errno when
 * the probe itself failed (for example -EACCES on the device node).
 * They look, they never pin memory or allocate more than one page.
 */
/* dmk_probe_dma_heap(NULL): whether /dev/dma_heap exists at all. */
DMK_API int dmk_probe_dma_heap(const char *name);
DMK_API int dmk_probe_udmabuf(void);
DMK_API int dmk_probe_memfd(void);

/**
 * dmk_udmabuf_limits() - the udmabuf module's limits from
 * /sys/module/udmabuf/parameters: the largest buffer in bytes and the most
 * entries in one UDMABUF_CREATE_LIST.  Either pointer may be NULL.
 *
 * Return: 0, -ENOENT (no udmabuf, or a kernel that does not show them).
 */
DMK_API int dmk_udmabuf_limits(uint64_t *size_limit, unsigned int *list_limit);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_HEAP_H */
