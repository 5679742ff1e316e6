// SPDX-License-Identifier: MIT
/*
 * dmakit bench vk-read: how fast a Vulkan device reads a dmakit buffer
 * where it lies (a host-pointer or dma-buf import) against reading it from
 * a device-local mirror (DMK_VK_IMPORT_MIRROR), which a GPU copy fills at
 * the start of every chain replay.  One memfd buffer, three chains:
 *
 *   host-direct  --passes dispatches, each reading the whole buffer in
 *                place
 *   mirror       the mirror's copy, then the same dispatches reading the
 *                mirror
 *   mirror-copy  the copy alone (one dispatch that reads nothing: a chain
 *                needs one), so that mirror - mirror-copy is the reads
 *
 * Runs are interleaved, their order reversed every run, so machine noise
 * hits each case alike.  The shader folds what it read into a XOR and a
 * sum that the CPU checks once per reading case: the figures are for
 * reads of the real data, not of nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/dmakit.h>
#include <dmakit/vk.h>

#include "util.h"

static const uint32_t read_sum_spv[] =
#include "read_sum.spv.h"
;

#define DEFAULT_SIZE_MIB 256
/* The shader counts uvec4s in a 32-bit push constant. */
#define MAX_SIZE_MIB 4095
#define DEFAULT_PASSES 4
#define MAX_PASSES 1000
#define DEFAULT_RUNS 10
#define MAX_RUNS 100000
/* Workgroups per dispatch at most: 1024 x 256 invocations keep a large
 * GPU busy, and the output (8 bytes an invocation) stays at 2 MiB. */
#define MAX_GROUPS 1024
/* Output words an invocation did not write keep this, which the check
 * would notice. */
#define OUT_POISON 0xa5
/* A pass from the mirror must save this share of one in place for the
 * verdict to call it faster (breakeven()). */
#define MIN_SAVING 0.03

enum rcase { R_DIRECT, R_MIRROR, R_COPY, R_COUNT };

static const struct {
	const char *name;
	unsigned int flags;	/* dmk_vk_import() flags of the input */
	bool reads;		/* its dispatches read the buffer */
	bool baseline;
} cases[R_COUNT] = {
	[R_DIRECT] = { "host-direct", 0, true, true },
	[R_MIRROR] = { "mirror", DMK_VK_IMPORT_MIRROR, true, false },
	[R_COPY] = { "mirror-copy", DMK_VK_IMPORT_MIRROR, false, false },
};

struct rres {
	uint64_t *ns;		/* per run: the replay, submit to done */
	size_t n;
	struct stats st;
	char path[16];		/* the input's import path */
	bool mirrored;
	bool checked;		/* the GPU's XOR and sum matched the CPU's */
};

struct rbench {
	uint64_t size_mib, passes, runs;
	const char *device;
	bool json;

	uint64_t size;		/* bytes */
	uint32_t n16;		/* uvec4s */
	uint32_t local;		/* the stage's workgroup size */
	uint32_t groups;
	uint64_t out_size;
	uint32_t want_xor, want_sum;	/* of the input's 32-bit words */

	struct dmk_vk *vk;
	struct dmk_heap *heap;
	struct dmk_buf *in, *out;
	uint8_t *out_addr;
	struct dmk_vk_mem *out_mem;
	struct dmk_vk_stage *stage;
	struct dmk_vk_chain *chain[R_COUNT];
	struct rres res[R_COUNT];
	char reason[256];	/* of the plain import */

	/* mirror - mirror-copy per run: the mirror's reads alone. */
	int64_t *reads_ns;
	double reads_median_ns;
};

