// SPDX-License-Identifier: MIT
/*
 * dmakit bench: benchmarks, each measured side by side with its baseline
 * in the same run.  A table of benchmarks (alloc now; handoff, stream, ...
 * later) shares one way of reporting: a text table, or with --json one
 * array of objects, one per measured case, baselines included.
 *
 * bench alloc: the library's allocation path (dmk_heap_alloc + dmk_buf_map
 * + touch every page + dmk_buf_put) against the same work done with bare
 * syscalls, alternating iteration by iteration so that machine noise hits
 * both alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memfd_create, F_ADD_SEALS, CPU_SET */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

#include <dmakit/dmakit.h>

#include "util.h"

/* ---- shared reporting ---- */

struct bench_out {
	bool json;
	struct json j;
	const char *bench;
	bool header;		/* text table header printed */
};

static void out_begin(struct bench_out *o, const char *bench, bool json)
{
	memset(o, 0, sizeof(*o));
	o->bench = bench;
	o->json = json;
	if (json) {
		json_init(&o->j, stdout);
		json_array_begin(&o->j);
	}
}

static void out_end(struct bench_out *o)
{
	if (o->json) {
		json_array_end(&o->j);
		json_end(&o->j);
	}
	fflush(stdout);
}

static void out_header(struct bench_out *o)
{
	if (o->json || o->header)
		return;
	o->header = true;
	printf("%-10s %6s %-5s %6s %10s %10s %10s %10s  %s\n", "backend",
	       "size", "case", "iters", "median_us", "p99_us", "min_us",
	       "mean_us", "lib/bare (median)");
}

/* One measured case: "lib" or "bare". */
static void out_case(struct bench_out *o, const char *kase,
		     const char *backend, uint64_t size,
		     const struct stats *st, double ratio)
{
	char sz[32], r[48] = "";

	if (o->json) {
		json_object_begin(&o->j);
		json_kv_string(&o->j, "bench", o->bench);
		json_kv_string(&o->j, "case", kase);
		json_kv_string(&o->j, "backend", backend);
		json_kv_uint(&o->j, "size", size);
		json_kv_uint(&o->j, "iters", st->n);
		json_kv_double(&o->j, "median_us", st->median_us);
		json_kv_double(&o->j, "p99_us", st->p99_us);
		json_kv_double(&o->j, "min_us", st->min_us);
		json_kv_double(&o->j, "mean_us", st->mean_us);
		json_kv_double(&o->j, "max_us", st->max_us);
		json_object_end(&o->j);
		return;
	}
	out_header(o);
	if (ratio > 0)
		snprintf(r, sizeof(r), "%.3fx (%+.1f%%)", ratio,
			 (ratio - 1) * 100);
	printf("%-10s %6s %-5s %6zu %10.2f %10.2f %10.2f %10.2f%s%s\n",
	       backend, fmt_size(size, sz, sizeof(sz)), kase, st->n,
	       st->median_us, st->p99_us, st->min_us, st->mean_us,
	       *r ? "  " : "", r);
}

/* The overhead of a pair: lib median over bare median (JSON only). */
static void out_overhead(struct bench_out *o, const char *backend,
			 uint64_t size, const struct stats *lib,
			 const struct stats *bare)
{
	double ratio = lib->median_us / bare->median_us;

	if (!o->json)
		return;
	json_object_begin(&o->j);
	json_kv_string(&o->j, "bench", o->bench);
	json_kv_string(&o->j, "case", "overhead");
	json_kv_string(&o->j, "backend", backend);
	json_kv_uint(&o->j, "size", size);
	json_kv_double(&o->j, "ratio_median", ratio);
	json_kv_double(&o->j, "overhead_pct", (ratio - 1) * 100);
	json_kv_double(&o->j, "ratio_p99", lib->p99_us / bare->p99_us);
	json_kv_double(&o->j, "ratio_min", lib->min_us / bare->min_us);
	json_object_end(&o->j);
}

