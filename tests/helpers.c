// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>

#include "helpers.h"

extern char **environ;

int dmk_test_fd_count(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d, "cannot open /proc/self/fd: %s",
			   strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

void dmk_test_assert_fds(int before)
{
	int now = dmk_test_fd_count();

	cr_assert_eq(now, before, "fd leak: %d fds open before the test, "
		     "%d after", before, now);
}

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <sanitizer/lsan_interface.h>

/*
 * lavapipe (Mesa 22.3) keeps a 128-byte block in a global, allocated once
 * in vkEnumeratePhysicalDevices; when the loader unloads the driver at
 * vkDestroyInstance the block is orphaned and LeakSanitizer reports it.
 * Suppressing it needs a resolvable stack, i.e. slow unwinding
 * (fast_unwind_on_malloc=0), and that deadlocks: LLVM throws C++
 * exceptions while compiling shaders, libgcc's unwinder calls malloc with
 * its lock held, and ASan's slow unwind on that malloc takes the same lock.
 * So keep the driver loaded for the life of each test process instead: its
 * global stays reachable and there is nothing to report.  Not found (no
 * lavapipe): nothing to do.
 */
__attribute__((constructor))
static void pin_lavapipe(void)
{
	(void)dlopen("libvulkan_lvp.so", RTLD_LAZY | RTLD_NODELETE);
}

void dmk_test_assert_no_leaks(void)
{
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "memory leaked: LeakSanitizer's report is above");
}
#else
void dmk_test_assert_no_leaks(void)
{
}
#endif

static _Atomic int counting;
static _Atomic long nallocs;

#if DMK_TEST_CAN_COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static void count_one(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add(&nallocs, 1);
}

void *malloc(size_t n)
{
	count_one();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	count_one();
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	count_one();
	return __libc_realloc(p, n);
}
#endif

void dmk_test_count_allocs_start(void)
{
	atomic_store(&nallocs, 0);
	atomic_store(&counting, 1);
}

long dmk_test_count_allocs_stop(void)
{
	atomic_store(&counting, 0);
	return atomic_load(&nallocs);
}

bool dmk_test_require_all(void)
{
	const char *v = getenv("DMK_TEST_REQUIRE_ALL");

	return v && !strcmp(v, "1");
}

void dmk_test_require(int probe, const char *what)
{
	if (probe == 1)
		return;
	if (dmk_test_require_all())
		cr_assert_fail("required here (DMK_TEST_REQUIRE_ALL=1): %s%s%s",
			       what, probe < 0 ? ": " : "",
			       probe < 0 ? strerror(-probe) : "");
	cr_skip_test("%s%s%s", what, probe < 0 ? ": probe failed: " : "",
		     probe < 0 ? strerror(-probe) : "");
}

void dmk_test_require_heap(const char *name)
{
	char what[160];

	snprintf(what, sizeof(what), "no /dev/dma_heap/%s (kernel without "
		 "CONFIG_DMABUF_HEAPS%s)", name,
		 !strcmp(name, "system") ? "_SYSTEM" : "");
	dmk_test_require(dmk_probe_dma_heap(name), what);
}

void dmk_test_require_udmabuf(void)
{
	dmk_test_require(dmk_probe_udmabuf(),
			 "no /dev/udmabuf (kernel without CONFIG_UDMABUF)");
}

static char cma_name[256];

static int find_cma(const char *name, void *user)
{
	(void)user;
	if (!dmk_heap_is_contig_name(name))
		return 0;
	snprintf(cma_name, sizeof(cma_name), "%s", name);
	return 1;
}

const char *dmk_test_require_cma(void)
{
	int ret = dmk_heap_enumerate(find_cma, NULL);

	dmk_test_require(ret == 1 ? 1 : ret < 0 ? ret : 0,
			 "no CMA dma-heap (kernel without "
			 "CONFIG_DMABUF_HEAPS_CMA or no CMA area)");
	return cma_name;
}

const char *const dmk_test_backends[] = { "memfd", "udmabuf", "system",
					  "cma" };
const size_t dmk_test_nbackends =
	sizeof(dmk_test_backends) / sizeof(dmk_test_backends[0]);

const char *dmk_test_require_backend(const char *name)
{
	if (!strcmp(name, "memfd")) {
		dmk_test_require(dmk_probe_memfd(), "no sealed memfd");
		return name;
	}
	if (!strcmp(name, "udmabuf")) {
		dmk_test_require_udmabuf();
		return name;
	}
	if (!strcmp(name, "cma"))
		return dmk_test_require_cma();
	dmk_test_require_heap(name);
	return name;
}

struct dmk_buf *dmk_test_alloc(const char *heap, uint64_t size,
			       const char *name)
{
	DMK_OPTS(dmk_alloc_opts, ao, .name = name);
	struct dmk_heap *h = NULL;
	struct dmk_buf *b = NULL;
	int ret;

	ret = dmk_heap_open(heap, NULL, &h);
	cr_assert_eq(ret, 0, "dmk_heap_open(%s): %s", heap, strerror(-ret));
	ret = dmk_heap_alloc(h, size, &ao, &b);
	dmk_heap_close(h);
	cr_assert_eq(ret, 0, "dmk_heap_alloc(%s, %llu): %s", heap,
		     (unsigned long long)size, strerror(-ret));
	return b;
}

int dmk_test_fdinfo(int fd, const char *key, char *val, size_t len)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		v = line + klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(val, len, "%s", v);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

void dmk_test_fill(void *p, size_t len, uint32_t seed)
{
	unsigned char *c = p;
	uint32_t s = seed | 1;
	size_t i;

	for (i = 0; i < len; i++)
		c[i] = (unsigned char)xorshift(&s);
}

bool dmk_test_check(const void *p, size_t len, uint32_t seed)
{
	const unsigned char *c = p;
	uint32_t s = seed | 1;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != (unsigned char)xorshift(&s))
			return false;
	return true;
}

/* ---- source files and child programs ---- */

const char *dmk_test_python(void)
{
	const char *p = getenv("DMK_PYTHON");

	return p && *p ? p : "/usr/bin/python3";
}

const char *dmk_test_srcfile(const char *rel)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX - 64], *slash;
	const char *src = getenv("DMK_SRCDIR");
	ssize_t n;
	int up;

	if (src) {
		snprintf(path, sizeof(path), "%s/%s", src, rel);
		return path;
	}
	if (!access(rel, R_OK))
		return rel;
	/* build/tests/test_x or build/san/tests/test_x: look upwards. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return rel;
	exe[n] = '\0';
	for (up = 0; up < 4 && (slash = strrchr(exe, '/')); up++) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/%s", exe, rel);
		if (!access(path, R_OK))
			return path;
	}
	return rel;
}

int dmk_test_run(char *const argv[], char **out)
{
	posix_spawn_file_actions_t fa;
	size_t len = 0, cap = 4096;
	int pfd[2], status, err;
	char *buf = malloc(cap);
	pid_t pid;

	cr_assert_not_null(buf);
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (err) {
		close(pfd[0]);
		free(buf);
		return -err;
	}
	for (;;) {
		ssize_t r;

		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		r = read(pfd[0], buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