static const char bench_vkread_help[] =
	"Usage: dmakit bench vk-read [--size MiB] [--passes N] [--runs N]\n"
	"                            [--device SEL] [--json]\n"
	"\n"
	"How fast a Vulkan device reads a dmakit buffer (memfd, populated)\n"
	"in place, against from a device-local mirror, side by side:\n"
	"  host-direct  a chain of N dispatches, each reading the whole\n"
	"               buffer where it lies (host-pointer import)\n"
	"  mirror       DMK_VK_IMPORT_MIRROR: one GPU copy of the buffer into\n"
	"               device-local memory per replay, then the N reads\n"
	"               from the mirror\n"
	"  mirror-copy  the copy alone; mirror - mirror-copy, run by run, is\n"
	"               the mirror's reads alone\n"
	"GB/s = bytes read by the shader (N x size; for mirror-copy: bytes\n"
	"copied) / median replay time, 1 GB = 1e9 bytes.  Runs are\n"
	"interleaved, their order reversed every run.  The reads are checked\n"
	"once against the CPU's XOR and sum of the buffer.  The verdict says\n"
	"from how many passes the mirror pays off: copy time / (per-pass\n"
	"time in place - per-pass time from the mirror); a saving under 3%\n"
	"of a pass in place counts as none (noise).\n"
	"\n"
	"Options:\n"
	"  --size MiB    buffer size, 1 to 4095 MiB (default 256)\n"
	"  --passes N    reads of the whole buffer per replay, one dispatch\n"
	"                each, 1 to 1000 (default 4)\n"
	"  --runs N      timed replays per case, 1 to 100000 (default 10)\n"
	"  --device SEL  Vulkan device: an index into the loader's list or\n"
	"                part of its name (default: the first discrete GPU,\n"
	"                else the first device)\n"
	"  --json        a JSON array: one object per case with bench, case,\n"
	"                baseline, device, driver, path, mirrored,\n"
	"                size_bytes, passes, runs, bytes_read, checked, the\n"
	"                replay times (median_ns, p99_ns, min_ns, mean_ns,\n"
	"                max_ns) and gb_per_s; mirror adds reads_median_ns,\n"
	"                reads_gb_per_s, speedup_vs_baseline,\n"
	"                breakeven_passes and pays_off_from_passes (null:\n"
	"                never)\n"
	"  -h, --help    this text\n"
	"\n"
	"Times are CLOCK_MONOTONIC wall time per replay, submit to done;\n"
	"each includes the same submission overhead, small next to reading\n"
	"a buffer of many MiB.\n";

void bench_vkread_usage(FILE *f)
{
	fputs(bench_vkread_help, f);
}

static int parse_args(int argc, char **argv, struct rbench *b)
{
	enum { OPT_SIZE = 256, OPT_PASSES, OPT_RUNS, OPT_DEVICE, OPT_JSON };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "passes", required_argument, NULL, OPT_PASSES },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(b, 0, sizeof(*b));
	b->size_mib = DEFAULT_SIZE_MIB;
	b->passes = DEFAULT_PASSES;
	b->runs = DEFAULT_RUNS;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SIZE:
			if (parse_uint(optarg, 1, MAX_SIZE_MIB, &b->size_mib))
				return tool_usage_err("--size: '%s' is not "
					"a number of MiB from 1 to %d", optarg,
					MAX_SIZE_MIB);
			break;
		case OPT_PASSES:
			if (parse_uint(optarg, 1, MAX_PASSES, &b->passes))
				return tool_usage_err("--passes: '%s' is not "
					"a number from 1 to %d", optarg,
					MAX_PASSES);
			break;
		case OPT_RUNS:
			if (parse_uint(optarg, 1, MAX_RUNS, &b->runs))
				return tool_usage_err("--runs: '%s' is not "
					"a number from 1 to %d", optarg,
					MAX_RUNS);
			break;
		case OPT_DEVICE:
			b->device = optarg;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_vkread_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	/* Bounded above: no overflow. */
	b->size = b->size_mib << 20;
	b->n16 = (uint32_t)(b->size / 16);
	return 0;
}

/* ---- set-up ---- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Pseudo-random words, so that a read of the wrong place, or a uvec4 read
 * twice or never, changes the XOR or the sum; the expected values are
 * those of the 32-bit words, as the shader folds them.
 */
static void fill(struct rbench *b, uint64_t *p)
{
	uint64_t i, state = 0x646d6b6974ull, w;
	uint32_t x = 0, s = 0;

	for (i = 0; i < b->size / 8; i++) {
		w = splitmix64(&state);
		p[i] = w;
		x ^= (uint32_t)w ^ (uint32_t)(w >> 32);
		s += (uint32_t)w + (uint32_t)(w >> 32);
	}
	b->want_xor = x;
	b->want_sum = s;
}