/*
 * A case that did not run: @kase "skipped" (the machine lacks it) or
 * "failed" (it broke while running).  @size 0: the whole backend.
 */
static void out_note(struct bench_out *o, const char *kase,
		     const char *backend, uint64_t size, const char *reason)
{
	char sz[32];

	if (o->json) {
		json_object_begin(&o->j);
		json_kv_string(&o->j, "bench", o->bench);
		json_kv_string(&o->j, "case", kase);
		json_kv_string(&o->j, "backend", backend);
		if (size)
			json_kv_uint(&o->j, "size", size);
		else
			json_kv_null(&o->j, "size");
		json_kv_string(&o->j, "reason", reason);
		json_object_end(&o->j);
		return;
	}
	out_header(o);
	printf("%-10s %6s %s: %s\n", backend,
	       size ? fmt_size(size, sz, sizeof(sz)) : "-", kase, reason);
}

/* ---- bench alloc ---- */

#define ALLOC_MAX_SIZES 32
#define ALLOC_MAX_TARGETS 32
#define BENCH_BUF_NAME "dmakit-bench"

enum target_kind { T_MEMFD, T_UDMABUF, T_DMA_HEAP };

/* One backend to measure, with what both paths need, opened once. */
struct target {
	char name[64];
	enum target_kind kind;
	struct dmk_heap *heap;	/* library path */
	int devfd;		/* bare path: /dev/udmabuf or the heap node */
	uint64_t size_limit;	/* udmabuf's, 0: none known */
};

struct alloc_bench {
	uint64_t sizes[ALLOC_MAX_SIZES];
	int nsizes;
	struct target targets[ALLOC_MAX_TARGETS];
	int ntargets;
	uint64_t iters;		/* 0: by size */
	uint64_t warmup;	/* UINT64_MAX: by iters */
	long cpu;		/* -1: no pinning */
	bool json;
	size_t page;
};

static const char bench_alloc_help[] =
	"Usage: dmakit bench alloc [--sizes LIST] [--iters N] [--warmup N]\n"
	"                          [--backends LIST] [--cpu N] [--json]\n"
	"\n"
	"Per iteration, allocate a buffer, map it, write one byte to every\n"
	"page and free it, twice, alternating iteration by iteration:\n"
	"  lib   dmk_heap_alloc (no POPULATE) + dmk_buf_map + touch +\n"
	"        dmk_buf_put\n"
	"  bare  the same by hand.  memfd: memfd_create(CLOEXEC|\n"
	"        ALLOW_SEALING) + ftruncate + F_ADD_SEALS(SHRINK|GROW|SEAL)\n"
	"        + mmap + touch + munmap + close; udmabuf: those memfd\n"
	"        steps + UDMABUF_CREATE on /dev/udmabuf (opened once) +\n"
	"        mmap of the memfd + touch + munmap + close both;\n"
	"        dma-heap: DMA_HEAP_IOCTL_ALLOC (node opened once) + mmap +\n"
	"        touch + munmap + close.\n"
	"Both name their buffers \"" BENCH_BUF_NAME "\" where the bare\n"
	"path can (memfd name); the library's DMA_BUF_SET_NAME on a heap\n"
	"buffer is counted as part of its cost.\n"
	"\n"
	"Options:\n"
	"  --sizes LIST     buffer sizes (default 4K,1M,8M,32M)\n"
	"  --iters N        measured iterations per case (default by size:\n"
	"                   2000 up to 64K, 1000 up to 1M, 200 up to 8M,\n"
	"                   60 up to 32M, fewer above)\n"
	"  --warmup N       iterations run first and discarded (default\n"
	"                   iters/10, at least 2)\n"
	"  --backends LIST  memfd, udmabuf and dma-heap names (system,\n"
	"                   linux,cma, ...); default: all of them; absent\n"
	"                   ones are skipped with the reason\n"
	"  --cpu N          pin the process to CPU N\n"
	"  --json           a JSON array: one object per case (lib and\n"
	"                   bare) with bench, case, backend, size, iters,\n"
	"                   median_us, p99_us, min_us, mean_us, max_us;\n"
	"                   one \"overhead\" object per pair (ratio_median,\n"
	"                   overhead_pct); \"skipped\"/\"failed\" objects\n"
	"                   with a reason\n"
	"  -h, --help       this text\n"
	"\n"
	"Times are CLOCK_MONOTONIC, in microseconds per iteration.\n";

