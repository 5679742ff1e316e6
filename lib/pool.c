// SPDX-License-Identifier: MIT
/*
 * Pools: buffers allocated once, recycled through a lock-free bitmap.
 *
 * The free set is a bitmap of 64-bit words (1 = free), taken with a CAS on
 * one word and given back with an atomic OR.  Each buffer has a holder
 * count; the last release sets its bit again.  Only an acquire that has to
 * wait makes a syscall (a futex on `seq`, which every free bumps).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "sys.h"

struct dmk_pool {
	unsigned int count;
	unsigned int nwords;
	_Atomic uint64_t *free_bits;
	_Atomic uint32_t *refs;
	_Atomic uint32_t in_use;
	_Atomic uint32_t high_water;
	_Atomic uint64_t acquired;
	_Atomic uint64_t empty;
	_Atomic uint32_t seq;		/* futex word: bumped by every free */
	_Atomic uint32_t waiters;
	struct dmk_buf **bufs;
	void **addrs;
	bool has_layout;
	struct dmk_frame_layout layout;
};

DMK_API int dmk_pool_new(struct dmk_heap *heap, unsigned int count,
			 const struct dmk_pool_opts *uopts,
			 struct dmk_pool **out)
{
	struct dmk_pool_opts opts;
	struct dmk_pool *p;
	char name[DMK_MEMFD_NAME_MAX + 1];
	uint64_t size;
	unsigned int i;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_pool_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!heap || !out || count == 0 || count > DMK_POOL_MAX)
		return -EINVAL;
	size = opts.layout ? opts.layout->size : opts.buf_size;
	if (size == 0 || (opts.alloc_flags & ~DMK_ALLOC_POPULATE))
		return -EINVAL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->count = count;
	p->nwords = (count + 63) / 64;
	p->free_bits = calloc(p->nwords, sizeof(*p->free_bits));
	p->refs = calloc(count, sizeof(*p->refs));
	p->bufs = calloc(count, sizeof(*p->bufs));
	p->addrs = calloc(count, sizeof(*p->addrs));
	if (!p->free_bits || !p->refs || !p->bufs || !p->addrs) {
		ret = -ENOMEM;
		goto err_free;
	}
	if (opts.layout) {
		p->has_layout = true;
		p->layout = *opts.layout;
	}
	for (i = 0; i < count; i++) {
		DMK_OPTS(dmk_alloc_opts, ao, .name = name,
			 .flags = opts.alloc_flags | DMK_ALLOC_POPULATE);

		/* dma-buf names stop at 31 bytes: keep the id's end. */
		snprintf(name, sizeof(name), "%.24s-%u",
			 opts.name ? opts.name : "pool", i);
		ret = dmk_heap_alloc(heap, size, &ao, &p->bufs[i]);
		if (ret)
			goto err_free;
		ret = dmk_buf_map(p->bufs[i], &p->addrs[i]);
		if (ret)
			goto err_free;
		/* Touch every page now, so the frame path never faults. */
		if (dmk_buf_writable(p->bufs[i])) {
			ret = dmk_buf_begin_cpu(p->bufs[i], DMK_SYNC_WRITE);
			if (ret)
				goto err_free;
			memset(p->addrs[i], 0, dmk_buf_size(p->bufs[i]));
			ret = dmk_buf_end_cpu(p->bufs[i], DMK_SYNC_WRITE);
			if (ret)
				goto err_free;
		}
		atomic_init(&p->free_bits[i / 64],
			    atomic_load_explicit(&p->free_bits[i / 64],
						 memory_order_relaxed) |
			    (1ull << (i % 64)));
	}
	*out = p;
	return 0;

err_free:
	dmk_pool_free(p);
	return ret;
}

DMK_API void dmk_pool_free(struct dmk_pool *pool)
{
	unsigned int i;

	if (!pool)
		return;
	for (i = 0; pool->bufs && i < pool->count; i++)
		dmk_buf_put(pool->bufs[i]);
	free(pool->bufs);
	free(pool->addrs);
	free(pool->refs);
	free((void *)pool->free_bits);
	free(pool);
}

