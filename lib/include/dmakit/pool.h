/* SPDX-License-Identifier: MIT */
/*
 * dmakit pools: N buffers of one layout, allocated up front, recycled
 * with no allocation, lock or syscall on the acquire/release path.
 *
 * Buffers are named by their id, 0 .. count-1, which is also how a channel
 * refers to them across processes.  Each buffer carries a reference count:
 * acquire sets it to 1, dmk_pool_ref() adds holders (one per consumer a
 * frame is handed to), and the buffer is free again when the last holder
 * releases it.
 */
#ifndef DMAKIT_POOL_H
#define DMAKIT_POOL_H

#include <stdint.h>

#include <dmakit/buf.h>
#include <dmakit/common.h>
#include <dmakit/frame.h>
#include <dmakit/heap.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_pool;

#define DMK_POOL_MAX 4096	/* buffers in one pool */

struct dmk_pool_opts {
	size_t sz;
	/* Buffer names are "<name>-<id>"; NULL: "pool". */
	const char *name;
	/* DMK_ALLOC_* for every buffer (POPULATE is always added). */
	unsigned int alloc_flags;
	/* Frame layout of every buffer; NULL: raw buffers of buf_size. */
	const struct dmk_frame_layout *layout;
	/* Bytes per buffer when layout is NULL. */
	uint64_t buf_size;
};
#define dmk_pool_opts__last_field buf_size

/**
 * dmk_pool_new() - allocate @count buffers from @heap and map them.
 * @heap:  any heap; not kept (the pool may outlive it).
 * @count: 1 .. DMK_POOL_MAX.
 * @opts:  layout or buf_size is required.
 *
 * All the cost is paid here: allocation, population, mapping.
 *
 * Return: 0, -EINVAL, -ENOMEM or the heap's -errno (nothing is kept when
 * any buffer fails).
 */
DMK_API int dmk_pool_new(struct dmk_heap *heap, unsigned int count,
			 const struct dmk_pool_opts *opts,
			 struct dmk_pool **out);

/**
 * dmk_pool_free() - unmap and drop the pool's references.  Buffers the
 * caller took with dmk_buf_get() live on.  NULL is a no-op.
 */
DMK_API void dmk_pool_free(struct dmk_pool *pool);

/**
 * dmk_pool_acquire() - take a free buffer, reference count 1.
 * @timeout_ns: 0 never waits; < 0 waits forever; else at most this long.
 *
 * Thread-safe.  With a free buffer it returns at once, with no syscall.
 *
 * Return: the buffer id, -EAGAIN (none free, timeout 0), -ETIMEDOUT,
 * -EINTR (a signal interrupted the wait).
 */
DMK_API int dmk_pool_acquire(struct dmk_pool *pool, int64_t timeout_ns);

/**
 * dmk_pool_ref() - add @n holders to an acquired buffer.
 *
 * Return: 0, -EINVAL (bad id, or n == 0), -ENOENT (the buffer is free).
 */
DMK_API int dmk_pool_ref(struct dmk_pool *pool, unsigned int id,
			 unsigned int n);

/**
 * dmk_pool_release() - drop one holder; the last one frees the buffer
 * and wakes a waiting acquirer.
 *
 * Return: 1 when the buffer became free, 0 when holders remain, -EINVAL
 * (bad id), -ENOENT (the buffer was already free).
 */
DMK_API int dmk_pool_release(struct dmk_pool *pool, unsigned int id);

/** dmk_pool_buf() - buffer @id (borrowed), or NULL for a bad id. */
DMK_API struct dmk_buf *dmk_pool_buf(const struct dmk_pool *pool,
				     unsigned int id);

/** dmk_pool_addr() - buffer @id's CPU mapping, or NULL for a bad id. */
DMK_API void *dmk_pool_addr(const struct dmk_pool *pool, unsigned int id);

/** dmk_pool_count() - number of buffers. */
DMK_API unsigned int dmk_pool_count(const struct dmk_pool *pool);

/** dmk_pool_layout() - the frame layout, or NULL for raw buffers. */
DMK_API const struct dmk_frame_layout *
dmk_pool_layout(const struct dmk_pool *pool);

struct dmk_pool_stats {
	size_t sz;		/* set by the caller: sizeof(struct) */
	uint64_t acquired;	/* successful acquires */
	uint64_t empty;		/* acquires that found no free buffer */
	uint32_t in_use;	/* buffers not free now */
	uint32_t high_water;	/* most buffers ever in use at once */
};
#define dmk_pool_stats__last_field high_water

/**
 * dmk_pool_stats() - counters, written up to @st->sz bytes.
 *
 * Return: 0, -EINVAL (@st->sz too small to hold the size field).
 */
DMK_API int dmk_pool_stats(const struct dmk_pool *pool,
			   struct dmk_pool_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_POOL_H */