static void bench_alloc_usage(FILE *f)
{
	fputs(bench_alloc_help, f);
}

static uint64_t default_iters(uint64_t size)
{
	uint64_t n;

	if (size <= (64ull << 10))
		return 2000;
	if (size <= (1ull << 20))
		return 1000;
	if (size <= (8ull << 20))
		return 200;
	if (size <= (32ull << 20))
		return 60;
	/* Keep about 2 GiB of touched memory per case, at least 5 rounds. */
	n = (2ull << 30) / size;
	return n < 5 ? 5 : n;
}

static int collect_heap_name(const char *name, void *user)
{
	struct alloc_bench *b = user;
	struct target *t;

	if (b->ntargets == ALLOC_MAX_TARGETS)
		return 0;
	t = &b->targets[b->ntargets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = T_DMA_HEAP;
	return 0;
}

static int add_target(struct alloc_bench *b, const char *name)
{
	struct target *t;
	int i;

	for (i = 0; i < b->ntargets; i++)
		if (!strcmp(b->targets[i].name, name))
			return 0;	/* listed twice: measure once */
	if (b->ntargets == ALLOC_MAX_TARGETS)
		return tool_usage_err("--backends: more than %d backends",
				      ALLOC_MAX_TARGETS);
	if (strlen(name) >= sizeof(t->name))
		return tool_usage_err("--backends: name too long: '%s'", name);
	t = &b->targets[b->ntargets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = !strcmp(name, DMK_HEAP_MEMFD) ? T_MEMFD :
		  !strcmp(name, DMK_HEAP_UDMABUF) ? T_UDMABUF : T_DMA_HEAP;
	return 0;
}

static void default_targets(struct alloc_bench *b)
{
	add_target(b, DMK_HEAP_MEMFD);
	add_target(b, DMK_HEAP_UDMABUF);
	dmk_heap_enumerate(collect_heap_name, b);
}

/*
 * --backends: comma-separated, but a heap name may hold a comma itself
 * ("linux,cma"), so at each position the longest known name wins.
 */
static int parse_backends(struct alloc_bench *b, const char *s)
{
	struct alloc_bench known = { 0 };
	static const char * const extra[] = { "linux,cma" };
	const char *names[ALLOC_MAX_TARGETS + 4];
	size_t best, len, i, n = 0;
	char item[64];
	int ret;

	if (!*s)
		return tool_usage_err("--backends: empty list");
	default_targets(&known);
	for (i = 0; i < (size_t)known.ntargets; i++)
		names[n++] = known.targets[i].name;
	for (i = 0; i < ARRAY_SIZE(extra); i++)
		names[n++] = extra[i];

	while (*s) {
		best = 0;
		for (i = 0; i < n; i++) {
			len = strlen(names[i]);
			if (!strncmp(s, names[i], len) &&
			    (s[len] == ',' || !s[len]) && len > best)
				best = len;
		}
		if (!best)
			best = strcspn(s, ",");
		if (!best)
			return tool_usage_err("--backends: empty name");
		if (best >= sizeof(item))
			return tool_usage_err("--backends: name too long");
		memcpy(item, s, best);
		item[best] = '\0';
		s += best;
		if (*s == ',' && !*++s)
			return tool_usage_err("--backends: empty name");
		if (!strcmp(item, "all")) {
			for (i = 0; i < (size_t)known.ntargets; i++) {
				ret = add_target(b, known.targets[i].name);
				if (ret)
					return ret;
			}
			continue;
		}
		ret = add_target(b, item);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_sizes(struct alloc_bench *b, const char *s)
{
	const char *cur = s;
	char item[32];
	int ret;

	b->nsizes = 0;
	while ((ret = list_next(&cur, item, sizeof(item))) > 0) {
		if (b->nsizes == ALLOC_MAX_SIZES)
			return tool_usage_err("--sizes: more than %d sizes",
					      ALLOC_MAX_SIZES);
		ret = parse_size(item, &b->sizes[b->nsizes]);
		if (ret)
			return tool_usage_err("--sizes: '%s' is not a size "
					      "such as 4K, 1M or 8M", item);
		if (b->sizes[b->nsizes] == 0)
			return tool_usage_err("--sizes: sizes must be more "
					      "than 0");
		b->nsizes++;
	}
	if (ret < 0 || b->nsizes == 0)
		return tool_usage_err("--sizes: '%s' is not a list of sizes",
				      s);
	return 0;
}

static int parse_alloc_args(int argc, char **argv, struct alloc_bench *b)
{
	enum { OPT_SIZES = 256, OPT_ITERS, OPT_WARMUP, OPT_BACKENDS, OPT_CPU,
	       OPT_JSON };
	static const struct option longopts[] = {
		{ "sizes", required_argument, NULL, OPT_SIZES },
		{ "iters", required_argument, NULL, OPT_ITERS },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "backends", required_argument, NULL, OPT_BACKENDS },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_backends = false;
	uint64_t v;
	int c, ret;

	memset(b, 0, sizeof(*b));
	b->warmup = UINT64_MAX;
	b->cpu = -1;
	b->sizes[0] = 4ull << 10;
	b->sizes[1] = 1ull << 20;
	b->sizes[2] = 8ull << 20;
	b->sizes[3] = 32ull << 20;
	b->nsizes = 4;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SIZES:
			ret = parse_sizes(b, optarg);
			if (ret)
				return ret;
			break;
		case OPT_ITERS:
			if (parse_uint(optarg, 1, 100000000, &b->iters))
				return tool_usage_err("--iters: '%s' is not a "
					"number from 1 to 100000000", optarg);
			break;
		case OPT_WARMUP:
			if (parse_uint(optarg, 0, 100000000, &b->warmup))
				return tool_usage_err("--warmup: '%s' is not "
					"a number from 0 to 100000000", optarg);
			break;
		case OPT_BACKENDS:
			ret = parse_backends(b, optarg);
			if (ret)
				return ret;
			have_backends = true;
			break;
		case OPT_CPU:
			if (parse_uint(optarg, 0, CPU_SETSIZE - 1, &v))
				return tool_usage_err("--cpu: '%s' is not a "
						      "CPU number", optarg);
			b->cpu = (long)v;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_alloc_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	if (!have_backends)
		default_targets(b);
	return 0;
}

/*
 * Open what both paths need, or say why the backend is skipped (written
 * to @why, returns false).
 */
static bool target_open(struct target *t, char *why, size_t len)
{
	char path[128];
	const char *hint;
	struct stat st;
	int ret;

	t->heap = NULL;
	t->devfd = -1;
	switch (t->kind) {
	case T_MEMFD:
		ret = dmk_probe_memfd();
		if (ret <= 0) {
			snprintf(why, len, "%s", ret == 0 ?
				 "no memfd_create with sealing on this kernel" :
				 dmk_strerror(ret));
			return false;
		}
		break;
	case T_UDMABUF:
		ret = dmk_probe_udmabuf();
		if (ret <= 0) {
			snprintf(why, len, "%s", ret == 0 ?
				 "no /dev/udmabuf (kernel built without "
				 "CONFIG_UDMABUF?)" : dmk_strerror(ret));
			return false;
		}
		t->devfd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
		if (t->devfd < 0) {
			snprintf(why, len, "/dev/udmabuf: %s", strerror(errno));
			return false;
		}
		if (dmk_udmabuf_limits(&t->size_limit, NULL))
			t->size_limit = 0;
		break;
	case T_DMA_HEAP:
		if (stat("/dev/dma_heap", &st)) {
			snprintf(why, len, "no /dev/dma_heap (kernel without "
				 "CONFIG_DMABUF_HEAPS)");
			return false;
		}
		if (strchr(t->name, '/') || !strcmp(t->name, ".") ||
		    !strcmp(t->name, "..")) {
			snprintf(why, len, "not a heap name");
			return false;
		}
		snprintf(path, sizeof(path), "/dev/dma_heap/%s", t->name);
		t->devfd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->devfd < 0) {
			snprintf(why, len, "%s: %s", path, strerror(errno));
			return false;
		}
		break;
	}
	ret = dmk_heap_open(t->name, NULL, &t->heap);
	if (ret < 0) {
		hint = tool_hint(t->name, ret);
		snprintf(why, len, "dmk_heap_open: %s%s%s%s",
			 dmk_strerror(ret), hint ? " (" : "",
			 hint ? hint : "", hint ? ")" : "");
		if (t->devfd >= 0)
			close(t->devfd);
		t->devfd = -1;
		return false;
	}
	return true;
}

static void target_close(struct target *t)
{
	dmk_heap_close(t->heap);
	t->heap = NULL;
	if (t->devfd >= 0)
		close(t->devfd);
	t->devfd = -1;
}

/* One byte per page, so every page is faulted in and dirtied. */
static inline void touch(void *p, size_t size, size_t page, unsigned char v)
{
	volatile unsigned char *c = p;
	size_t off;

	for (off = 0; off < size; off += page)
		c[off] = v;
}

/* The library path, one iteration.  0 or -errno, with @what set. */
static int iter_lib(struct target *t, size_t size, size_t page,
		    const char **what)
{
	DMK_OPTS(dmk_alloc_opts, opts, .name = BENCH_BUF_NAME);
	struct dmk_buf *buf;
	void *p;
	int ret;

	ret = dmk_heap_alloc(t->heap, size, &opts, &buf);
	if (ret < 0) {
		*what = "dmk_heap_alloc";
		return ret;
	}
	ret = dmk_buf_map(buf, &p);
	if (ret < 0) {
		*what = "dmk_buf_map";
		dmk_buf_put(buf);
		return ret;
	}
	touch(p, size, page, 1);
	dmk_buf_put(buf);
	return 0;
}

/* memfd_create + ftruncate + seals, as the library seals its own. */
static int bare_memfd(size_t size, const char **what)
{
	int fd, err;

	fd = memfd_create(BENCH_BUF_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		*what = "memfd_create";
		return -errno;
	}
	if (ftruncate(fd, (off_t)size)) {
		*what = "ftruncate";
		goto err_close;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL)) {
		*what = "F_ADD_SEALS";
		goto err_close;
	}
	return fd;

err_close:
	err = -errno;
	close(fd);
	return err;
}

/* The bare-syscall path, one iteration.  0 or -errno, with @what set. */
static int iter_bare(struct target *t, size_t size, size_t page,
		     const char **what)
{
	struct dma_heap_allocation_data hd;
	struct udmabuf_create uc;
	int memfd = -1, dfd = -1, mfd, err;
	void *p;

	switch (t->kind) {
	case T_MEMFD:
		memfd = bare_memfd(size, what);
		if (memfd < 0)
			return memfd;
		mfd = memfd;
		break;
	case T_UDMABUF:
		memfd = bare_memfd(size, what);
		if (memfd < 0)
			return memfd;
		memset(&uc, 0, sizeof(uc));
		uc.memfd = (__u32)memfd;
		uc.flags = UDMABUF_FLAGS_CLOEXEC;
		uc.offset = 0;
		uc.size = size;
		dfd = ioctl(t->devfd, UDMABUF_CREATE, &uc);
		if (dfd < 0) {
			*what = "UDMABUF_CREATE";
			goto err_close;
		}
		mfd = memfd;
		break;
	case T_DMA_HEAP:
	default:
		memset(&hd, 0, sizeof(hd));
		hd.len = size;
		hd.fd_flags = O_RDWR | O_CLOEXEC;
		if (ioctl(t->devfd, DMA_HEAP_IOCTL_ALLOC, &hd) < 0) {
			*what = "DMA_HEAP_IOCTL_ALLOC";
			return -errno;
		}
		dfd = (int)hd.fd;
		mfd = dfd;
		break;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		*what = "mmap";
		goto err_close;
	}
	touch(p, size, page, 1);
	munmap(p, size);
	if (dfd >= 0)
		close(dfd);
	if (memfd >= 0)
		close(memfd);
	return 0;

err_close:
	err = -errno;
	if (dfd >= 0)
		close(dfd);
	if (memfd >= 0)
		close(memfd);
	return err;
}

/*
 * Measure one (backend, size) pair: warm-up, then @iters rounds of one lib
 * and one bare iteration, their order swapped every round.
 */
static int run_pair(struct alloc_bench *b, struct target *t, uint64_t size,
		    struct bench_out *o)
{
	uint64_t iters = b->iters ? b->iters : default_iters(size);
	uint64_t warmup = b->warmup, i, t0, t1, *lib_ns, *bare_ns;
	struct stats lib, bare;
	const char *what = "";
	char why[256];
	int ret = 0, k;
	bool lib_first;

	if (warmup == UINT64_MAX) {
		warmup = iters / 10;
		if (warmup < 2)
			warmup = 2;
	}
	lib_ns = calloc(iters, sizeof(*lib_ns));
	bare_ns = calloc(iters, sizeof(*bare_ns));
	if (!lib_ns || !bare_ns) {
		out_note(o, "failed", t->name, size, "out of memory");
		ret = -ENOMEM;
		goto out;
	}

	for (i = 0; i < warmup + iters; i++) {
		lib_first = i & 1;
		for (k = 0; k < 2; k++) {
			bool is_lib = lib_first == (k == 0);

			t0 = now_ns();
			ret = is_lib ? iter_lib(t, size, b->page, &what) :
				       iter_bare(t, size, b->page, &what);
			t1 = now_ns();
			if (ret < 0) {
				snprintf(why, sizeof(why),
					 "%s path: %s: %s (iteration %" PRIu64
					 ")", is_lib ? "lib" : "bare", what,
					 dmk_strerror(ret), i);
				out_note(o, "failed", t->name, size, why);
				goto out;
			}
			if (i < warmup)
				continue;
			if (is_lib)
				lib_ns[i - warmup] = t1 - t0;
			else
				bare_ns[i - warmup] = t1 - t0;
		}
	}

	stats_compute(lib_ns, iters, &lib);
	stats_compute(bare_ns, iters, &bare);
	out_case(o, "lib", t->name, size, &lib,
		 lib.median_us / bare.median_us);
	out_case(o, "bare", t->name, size, &bare, 0);
	out_overhead(o, t->name, size, &lib, &bare);
out:
	free(lib_ns);
	free(bare_ns);
	fflush(stdout);
	return ret;
}

static int bench_alloc(int argc, char **argv)
{
	struct alloc_bench b;
	struct bench_out o;
	char why[256], sz[32];
	uint64_t size, avail;
	cpu_set_t set;
	int i, s, ret, failed = 0;
	long page;

	ret = parse_alloc_args(argc, argv, &b);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;

	page = sysconf(_SC_PAGESIZE);
	b.page = page > 0 ? (size_t)page : 4096;
	if (b.cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET((int)b.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			tool_err("--cpu %ld: %s (this machine has CPUs 0-%ld)",
				 b.cpu, strerror(errno),
				 sysconf(_SC_NPROCESSORS_CONF) - 1);
			return EXIT_FAIL;
		}
	}

	if (!b.json) {
		printf("bench alloc: alloc + map + touch each page + free, "
		       "lib and bare interleaved\n");
		printf("times in us per iteration (CLOCK_MONOTONIC); "
		       "warm-up discarded; page %zu\n\n", b.page);
	}
	out_begin(&o, "alloc", b.json);
	for (i = 0; i < b.ntargets; i++) {
		struct target *t = &b.targets[i];

		if (!target_open(t, why, sizeof(why))) {
			out_note(&o, "skipped", t->name, 0, why);
			continue;
		}
		for (s = 0; s < b.nsizes; s++) {
			/* Both paths round up to whole pages alike. */
			size = (b.sizes[s] + b.page - 1) / b.page * b.page;
			if (size < b.sizes[s] || size > SIZE_MAX) {
				out_note(&o, "skipped", t->name, b.sizes[s],
					 "does not fit in the address space");
				continue;
			}
			/*
			 * Every page gets touched: a size the machine cannot
			 * hold would end in the OOM killer.  Half of what is
			 * available, as a freed buffer's pages may not be
			 * back yet when the next one is made.
			 */
			if (!mem_available(&avail) && size > avail / 2) {
				snprintf(why, sizeof(why), "more than half "
					 "the %.1f GiB of memory available",
					 avail / (double)(1ull << 30));
				out_note(&o, "skipped", t->name, size, why);
				continue;
			}
			if (t->kind == T_UDMABUF && t->size_limit &&
			    size > t->size_limit) {
				snprintf(why, sizeof(why), "over udmabuf's "
					 "size_limit_mb (%s)",
					 fmt_size(t->size_limit, sz,
						  sizeof(sz)));
				out_note(&o, "skipped", t->name, size, why);
				continue;
			}
			if (run_pair(&b, t, size, &o) < 0)
				failed++;
		}
		target_close(t);
	}
	out_end(&o);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* ---- the table of benchmarks ---- */

struct bench {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *f);
};

static const struct bench benches[] = {
	{ "alloc", "allocate+map+touch+free per backend vs bare syscalls",
	  bench_alloc, bench_alloc_usage },
	{ "stream", "file -> buffers GB/s vs fio io_uring and read()",
	  bench_stream, bench_stream_usage },
	{ "handoff", "frame hand-offs/s and latency vs socket copy, fd/frame",
	  bench_handoff, bench_handoff_usage },
	{ "vk", "Vulkan import (cached, per frame) and conversions vs staging",
	  bench_vk, bench_vk_usage },
	{ "vk-read", "GPU read GB/s: host-pointer import vs local mirror",
	  bench_vkread, bench_vkread_usage },
	{ "detect", "face detection frames/s: Vulkan, CPU and OpenCV",
	  bench_detect, bench_detect_usage },
};

void cmd_bench_usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: dmakit bench <benchmark> [options]\n"
		"       dmakit bench <benchmark> --help\n"
		"\n"
		"Run a benchmark side by side with its baseline, in one run.\n"
		"\n"
		"Benchmarks:\n");
	for (i = 0; i < ARRAY_SIZE(benches); i++)
		fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
	fprintf(f,
		"\n"
		"Options:\n"
		"  -h, --help  this text\n");
}

int cmd_bench(int argc, char **argv)
{
	static char name[64];
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	size_t i;
	int c;

	/* '+': stop at the benchmark's name; its options are its own. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_bench_usage(stdout);
			return EXIT_OK;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind >= argc) {
		char list[256] = "";
		size_t off = 0;

		for (i = 0; i < ARRAY_SIZE(benches) && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off,
						"%s%s", i ? ", " : "",
						benches[i].name);
		return tool_usage_err("which benchmark? one of: %s", list);
	}
	for (i = 0; i < ARRAY_SIZE(benches); i++)
		if (!strcmp(benches[i].name, argv[optind]))
			break;
	if (i == ARRAY_SIZE(benches))
		return tool_usage_err("no such benchmark '%s'", argv[optind]);

	snprintf(name, sizeof(name), "%s %s", tool_name(), benches[i].name);
	tool_set_name(name);
	return benches[i].run(argc - optind, argv + optind);
}
