// SPDX-License-Identifier: MIT
/* pool: up-front allocation, lock-free recycling, holders, waits, stats. */
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "helpers.h"

static struct dmk_pool *new_pool(const char *heapname, unsigned int count,
				 uint64_t size)
{
	DMK_OPTS(dmk_pool_opts, po, .name = "tpool", .buf_size = size);
	struct dmk_heap *h;
	struct dmk_pool *p;
	int ret;

	cr_assert_eq(dmk_heap_open(heapname, NULL, &h), 0);
	ret = dmk_pool_new(h, count, &po, &p);
	dmk_heap_close(h);
	cr_assert_eq(ret, 0, "dmk_pool_new: %s", strerror(-ret));
	return p;
}

static void basic_cycle(const char *heap)
{
	struct dmk_pool *p = new_pool(heap, 4, 65536);
	int ids[4], i;
	bool seen[4] = { false };

	for (i = 0; i < 4; i++) {
		ids[i] = dmk_pool_acquire(p, 0);
		cr_assert_geq(ids[i], 0);
		cr_assert_lt(ids[i], 4);
		cr_assert_not(seen[ids[i]], "id %d handed out twice", ids[i]);
		seen[ids[i]] = true;
		cr_assert_not_null(dmk_pool_addr(p, (unsigned int)ids[i]));
		cr_assert_eq(dmk_buf_size(dmk_pool_buf(p, (unsigned)ids[i])),
			     65536);
	}
	cr_assert_eq(dmk_pool_acquire(p, 0), -EAGAIN);
	cr_assert_eq(dmk_pool_release(p, (unsigned int)ids[2]), 1);
	cr_assert_eq(dmk_pool_acquire(p, 0), ids[2]);
	for (i = 0; i < 4; i++)
		cr_assert_eq(dmk_pool_release(p, (unsigned int)ids[i]), 1);
	dmk_pool_free(p);
}

DMK_TEST(pool, cycle_memfd)
{
	basic_cycle("memfd");
}

DMK_TEST(pool, cycle_udmabuf)
{
	basic_cycle(dmk_test_require_backend("udmabuf"));
}

DMK_TEST(pool, cycle_system)
{
	basic_cycle(dmk_test_require_backend("system"));
}

DMK_TEST(pool, holders)
{
	struct dmk_pool *p = new_pool("memfd", 2, 4096);
	int id = dmk_pool_acquire(p, 0);

	cr_assert_eq(dmk_pool_ref(p, (unsigned int)id, 2), 0);
	cr_assert_eq(dmk_pool_release(p, (unsigned int)id), 0);
	cr_assert_eq(dmk_pool_release(p, (unsigned int)id), 0);
	cr_assert_eq(dmk_pool_release(p, (unsigned int)id), 1);
	/* Free now: a further release or ref is an error, not a wrap. */
	cr_assert_eq(dmk_pool_release(p, (unsigned int)id), -ENOENT);
	cr_assert_eq(dmk_pool_ref(p, (unsigned int)id, 1), -ENOENT);
	cr_assert_eq(dmk_pool_release(p, 2), -EINVAL);
	cr_assert_eq(dmk_pool_release(p, ~0u), -EINVAL);
	cr_assert_eq(dmk_pool_ref(p, 0, 0), -EINVAL);
	cr_assert_null(dmk_pool_buf(p, 2));
	cr_assert_null(dmk_pool_addr(p, 2));
	dmk_pool_free(p);
}

DMK_TEST(pool, bad_args)
{
	DMK_OPTS(dmk_pool_opts, none);
	DMK_OPTS(dmk_pool_opts, ok, .buf_size = 4096);
	DMK_OPTS(dmk_pool_opts, flags, .buf_size = 4096, .alloc_flags = 8);
	struct dmk_heap *h;
	struct dmk_pool *p = NULL;

	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(dmk_pool_new(h, 0, &ok, &p), -EINVAL);
	cr_assert_eq(dmk_pool_new(h, DMK_POOL_MAX + 1, &ok, &p), -EINVAL);
	cr_assert_eq(dmk_pool_new(h, 2, &none, &p), -EINVAL);
	cr_assert_eq(dmk_pool_new(h, 2, NULL, &p), -EINVAL);
	cr_assert_eq(dmk_pool_new(h, 2, &flags, &p), -EINVAL);
	cr_assert_eq(dmk_pool_new(NULL, 2, &ok, &p), -EINVAL);
	cr_assert_null(p);
	dmk_pool_free(NULL);
	dmk_heap_close(h);
}