static int alloc(struct rbench *b, uint64_t size, const char *name,
		 struct dmk_buf **out, void **addr)
{
	DMK_OPTS(dmk_alloc_opts, ao, .name = name,
		 .flags = DMK_ALLOC_POPULATE);
	int ret;

	ret = dmk_heap_alloc(b->heap, size, &ao, out);
	if (ret) {
		tool_err("allocating %s (%" PRIu64 " bytes): %s", name, size,
			 dmk_strerror(ret));
		return ret;
	}
	ret = dmk_buf_map(*out, addr);
	if (ret)
		tool_err("mapping %s: %s", name, dmk_strerror(ret));
	return ret;
}

static int import(struct rbench *b, struct dmk_buf *buf, unsigned int flags,
		  struct dmk_vk_mem **mem)
{
	DMK_OPTS(dmk_vk_import_opts, io, .flags = flags);

	return dmk_vk_import(b->vk, buf, &io, mem);
}

/* The XOR and sum of every invocation's output against the CPU's. */
static int check(struct rbench *b, enum rcase c)
{
	uint64_t i, nout = (uint64_t)b->groups * b->local;
	uint32_t x = 0, s = 0, w[2];

	for (i = 0; i < nout; i++) {
		memcpy(w, b->out_addr + i * 8, sizeof(w));
		x ^= w[0];
		s += w[1];
	}
	if (x != b->want_xor || s != b->want_sum) {
		tool_err("%s: the GPU read XOR %08" PRIx32 " sum %08" PRIx32
			 ", the CPU has %08" PRIx32 " %08" PRIx32
			 ": the device did not read the buffer's data",
			 cases[c].name, x, s, b->want_xor, b->want_sum);
		return -EIO;
	}
	b->res[c].checked = true;
	return 0;
}

/*
 * The chain of case @c: --passes dispatches reading the whole input (one
 * reading nothing for mirror-copy), each writing the whole output.  Run
 * once before timing (faulting pages in, filling caches), and checked.
 */
static int make_chain(struct rbench *b, enum rcase c)
{
	struct dmk_vk_binding binds[2] = {
		{ .offset = 0, .size = 0, .access = DMK_VK_READ },
		{ .mem = b->out_mem, .offset = 0, .size = b->out_size,
		  .access = DMK_VK_WRITE },
	};
	uint32_t groups[3] = { cases[c].reads ? b->groups : 1, 1, 1 };
	uint32_t n = cases[c].reads ? b->n16 : 0;
	uint64_t i, passes = cases[c].reads ? b->passes : 1;
	struct dmk_vk_chain *chain = NULL;
	struct dmk_vk_mem *in = NULL;
	const char *what;
	int ret;

	what = "import";
	ret = import(b, b->in, cases[c].flags, &in);
	if (ret)
		goto out;
	snprintf(b->res[c].path, sizeof(b->res[c].path), "%s",
		 dmk_vk_path_name(dmk_vk_mem_path(in)));
	b->res[c].mirrored = dmk_vk_mem_mirrored(in);
	binds[0].mem = in;
	what = "dmk_vk_chain_new";
	ret = dmk_vk_chain_new(b->vk, &chain);
	if (ret)
		goto out;
	what = "dmk_vk_chain_dispatch";
	for (i = 0; i < passes && !ret; i++)
		ret = dmk_vk_chain_dispatch(chain, b->stage, binds, 2, &n,
					    sizeof(n), groups);
	if (ret)
		goto out;
	what = "dmk_vk_chain_end";
	ret = dmk_vk_chain_end(chain);
	if (ret)
		goto out;
	memset(b->out_addr, OUT_POISON, b->out_size);
	what = "first run";
	ret = dmk_vk_chain_run(chain);
	if (ret)
		goto out;
	if (cases[c].reads) {
		ret = check(b, c);
		if (ret)
			goto fail;	/* reported */
	}
	b->chain[c] = chain;
	chain = NULL;
out:
	if (ret == -ERANGE)
		tool_err("%s: %s: %s (is --size over the device's "
			 "maxStorageBufferRange?)", cases[c].name, what,
			 dmk_strerror(ret));
	else if (ret)
		tool_err("%s: %s: %s", cases[c].name, what,
			 dmk_strerror(ret));
fail:
	dmk_vk_chain_free(chain);
	dmk_vk_mem_put(in);
	return ret;
}