static void note_in_use(struct dmk_pool *p)
{
	uint32_t now = atomic_fetch_add_explicit(&p->in_use, 1,
						 memory_order_relaxed) + 1;
	uint32_t hw = atomic_load_explicit(&p->high_water,
					   memory_order_relaxed);

	while (now > hw &&
	       !atomic_compare_exchange_weak_explicit(&p->high_water, &hw, now,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Take any free bit: its id, or -1 when none. */
static int take_free(struct dmk_pool *p)
{
	unsigned int w;

	for (w = 0; w < p->nwords; w++) {
		uint64_t v = atomic_load_explicit(&p->free_bits[w],
						  memory_order_relaxed);

		while (v) {
			unsigned int bit = (unsigned int)__builtin_ctzll(v);

			/* Acquire: pairs with the release in give_back(),
			 * so the previous holder's writes are visible. */
			if (atomic_compare_exchange_weak_explicit(
				    &p->free_bits[w], &v, v & ~(1ull << bit),
				    memory_order_acquire,
				    memory_order_relaxed))
				return (int)(w * 64 + bit);
		}
	}
	return -1;
}

static int futex_wait(_Atomic uint32_t *word, uint32_t val,
		      const struct timespec *rel)
{
	if (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0))
		return dmk__neg_errno();
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

DMK_API int dmk_pool_acquire(struct dmk_pool *pool, int64_t timeout_ns)
{
	int64_t deadline = 0;
	uint32_t seq;
	int id, ret;

	id = take_free(pool);
	if (id < 0 && timeout_ns != 0) {
		if (timeout_ns > 0 &&
		    __builtin_add_overflow(now_ns(), timeout_ns, &deadline))
			deadline = INT64_MAX;
		atomic_fetch_add(&pool->waiters, 1);
		for (;;) {
			struct timespec rel, *relp = NULL;
			int64_t left;

			/* Read seq before looking again: a free that lands
			 * in between changes it and the wait returns. */
			seq = atomic_load(&pool->seq);
			id = take_free(pool);
			if (id >= 0)
				break;
			if (timeout_ns > 0) {
				left = deadline - now_ns();
				if (left <= 0)
					break;
				rel.tv_sec = left / 1000000000;
				rel.tv_nsec = left % 1000000000;
				relp = &rel;
			}
			ret = futex_wait(&pool->seq, seq, relp);
			if (ret == -EINTR) {
				atomic_fetch_sub(&pool->waiters, 1);
				return -EINTR;
			}
		}
		atomic_fetch_sub(&pool->waiters, 1);
	}
	if (id < 0) {
		atomic_fetch_add_explicit(&pool->empty, 1,
					  memory_order_relaxed);
		return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
	}
	atomic_store_explicit(&pool->refs[id], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->acquired, 1, memory_order_relaxed);
	note_in_use(pool);
	return id;
}

DMK_API int dmk_pool_ref(struct dmk_pool *pool, unsigned int id,
			 unsigned int n)
{
	uint32_t r;

	if (id >= pool->count || n == 0)
		return -EINVAL;
	r = atomic_load_explicit(&pool->refs[id], memory_order_relaxed);
	do {
		if (r == 0)
			return -ENOENT;
		if (r > UINT32_MAX - n)
			return -EOVERFLOW;
	} while (!atomic_compare_exchange_weak_explicit(
			 &pool->refs[id], &r, r + n, memory_order_relaxed,
			 memory_order_relaxed));
	return 0;
}

static void give_back(struct dmk_pool *p, unsigned int id)
{
	atomic_fetch_sub_explicit(&p->in_use, 1, memory_order_relaxed);
	atomic_fetch_or_explicit(&p->free_bits[id / 64], 1ull << (id % 64),
				 memory_order_release);
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
	/* seq_cst on both sides: a waiter that registered before our bump
	 * is seen here, one that registers after sees the new seq. */
	if (atomic_load_explicit(&p->waiters, memory_order_seq_cst))
		syscall(SYS_futex, &p->seq, FUTEX_WAKE_PRIVATE, 1, NULL,
			NULL, 0);
}

DMK_API int dmk_pool_release(struct dmk_pool *pool, unsigned int id)
{
	uint32_t r;

	if (id >= pool->count)
		return -EINVAL;
	r = atomic_load_explicit(&pool->refs[id], memory_order_relaxed);
	do {
		if (r == 0)
			return -ENOENT;
	} while (!atomic_compare_exchange_weak_explicit(
			 &pool->refs[id], &r, r - 1, memory_order_acq_rel,
			 memory_order_relaxed));
	if (r != 1)
		return 0;
	give_back(pool, id);
	return 1;
}

DMK_API struct dmk_buf *dmk_pool_buf(const struct dmk_pool *pool,
				     unsigned int id)
{
	return id < pool->count ? pool->bufs[id] : NULL;
}

DMK_API void *dmk_pool_addr(const struct dmk_pool *pool, unsigned int id)
{
	return id < pool->count ? pool->addrs[id] : NULL;
}

DMK_API unsigned int dmk_pool_count(const struct dmk_pool *pool)
{
	return pool->count;
}

DMK_API const struct dmk_frame_layout *
dmk_pool_layout(const struct dmk_pool *pool)
{
	return pool->has_layout ? &pool->layout : NULL;
}

DMK_API int dmk_pool_stats(const struct dmk_pool *pool,
			   struct dmk_pool_stats *st)
{
	struct dmk_pool_stats s;

	memset(&s, 0, sizeof(s));
	s.acquired = atomic_load_explicit(&pool->acquired,
					  memory_order_relaxed);
	s.empty = atomic_load_explicit(&pool->empty, memory_order_relaxed);
	s.in_use = atomic_load_explicit(&pool->in_use, memory_order_relaxed);
	s.high_water = atomic_load_explicit(&pool->high_water,
					    memory_order_relaxed);
	return dmk__struct_out(st, &s, sizeof(s));
}