DMK_TEST(pool, frame_layout)
{
	DMK_OPTS(dmk_pool_opts, po, .layout = NULL);
	struct dmk_frame_layout l;
	struct dmk_heap *h;
	struct dmk_pool *p;

	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 1920, 1080,
					   NULL), 0);
	po.layout = &l;
	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(dmk_pool_new(h, 3, &po, &p), 0);
	dmk_heap_close(h);
	cr_assert_eq(dmk_pool_count(p), 3);
	cr_assert_not_null(dmk_pool_layout(p));
	cr_assert_eq(dmk_pool_layout(p)->fourcc, DRM_FORMAT_NV12);
	cr_assert_geq(dmk_buf_size(dmk_pool_buf(p, 0)), l.size);
	cr_assert_str_eq(dmk_buf_name(dmk_pool_buf(p, 1)), "pool-1");
	dmk_pool_free(p);
}

DMK_TEST(pool, failed_allocation_keeps_nothing)
{
	DMK_OPTS(dmk_pool_opts, po, .buf_size = 4096);
	struct rlimit old, lim;
	struct dmk_heap *h;
	struct dmk_pool *p = NULL;
	int ret;

	/* Room for two more fds: the third buffer fails, the first two must
	 * be unwound (the fd-leak check around the test verifies it). */
	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)dmk_test_fd_count() + 2;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	ret = dmk_pool_new(h, 8, &po, &p);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_eq(ret, -EMFILE, "%s", strerror(-ret));
	cr_assert_null(p);
	dmk_heap_close(h);
}

DMK_TEST(pool, timeout_and_wakeup)
{
	struct dmk_pool *p = new_pool("memfd", 1, 4096);
	struct timespec t0, t1;
	int id = dmk_pool_acquire(p, 0);
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(dmk_pool_acquire(p, 20 * 1000000), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert_geq(ms, 19, "returned after %ld ms", ms);
	cr_assert_eq(dmk_pool_release(p, (unsigned int)id), 1);
	dmk_pool_free(p);
}

struct waker {
	struct dmk_pool *p;
	int id;
};

static void *release_later(void *arg)
{
	struct waker *w = arg;
	struct timespec d = { 0, 10 * 1000000 };

	nanosleep(&d, NULL);
	dmk_pool_release(w->p, (unsigned int)w->id);
	return NULL;
}

DMK_TEST(pool, blocking_acquire_is_woken)
{
	struct waker w = { .p = new_pool("memfd", 1, 4096) };
	pthread_t t;

	w.id = dmk_pool_acquire(w.p, 0);
	cr_assert_eq(pthread_create(&t, NULL, release_later, &w), 0);
	/* Waits forever unless the release wakes it. */
	cr_assert_eq(dmk_pool_acquire(w.p, -1), w.id);
	pthread_join(t, NULL);
	dmk_pool_release(w.p, (unsigned int)w.id);
	dmk_pool_free(w.p);
}

struct stress {
	struct dmk_pool *p;
	_Atomic int *owner;
	int iters;
	int me;
};

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	int i;

	for (i = 0; i < s->iters; i++) {
		int id = dmk_pool_acquire(s->p, -1), prev = 0;

		if (id < 0)
			return (void *)1;
		/* Nobody else may hold this id right now. */
		if (!atomic_compare_exchange_strong(&s->owner[id], &prev,
						    s->me))
			return (void *)2;
		atomic_store(&s->owner[id], 0);
		if (dmk_pool_release(s->p, (unsigned int)id) != 1)
			return (void *)3;
	}
	return NULL;
}

