/* SPDX-License-Identifier: MIT */
/* Shared test helpers: fd-leak fixtures and kernel-feature requirements. */
#ifndef DMK_TEST_HELPERS_H
#define DMK_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

/* Number of open fds in this process (from /proc/self/fd). */
int dmk_test_fd_count(void);

/*
 * Every test is killed by SIGALRM (a crash, so a failure) past this: a hang
 * must fail, not stall the run.  Generous, since the VM tier emulates the
 * CPU.  Criterion's own .timeout leaks in its runner under LeakSanitizer,
 * so it is not used.  A test may set its own alarm().
 */
#define DMK_TEST_TIMEOUT_S 300

/*
 * A test whose body must leave the fd count as it found it: a leak (or a
 * double close) fails it.  Criterion 2.4 ignores failures in .fini
 * fixtures, so the check wraps the body instead.  A body that fails or
 * skips early never reaches the check, which is fine: it already failed.
 */
#define DMK_TEST(suite, name, ...)					\
	static void suite##_##name##_body(void);			\
	Test(suite, name, ##__VA_ARGS__)				\
	{								\
		int fds_before_ = dmk_test_fd_count();			\
									\
		alarm(DMK_TEST_TIMEOUT_S);				\
		suite##_##name##_body();				\
		dmk_test_assert_fds(fds_before_);			\
		dmk_test_assert_no_leaks();				\
	}								\
	static void suite##_##name##_body(void)

/* Fail the test unless exactly @before fds are open now. */
void dmk_test_assert_fds(int before);

/*
 * Under ASan: fail the test if LeakSanitizer finds memory nothing points
 * to any more.  (Criterion ignores LSan's exit status, so without this a
 * leak would only print.)  Elsewhere a no-op.
 */
void dmk_test_assert_no_leaks(void);

/*
 * Turn a probe (1 / 0 / -errno) into a requirement: 1 returns, anything
 * else skips the test with @what as the reason, or fails it when
 * DMK_TEST_REQUIRE_ALL=1 (the VM tier, whose kernel has every feature).
 */
void dmk_test_require(int probe, const char *what);

/* Require a dma-heap by name, udmabuf, or a CMA heap (returns its name). */
void dmk_test_require_heap(const char *name);
void dmk_test_require_udmabuf(void);
const char *dmk_test_require_cma(void);

/* Whether the VM tier asked for every feature to be present. */
bool dmk_test_require_all(void);

/* Open heap @name (no needs) and allocate @size bytes; asserts success. */
struct dmk_buf *dmk_test_alloc(const char *heap, uint64_t size,
			       const char *name);

/* The value of "key:" in /proc/self/fdinfo/<fd>, into @val; 0 or -errno. */
int dmk_test_fdinfo(int fd, const char *key, char *val, size_t len);

/*
 * Counting allocations (malloc, calloc, realloc), to show a frame path
 * makes none.  helpers.c interposes them; ASan interposes them itself, so
 * under ASan nothing is counted and DMK_TEST_CAN_COUNT_ALLOCS is 0.
 */
#if defined(__SANITIZE_ADDRESS__)
#define DMK_TEST_CAN_COUNT_ALLOCS 0
#else
#define DMK_TEST_CAN_COUNT_ALLOCS 1
#endif
/* Start counting from zero; stop and return the count. */
void dmk_test_count_allocs_start(void);
long dmk_test_count_allocs_stop(void);

/* Fill / check a deterministic pattern seeded by @seed. */
void dmk_test_fill(void *p, size_t len, uint32_t seed);
bool dmk_test_check(const void *p, size_t len, uint32_t seed);

/* A heap name from the list the test is parameterised over. */
extern const char *const dmk_test_backends[];
extern const size_t dmk_test_nbackends;

/* Skip unless heap @name (memfd, udmabuf, system, cma) is present. */
const char *dmk_test_require_backend(const char *name);

/* The python that has OpenCV (cv2): $DMK_PYTHON, else /usr/bin/python3. */
const char *dmk_test_python(void);

/*
 * A file of the source tree ("tests/opencv_detect.py"): under
 * $DMK_SRCDIR, else from the current directory, else searched upwards
 * from the test binary's directory.  A static buffer: copy to keep.
 */
const char *dmk_test_srcfile(const char *rel);

/*
 * Run @argv (argv[0] a path) with stdin from /dev/null; its stdout,
 * NUL-terminated and malloc'd, into *@out (NULL: discarded).  Return: its
 * exit status, 128 when a signal ended it, -errno when it did not start.
 */
int dmk_test_run(char *const argv[], char **out);

#endif