static int setup(struct rbench *b)
{
	DMK_OPTS(dmk_vk_opts, vo, .device = b->device);
	DMK_OPTS(dmk_vk_stage_opts, so, .spirv = read_sum_spv,
		 .spirv_size = sizeof(read_sum_spv), .nbindings = 2,
		 .push_size = sizeof(uint32_t));
	struct dmk_vk_mem *held;
	uint32_t ls[3];
	void *addr;
	int ret, c;

	for (c = 0; c < R_COUNT; c++) {
		b->res[c].ns = calloc(b->runs, sizeof(uint64_t));
		if (!b->res[c].ns) {
			tool_err("out of memory");
			return -ENOMEM;
		}
	}
	b->reads_ns = calloc(b->runs, sizeof(*b->reads_ns));
	if (!b->reads_ns) {
		tool_err("out of memory");
		return -ENOMEM;
	}
	ret = dmk_vk_new(&vo, &b->vk);
	if (ret) {
		tool_err("no Vulkan device%s%s: %s", b->device ? " matching " :
			 "", b->device ? b->device : "", dmk_strerror(ret));
		return ret;
	}
	ret = dmk_vk_stage_new(b->vk, &so, &b->stage);
	if (ret) {
		tool_err("read_sum stage: %s", dmk_strerror(ret));
		return ret;
	}
	dmk_vk_stage_local_size(b->stage, ls);
	b->local = ls[0];
	/* Enough groups for one uvec4 an invocation, at most MAX_GROUPS. */
	b->groups = b->n16 / b->local + (b->n16 % b->local != 0);
	if (b->groups > MAX_GROUPS)
		b->groups = MAX_GROUPS;
	b->out_size = (uint64_t)b->groups * b->local * 8;

	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &b->heap);
	if (ret) {
		tool_err("memfd heap: %s", dmk_strerror(ret));
		return ret;
	}
	ret = alloc(b, b->size, "bench-vkread-in", &b->in, &addr);
	if (ret)
		return ret;
	fill(b, addr);
	ret = alloc(b, b->out_size, "bench-vkread-out", &b->out, &addr);
	if (ret)
		return ret;
	b->out_addr = addr;
	ret = import(b, b->out, 0, &b->out_mem);
	if (ret) {
		tool_err("importing the output: %s", dmk_strerror(ret));
		return ret;
	}
	/* The plain import's reason, for the report. */
	ret = import(b, b->in, 0, &held);
	if (ret) {
		tool_err("importing the buffer: %s", dmk_strerror(ret));
		return ret;
	}
	snprintf(b->reason, sizeof(b->reason), "%s",
		 dmk_vk_mem_reason(held));
	dmk_vk_mem_put(held);

	for (c = 0; c < R_COUNT; c++) {
		ret = make_chain(b, (enum rcase)c);
		if (ret)
			return ret;
	}
	return 0;
}

static void teardown(struct rbench *b)
{
	int c;

	for (c = 0; c < R_COUNT; c++) {
		dmk_vk_chain_free(b->chain[c]);
		free(b->res[c].ns);
	}
	free(b->reads_ns);
	dmk_vk_mem_put(b->out_mem);
	dmk_vk_stage_free(b->stage);
	/* Buffers after the chains: their last put frees the imports. */
	dmk_buf_put(b->out);
	dmk_buf_put(b->in);
	dmk_heap_close(b->heap);
	dmk_vk_free(b->vk);
}

/* ---- the runs ---- */