DMK_TEST(pool, threads_never_share_a_buffer)
{
	struct dmk_pool *p = new_pool("memfd", 3, 4096);
	_Atomic int owner[3] = { 0 };
	struct stress s[4];
	pthread_t t[4];
	struct dmk_pool_stats st = { .sz = sizeof(st) };
	void *res;
	int i;

	for (i = 0; i < 4; i++) {
		s[i] = (struct stress){ p, owner, 50000, i + 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, stress_thread, &s[i]),
			     0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &res);
		cr_assert_null(res, "thread %d failed: %ld", i, (long)res);
	}
	cr_assert_eq(dmk_pool_stats(p, &st), 0);
	cr_assert_eq(st.acquired, 200000);
	cr_assert_eq(st.in_use, 0);
	cr_assert_leq(st.high_water, 3);
	dmk_pool_free(p);
}

DMK_TEST(pool, stats)
{
	struct dmk_pool *p = new_pool("memfd", 2, 4096);
	struct dmk_pool_stats st = { .sz = sizeof(st) };
	struct {
		size_t sz;
		uint64_t acquired;
	} old = { .sz = sizeof(old) };
	int a = dmk_pool_acquire(p, 0), b = dmk_pool_acquire(p, 0);

	cr_assert_eq(dmk_pool_acquire(p, 0), -EAGAIN);
	dmk_pool_release(p, (unsigned int)a);
	cr_assert_eq(dmk_pool_stats(p, &st), 0);
	cr_assert_eq(st.acquired, 2);
	cr_assert_eq(st.empty, 1);
	cr_assert_eq(st.in_use, 1);
	cr_assert_eq(st.high_water, 2);
	/* An older caller's smaller struct gets what fits. */
	cr_assert_eq(dmk_pool_stats(p, (struct dmk_pool_stats *)&old), 0);
	cr_assert_eq(old.acquired, 2);
	st.sz = 2;
	cr_assert_eq(dmk_pool_stats(p, &st), -EINVAL);
	dmk_pool_release(p, (unsigned int)b);
	dmk_pool_free(p);
}

DMK_TEST(pool, no_allocation_on_the_frame_path)
{
	struct dmk_pool *p = new_pool("memfd", 4, 4096);
	int i;

#if DMK_TEST_CAN_COUNT_ALLOCS
	long n;

	dmk_test_count_allocs_start();
	for (i = 0; i < 100000; i++) {
		int id = dmk_pool_acquire(p, 0);

		dmk_pool_ref(p, (unsigned int)id, 1);
		dmk_pool_release(p, (unsigned int)id);
		dmk_pool_release(p, (unsigned int)id);
	}
	n = dmk_test_count_allocs_stop();
	cr_assert_eq(n, 0, "%ld allocations", n);
	dmk_pool_free(p);
#else
	(void)i;
	dmk_pool_free(p);
	cr_skip_test("ASan replaces malloc: allocations are counted in the "
		     "plain build");
#endif
}

/*
 * No syscall on the acquire/release path: run it in a child under
 * SECCOMP_MODE_STRICT, where any syscall but read, write, exit and
 * sigreturn kills the process with SIGKILL.
 */
DMK_TEST(pool, no_syscall_on_the_frame_path)
{
	struct dmk_pool *p = new_pool("memfd", 4, 4096);
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int i, bad = 0;

		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
			syscall(SYS_exit, 2);
		for (i = 0; i < 100000; i++) {
			int a = dmk_pool_acquire(p, 0);
			int b = dmk_pool_acquire(p, -1);	/* one is free */

			bad |= a < 0 || b < 0;
			bad |= dmk_pool_ref(p, (unsigned int)a, 1) != 0;
			bad |= dmk_pool_release(p, (unsigned int)a) != 0;
			bad |= dmk_pool_release(p, (unsigned int)a) != 1;
			bad |= dmk_pool_release(p, (unsigned int)b) != 1;
		}
		syscall(SYS_exit, bad ? 1 : 0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child killed by signal %d: a syscall "
		  "on the frame path", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0);
	dmk_pool_free(p);
}