static int run(struct rbench *b)
{
	uint64_t r, t0, dt;
	int k, c, ret;

	for (r = 0; r < b->runs; r++) {
		for (k = 0; k < R_COUNT; k++) {
			c = r % 2 ? R_COUNT - 1 - k : k;
			t0 = now_ns();
			ret = dmk_vk_chain_run(b->chain[c]);
			dt = now_ns() - t0;
			if (ret) {
				tool_err("%s: dmk_vk_chain_run: %s",
					 cases[c].name, dmk_strerror(ret));
				return ret;
			}
			b->res[c].ns[b->res[c].n++] = dt;
		}
		b->reads_ns[r] = (int64_t)b->res[R_MIRROR].ns[r] -
				 (int64_t)b->res[R_COPY].ns[r];
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Before stats_compute(), which sorts the per-case samples. */
static void reads_median(struct rbench *b)
{
	uint64_t n = b->runs;

	qsort(b->reads_ns, n, sizeof(*b->reads_ns), cmp_i64);
	b->reads_median_ns = n % 2 ? (double)b->reads_ns[n / 2] :
			     (b->reads_ns[n / 2 - 1] + b->reads_ns[n / 2]) /
			     2.0;
}

/* ---- figures ---- */

/* At most 4095 MiB x 1000 passes: no overflow. */
static uint64_t bytes_read(const struct rbench *b, enum rcase c)
{
	return cases[c].reads ? b->size * b->passes : b->size;
}

/* Bytes per ns are GB/s. */
static double gbps(const struct rbench *b, enum rcase c)
{
	double ns = b->res[c].st.median_us * 1e3;

	return ns > 0 ? (double)bytes_read(b, c) / ns : NAN;
}

static double reads_gbps(const struct rbench *b)
{
	return b->reads_median_ns > 0 ?
	       (double)bytes_read(b, R_MIRROR) / b->reads_median_ns : NAN;
}

/*
 * The passes at which mirror and in-place reading cost the same: the copy
 * over what each pass saves by reading the mirror.  NAN when a pass from
 * the mirror is not MIN_SAVING faster than in place: below that the
 * difference is run-to-run noise (both in system memory on a CPU or
 * unified device), and a break-even point computed from it means nothing.
 */
static double breakeven(const struct rbench *b)
{
	double direct = b->res[R_DIRECT].st.median_us * 1e3 / b->passes;
	double mirror = b->reads_median_ns / b->passes;
	double copy = b->res[R_COPY].st.median_us * 1e3;

	if (!(direct - mirror > direct * MIN_SAVING) || !(copy >= 0))
		return NAN;
	return copy / (direct - mirror);
}

/* The least whole number of passes past the break-even point. */
static uint64_t pays_off_from(double be)
{
	return (uint64_t)floor(be) + 1;
}

static void print_json(struct rbench *b)
{
	double be = breakeven(b);
	struct json j;
	int c;

	json_init(&j, stdout);
	json_array_begin(&j);
	for (c = 0; c < R_COUNT; c++) {
		const struct rres *r = &b->res[c];

		json_object_begin(&j);
		json_kv_string(&j, "bench", "vk-read");
		json_kv_string(&j, "case", cases[c].name);
		json_kv_bool(&j, "baseline", cases[c].baseline);
		json_kv_string(&j, "device", dmk_vk_device_name(b->vk));
		json_kv_string(&j, "driver", dmk_vk_driver_name(b->vk));
		json_kv_string(&j, "path", r->path);
		json_kv_bool(&j, "mirrored", r->mirrored);
		json_kv_uint(&j, "size_bytes", b->size);
		json_kv_uint(&j, "passes", cases[c].reads ? b->passes : 0);
		json_kv_uint(&j, "runs", r->n);
		json_kv_uint(&j, "bytes_read", bytes_read(b, (enum rcase)c));
		json_kv_bool(&j, "checked", r->checked);
		json_kv_double(&j, "median_ns", r->st.median_us * 1e3);
		json_kv_double(&j, "p99_ns", r->st.p99_us * 1e3);
		json_kv_double(&j, "min_ns", r->st.min_us * 1e3);
		json_kv_double(&j, "mean_ns", r->st.mean_us * 1e3);
		json_kv_double(&j, "max_ns", r->st.max_us * 1e3);
		json_kv_double(&j, "gb_per_s", gbps(b, (enum rcase)c));
		if (c == R_MIRROR) {
			json_kv_double(&j, "reads_median_ns",
				       b->reads_median_ns);
			json_kv_double(&j, "reads_gb_per_s", reads_gbps(b));
			json_kv_double(&j, "speedup_vs_baseline",
				       r->st.median_us > 0 ?
				       b->res[R_DIRECT].st.median_us /
				       r->st.median_us : NAN);
			json_kv_double(&j, "breakeven_passes", be);
			if (isfinite(be))
				json_kv_uint(&j, "pays_off_from_passes",
					     pays_off_from(be));
			else
				json_kv_null(&j, "pays_off_from_passes");
		}
		json_object_end(&j);
	}
	json_array_end(&j);
	json_end(&j);
}

static void print_text(struct rbench *b)
{
	double be = breakeven(b);
	double direct = b->res[R_DIRECT].st.median_us * 1e3;
	double mirror = b->res[R_MIRROR].st.median_us * 1e3;
	int c;

	printf("bench vk-read: %" PRIu64 " MiB memfd buffer, %" PRIu64
	       " pass%s per replay, %" PRIu64 " runs each, interleaved\n",
	       b->size_mib, b->passes, b->passes == 1 ? "" : "es", b->runs);
	printf("device: %s (driver %s)\n", dmk_vk_device_name(b->vk),
	       dmk_vk_driver_name(b->vk));
	printf("import path: %s (%s)\n", b->res[R_DIRECT].path,
	       b->reason[0] ? b->reason : "first rung");
	printf("%u workgroups of %u per dispatch; reads checked against the "
	       "CPU's XOR and sum: %s\n\n", b->groups, b->local,
	       b->res[R_DIRECT].checked && b->res[R_MIRROR].checked ?
	       "match" : "NOT checked");
	printf("%-12s %-16s %6s %12s %12s %12s %10s\n", "case", "input",
	       "passes", "median", "min", "p99", "GB/s");
	for (c = 0; c < R_COUNT; c++) {
		const struct rres *r = &b->res[c];
		char input[32];

		snprintf(input, sizeof(input), "%s%s", r->path,
			 r->mirrored ? "+mirror" : "");
		printf("%-12s %-16s %6" PRIu64 " %10.3fms %10.3fms %10.3fms "
		       "%10.2f%s\n", cases[c].name, input,
		       cases[c].reads ? b->passes : 0,
		       r->st.median_us / 1e3, r->st.min_us / 1e3,
		       r->st.p99_us / 1e3, gbps(b, (enum rcase)c),
		       cases[c].reads ? "" : "  (copy)");
	}
	printf("%-12s %-16s %6" PRIu64 " %10.3fms %12s %12s %10.2f\n",
	       "mirror-reads", "mirror", b->passes,
	       b->reads_median_ns / 1e6, "", "", reads_gbps(b));
	printf("(mirror-reads: median over runs of mirror - mirror-copy)\n\n");

	printf("at %" PRIu64 " passes the mirror is %.2fx %s than reading in "
	       "place (%.3f vs %.3f ms)\n", b->passes,
	       mirror > 0 && direct > 0 ?
	       (direct >= mirror ? direct / mirror : mirror / direct) : NAN,
	       direct >= mirror ? "faster" : "slower", mirror / 1e6,
	       direct / 1e6);
	if (isfinite(be))
		printf("verdict: the mirror pays off from %" PRIu64 " pass%s "
		       "(copy %.3f ms / saving %.3f ms a pass = %.2f)\n",
		       pays_off_from(be), pays_off_from(be) == 1 ? "" : "es",
		       b->res[R_COPY].st.median_us / 1e3,
		       (direct - b->reads_median_ns) / b->passes / 1e6, be);
	else
		printf("verdict: the mirror never pays off here: a pass from "
		       "it (%.3f ms) is not 3%% faster than in place (%.3f "
		       "ms)\n",
		       b->reads_median_ns / b->passes / 1e6,
		       direct / b->passes / 1e6);
}

int bench_vkread(int argc, char **argv)
{
	struct rbench b;
	int ret, c;

	ret = parse_args(argc, argv, &b);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	ret = setup(&b);
	if (!ret)
		ret = run(&b);
	if (ret) {
		teardown(&b);
		return EXIT_FAIL;
	}
	reads_median(&b);
	for (c = 0; c < R_COUNT; c++)
		stats_compute(b.res[c].ns, b.res[c].n, &b.res[c].st);
	if (b.json)
		print_json(&b);
	else
		print_text(&b);
	teardown(&b);
	fflush(stdout);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
