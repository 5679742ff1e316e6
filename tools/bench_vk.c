// SPDX-License-Identifier: MIT
/*
 * dmakit bench vk: what getting a frame to a Vulkan device costs, each way
 * side by side with its baseline in one run, on 1080p NV12 frames in a
 * pool of memfd buffers:
 *
 *   import-cached       dmk_vk_import() of a buffer already imported, and
 *                       dmk_vk_mem_put(): the cache lookup a pipeline pays
 *                       per frame (target: < 2 us)
 *   import-every-frame  the baseline: a fresh import (DMK_VK_IMPORT_
 *                       UNCACHED) and its release, every frame
 *   zero-copy           per frame: the cached import of the frame, then a
 *                       chain recorded once converting it where it lies
 *                       (host-pointer or dma-buf import) into an output
 *                       imported the same way
 *   staging             the baseline: the same with frame and output
 *                       imported with DMK_VK_IMPORT_STAGING, copied into a
 *                       Vulkan buffer before every run and back after
 *   direct / mirror     a chain converting the same frame MULTI_READS
 *                       times (a stage that reads its input many times):
 *                       the frame read in place, or through a device-local
 *                       mirror (DMK_VK_IMPORT_MIRROR) that a GPU copy
 *                       fills at every replay
 *
 * Conversions: NV12 1920x1080 to planar RGB f32 640x640 ("rgbf") and to
 * GRAY8 1920x1080 ("gray8").  Cases are interleaved frame by frame, in an
 * order reversed every frame, so machine noise hits each alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>
#include <dmakit/vk.h>

#include "pattern.h"
#include "util.h"

#define IN_W 1920
#define IN_H 1080
#define RGBF_W 640
#define RGBF_H 640
#define POOL_BUFS 4
#define MULTI_READS 4
#define DEFAULT_FRAMES 100
#define MAX_FRAMES 1000000
/* Import cases run this many times --frames: they take microseconds. */
#define IMPORT_REPEAT 50
/* import-cached is timed in batches: one clock read per batch, so the
 * clock's own cost (tens of ns) does not swamp a lookup. */
#define CACHED_BATCH 64
/* Means of per-channel normalisation (any finite values would do). */
#define NORM_MEAN 0.5f
#define NORM_SCALE 2.0f

enum vcase {
	V_IMPORT_CACHED,
	V_IMPORT_UNCACHED,
	V_ZC_RGBF,
	V_ST_RGBF,
	V_ZC_GRAY,
	V_ST_GRAY,
	V_DIRECT,
	V_MIRROR,
	V_COUNT
};

#define V_FIRST_CHAIN V_ZC_RGBF

static const struct {
	const char *name;
	const char *convert;	/* NULL: no conversion */
	unsigned int src_flags;	/* dmk_vk_import() flags of the frame */
	unsigned int dst_flags;	/* and of the output */
	bool baseline;
} cases[V_COUNT] = {
	[V_IMPORT_CACHED] = { "import-cached", NULL, 0, 0, false },
	[V_IMPORT_UNCACHED] = { "import-every-frame", NULL,
				DMK_VK_IMPORT_UNCACHED, 0, true },
	[V_ZC_RGBF] = { "zero-copy", "rgbf", 0, 0, false },
	[V_ST_RGBF] = { "staging", "rgbf", DMK_VK_IMPORT_STAGING,
			DMK_VK_IMPORT_STAGING, true },
	[V_ZC_GRAY] = { "zero-copy", "gray8", 0, 0, false },
	[V_ST_GRAY] = { "staging", "gray8", DMK_VK_IMPORT_STAGING,
			DMK_VK_IMPORT_STAGING, true },
	[V_DIRECT] = { "direct", "rgbf", 0, 0, true },
	[V_MIRROR] = { "mirror", "rgbf", DMK_VK_IMPORT_MIRROR, 0, false },
};

/* One case's samples and what it found. */
struct vres {
	uint64_t *ns;		/* per frame (import-cached: per batch mean) */
	size_t n;
	uint64_t total_ns;	/* sum of every frame's time */
	uint64_t frames;	/* frames measured */
	struct stats st;
	bool failed;
	char why[256];
	char src_path[16], dst_path[16];
	bool mirrored;
	/* Against its baseline, frame by frame (both ran back to back):
	 * median of baseline - this case. */
	bool paired;
	double paired_gain_ns;
};

struct vbench {
	uint64_t frames;
	const char *device;
	bool json;
	struct dmk_vk *vk;
	struct dmk_heap *heap;
	struct dmk_pool *pool;
	const struct dmk_frame_layout *layout;
	struct dmk_buf *out_rgbf;	/* MULTI_READS rgbf outputs */
	struct dmk_buf *out_gray;
	/* The pool's cached imports, held for the whole run. */
	struct dmk_vk_mem *held[POOL_BUFS];
	struct dmk_vk_chain *chain[V_COUNT][POOL_BUFS];
	struct vres res[V_COUNT];
	char src_reason[256];
	char import_path[16];
};

static const char bench_vk_help[] =
	"Usage: dmakit bench vk [--frames N] [--device SEL] [--json]\n"
	"\n"
	"What getting frames to a Vulkan device costs, 1920x1080 NV12 frames\n"
	"in a pool of 4 memfd buffers, each case beside its baseline:\n"
	"  import-cached       dmk_vk_import() of an already imported buffer\n"
	"                      + dmk_vk_mem_put(), ns per frame (target:\n"
	"                      < 2 us)\n"
	"  import-every-frame  a fresh import (DMK_VK_IMPORT_UNCACHED) + put\n"
	"                      per frame\n"
	"  zero-copy           per frame: the frame's cached import + a chain\n"
	"                      recorded once that converts it in place\n"
	"                      (host-pointer or dma-buf import)\n"
	"  staging             the same through DMK_VK_IMPORT_STAGING: frame\n"
	"                      copied in before each run, output copied out\n"
	"                      after (target: zero-copy faster)\n"
	"  direct, mirror      a chain converting the frame 4 times: read in\n"
	"                      place, or from a device-local mirror filled by\n"
	"                      a GPU copy every replay (DMK_VK_IMPORT_MIRROR)\n"
	"Conversions: rgbf = NV12 1920x1080 -> planar RGB f32 640x640,\n"
	"gray8 = NV12 1920x1080 -> GRAY8 1920x1080.  Conversion cases are\n"
	"interleaved frame by frame, their order reversed every frame, so\n"
	"each case runs right next to its baseline; the verdicts use the\n"
	"median of those per-frame differences.\n"
	"\n"
	"Options:\n"
	"  --frames N    frames per conversion case (default 100); the\n"
	"                import cases run 50 times as many\n"
	"  --device SEL  Vulkan device: an index into the loader's list or\n"
	"                part of its name (default: the first discrete GPU,\n"
	"                else the first device)\n"
	"  --json        a JSON array: one object per case (baselines\n"
	"                included) with bench, case, convert, baseline,\n"
	"                device, driver, src_path, dst_path, format, width,\n"
	"                height, out_width, out_height, frames, the times\n"
	"                (median_ns, p99_ns, min_ns, mean_ns, max_ns) and\n"
	"                frames_per_s; speedup_vs_baseline (median over\n"
	"                median) and paired_gain_ns (median of the\n"
	"                per-frame baseline - case differences, the cases\n"
	"                having run back to back); failed cases with a\n"
	"                reason\n"
	"  -h, --help    this text\n"
	"\n"
	"Times are CLOCK_MONOTONIC wall time per frame, the chain's submit\n"
	"and wait included (a frame is done when its output is readable).\n";

void bench_vk_usage(FILE *f)
{
	fputs(bench_vk_help, f);
}

static int parse_args(int argc, char **argv, struct vbench *b)
{
	enum { OPT_FRAMES = 256, OPT_DEVICE, OPT_JSON };
	static const struct option longopts[] = {
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(b, 0, sizeof(*b));
	b->frames = DEFAULT_FRAMES;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, MAX_FRAMES, &b->frames))
				return tool_usage_err("--frames: '%s' is not "
					"a number from 1 to %d", optarg,
					MAX_FRAMES);
			break;
		case OPT_DEVICE:
			b->device = optarg;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_vk_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

__attribute__((format(printf, 3, 4)))
static void fail(struct vbench *b, enum vcase c, const char *fmt, ...)
{
	struct vres *r = &b->res[c];
	va_list ap;

	if (r->failed)
		return;		/* the first reason is the one that matters */
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static int import(struct vbench *b, struct dmk_buf *buf, unsigned int flags,
		  struct dmk_vk_mem **mem)
{
	DMK_OPTS(dmk_vk_import_opts, io, .flags = flags);

	return dmk_vk_import(b->vk, buf, &io, mem);
}

/* ---- set-up ---- */

/*
 * The chain of case @c for pool buffer @id: one conversion (MULTI_READS
 * for direct and mirror, into separate outputs), imports made with the
 * case's flags.  The chain holds its own references to both imports.
 */
static int make_chain(struct vbench *b, enum vcase c, unsigned int id)
{
	DMK_OPTS(dmk_vk_convert, cv);
	struct dmk_vk_mem *src = NULL, *dst = NULL;
	struct dmk_vk_chain *chain = NULL;
	bool gray = !strcmp(cases[c].convert, "gray8");
	unsigned int i, n = c >= V_DIRECT ? MULTI_READS : 1;
	int ret;

	ret = import(b, dmk_pool_buf(b->pool, id), cases[c].src_flags, &src);
	if (ret) {
		fail(b, c, "import of the frame: %s", dmk_strerror(ret));
		goto out;
	}
	ret = import(b, gray ? b->out_gray : b->out_rgbf, cases[c].dst_flags,
		     &dst);
	if (ret) {
		fail(b, c, "import of the output: %s", dmk_strerror(ret));
		goto out;
	}
	snprintf(b->res[c].src_path, sizeof(b->res[c].src_path), "%s",
		 dmk_vk_path_name(dmk_vk_mem_path(src)));
	snprintf(b->res[c].dst_path, sizeof(b->res[c].dst_path), "%s",
		 dmk_vk_path_name(dmk_vk_mem_path(dst)));
	b->res[c].mirrored = dmk_vk_mem_mirrored(src);

	ret = dmk_vk_chain_new(b->vk, &chain);
	if (ret) {
		fail(b, c, "dmk_vk_chain_new: %s", dmk_strerror(ret));
		goto out;
	}
	cv.kind = gray ? DMK_VK_CONVERT_GRAY8 : DMK_VK_CONVERT_RGB_PLANAR_F32;
	cv.src = src;
	cv.src_layout = *b->layout;
	cv.dst = dst;
	cv.out_w = gray ? IN_W : RGBF_W;
	cv.out_h = gray ? IN_H : RGBF_H;
	for (i = 0; i < 3; i++) {
		cv.mean[i] = NORM_MEAN;
		cv.scale[i] = NORM_SCALE;
	}
	for (i = 0; i < n; i++) {
		cv.dst_offset = (uint64_t)i * RGBF_W * RGBF_H * 3 * 4;
		ret = dmk_vk_chain_convert(chain, &cv);
		if (ret) {
			fail(b, c, "dmk_vk_chain_convert: %s",
			     dmk_strerror(ret));
			goto out;
		}
	}
	ret = dmk_vk_chain_end(chain);
	if (ret) {
		fail(b, c, "dmk_vk_chain_end: %s", dmk_strerror(ret));
		goto out;
	}
	/* Warm-up: the first replay may fault pages in or fill caches. */
	ret = dmk_vk_chain_run(chain);
	if (ret) {
		fail(b, c, "first run: %s", dmk_strerror(ret));
		goto out;
	}
	b->chain[c][id] = chain;
	chain = NULL;
out:
	dmk_vk_chain_free(chain);
	dmk_vk_mem_put(dst);
	dmk_vk_mem_put(src);
	return ret;
}

static int alloc_out(struct vbench *b, uint64_t size, const char *name,
		     struct dmk_buf **out)
{
	DMK_OPTS(dmk_alloc_opts, ao, .name = name,
		 .flags = DMK_ALLOC_POPULATE);
	int ret = dmk_heap_alloc(b->heap, size, &ao, out);

	if (ret)
		tool_err("allocating %s (%" PRIu64 " bytes): %s", name, size,
			 dmk_strerror(ret));
	return ret;
}

static int setup(struct vbench *b)
{
	DMK_OPTS(dmk_vk_opts, vo, .device = b->device);
	DMK_OPTS(dmk_pool_opts, po, .name = "bench-vk");
	struct dmk_frame_layout l;
	unsigned int id;
	int ret, c;

	ret = dmk_vk_new(&vo, &b->vk);
	if (ret) {
		tool_err("no Vulkan device%s%s: %s", b->device ? " matching " :
			 "", b->device ? b->device : "", dmk_strerror(ret));
		return ret;
	}
	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &b->heap);
	if (ret) {
		tool_err("memfd heap: %s", dmk_strerror(ret));
		return ret;
	}
	ret = dmk_frame_layout_init(&l, DRM_FORMAT_NV12, IN_W, IN_H, NULL);
	if (ret) {
		tool_err("NV12 layout: %s", dmk_strerror(ret));
		return ret;
	}
	po.layout = &l;
	ret = dmk_pool_new(b->heap, POOL_BUFS, &po, &b->pool);
	if (ret) {
		tool_err("pool of %d 1080p NV12 buffers: %s", POOL_BUFS,
			 dmk_strerror(ret));
		return ret;
	}
	b->layout = dmk_pool_layout(b->pool);
	for (id = 0; id < POOL_BUFS; id++)
		pattern_draw(b->layout, dmk_pool_addr(b->pool, id), id);
	ret = alloc_out(b, (uint64_t)MULTI_READS * RGBF_W * RGBF_H * 3 * 4,
			"bench-vk-rgbf", &b->out_rgbf);
	if (!ret)
		ret = alloc_out(b, (uint64_t)IN_W * IN_H, "bench-vk-gray",
				&b->out_gray);
	if (ret)
		return ret;

	/* The imports every case finds in the cache. */
	for (id = 0; id < POOL_BUFS; id++) {
		ret = import(b, dmk_pool_buf(b->pool, id), 0, &b->held[id]);
		if (ret) {
			tool_err("importing pool buffer %u: %s", id,
				 dmk_strerror(ret));
			return ret;
		}
	}
	snprintf(b->import_path, sizeof(b->import_path), "%s",
		 dmk_vk_path_name(dmk_vk_mem_path(b->held[0])));
	snprintf(b->src_reason, sizeof(b->src_reason), "%s",
		 dmk_vk_mem_reason(b->held[0]));

	for (c = 0; c < V_COUNT; c++) {
		b->res[c].ns = calloc(c < V_FIRST_CHAIN ?
				      b->frames * IMPORT_REPEAT : b->frames,
				      sizeof(uint64_t));
		if (!b->res[c].ns) {
			tool_err("out of memory");
			return -ENOMEM;
		}
		if (c < V_FIRST_CHAIN) {
			snprintf(b->res[c].src_path,
				 sizeof(b->res[c].src_path), "%s",
				 b->import_path);
			continue;
		}
		/* A case that cannot be set up is reported, not fatal. */
		for (id = 0; id < POOL_BUFS; id++)
			if (make_chain(b, (enum vcase)c, id))
				break;
	}
	return 0;
}

static void teardown(struct vbench *b)
{
	unsigned int id;
	int c;

	for (c = 0; c < V_COUNT; c++) {
		for (id = 0; id < POOL_BUFS; id++)
			dmk_vk_chain_free(b->chain[c][id]);
		free(b->res[c].ns);
	}
	for (id = 0; id < POOL_BUFS; id++)
		dmk_vk_mem_put(b->held[id]);
	/* Buffers after everything that imported them: their last put
	 * frees the imports. */
	dmk_buf_put(b->out_gray);
	dmk_buf_put(b->out_rgbf);
	dmk_pool_free(b->pool);
	dmk_heap_close(b->heap);
	dmk_vk_free(b->vk);
}

/* ---- the cases ---- */

/*
 * import-cached and import-every-frame, alternating: a batch of cached
 * lookups, then one uncached import, and so on through the pool.
 */
static void run_imports(struct vbench *b)
{
	struct vres *rc = &b->res[V_IMPORT_CACHED];
	struct vres *ru = &b->res[V_IMPORT_UNCACHED];
	uint64_t n = b->frames * IMPORT_REPEAT, i, t0, dt;
	struct dmk_vk_mem *m;
	unsigned int k;
	int ret;

	for (i = 0; i < n; i++) {
		struct dmk_buf *buf = dmk_pool_buf(b->pool, i % POOL_BUFS);

		if (!rc->failed && i % CACHED_BATCH == 0) {
			t0 = now_ns();
			for (k = 0; k < CACHED_BATCH; k++) {
				ret = import(b, dmk_pool_buf(b->pool,
							     k % POOL_BUFS),
					     0, &m);
				if (ret) {
					fail(b, V_IMPORT_CACHED, "import: %s",
					     dmk_strerror(ret));
					break;
				}
				dmk_vk_mem_put(m);
			}
			dt = now_ns() - t0;
			rc->ns[rc->n++] = dt / CACHED_BATCH;
			rc->total_ns += dt;
			rc->frames += CACHED_BATCH;
		}
		if (ru->failed)
			continue;
		t0 = now_ns();
		ret = import(b, buf, DMK_VK_IMPORT_UNCACHED, &m);
		if (ret) {
			fail(b, V_IMPORT_UNCACHED, "import: %s",
			     dmk_strerror(ret));
			continue;
		}
		dmk_vk_mem_put(m);
		dt = now_ns() - t0;
		ru->ns[ru->n++] = dt;
		ru->total_ns += dt;
		ru->frames++;
	}
}

/* One frame of a conversion case: the frame's (cached) import, the
 * chain's replay until its output is readable, the release. */
static void run_frame(struct vbench *b, enum vcase c, uint64_t frame)
{
	unsigned int id = frame % POOL_BUFS;
	struct vres *r = &b->res[c];
	struct dmk_vk_mem *m;
	uint64_t t0, dt;
	int ret;

	if (r->failed)
		return;
	t0 = now_ns();
	ret = import(b, dmk_pool_buf(b->pool, id), cases[c].src_flags, &m);
	if (ret) {
		fail(b, c, "import: %s", dmk_strerror(ret));
		return;
	}
	ret = dmk_vk_chain_run(b->chain[c][id]);
	dmk_vk_mem_put(m);
	dt = now_ns() - t0;
	if (ret) {
		fail(b, c, "dmk_vk_chain_run: %s", dmk_strerror(ret));
		return;
	}
	r->ns[r->n++] = dt;
	r->total_ns += dt;
	r->frames++;
}

static void run_chains(struct vbench *b)
{
	uint64_t f;
	int k, c;

	for (f = 0; f < b->frames; f++) {
		for (k = 0; k < V_COUNT - V_FIRST_CHAIN; k++) {
			c = f % 2 ? V_COUNT - 1 - k : V_FIRST_CHAIN + k;
			run_frame(b, (enum vcase)c, f);
		}
	}
}

/* ---- output ---- */

static double fps(const struct vres *r)
{
	return r->total_ns ? r->frames * 1e9 / r->total_ns : 0;
}

/* The baseline a case is compared with, or -1. */
static int baseline_of(enum vcase c)
{
	switch (c) {
	case V_IMPORT_CACHED:
		return V_IMPORT_UNCACHED;
	case V_ZC_RGBF:
		return V_ST_RGBF;
	case V_ZC_GRAY:
		return V_ST_GRAY;
	case V_MIRROR:
		return V_DIRECT;
	default:
		return -1;
	}
}

static void out_size(enum vcase c, uint32_t *w, uint32_t *h)
{
	bool gray = cases[c].convert && !strcmp(cases[c].convert, "gray8");

	*w = !cases[c].convert ? 0 : gray ? IN_W : RGBF_W;
	*h = !cases[c].convert ? 0 : gray ? IN_H : RGBF_H;
}

static void print_json(struct vbench *b)
{
	struct json j;
	uint32_t w, h;
	int c, base;

	json_init(&j, stdout);
	json_array_begin(&j);
	for (c = 0; c < V_COUNT; c++) {
		struct vres *r = &b->res[c];

		json_object_begin(&j);
		json_kv_string(&j, "bench", "vk");
		json_kv_string(&j, "case", cases[c].name);
		if (cases[c].convert)
			json_kv_string(&j, "convert", cases[c].convert);
		else
			json_kv_null(&j, "convert");
		json_kv_bool(&j, "baseline", cases[c].baseline);
		json_kv_string(&j, "device", dmk_vk_device_name(b->vk));
		json_kv_string(&j, "driver", dmk_vk_driver_name(b->vk));
		json_kv_string(&j, "src_path", r->src_path);
		if (cases[c].convert)
			json_kv_string(&j, "dst_path", r->dst_path);
		if (c == V_MIRROR)
			json_kv_bool(&j, "mirrored", r->mirrored);
		json_kv_string(&j, "format", "NV12");
		json_kv_uint(&j, "width", IN_W);
		json_kv_uint(&j, "height", IN_H);
		out_size((enum vcase)c, &w, &h);
		if (cases[c].convert) {
			json_kv_uint(&j, "out_width", w);
			json_kv_uint(&j, "out_height", h);
			json_kv_uint(&j, "reads", c >= V_DIRECT ?
				     MULTI_READS : 1);
		}
		json_kv_uint(&j, "pool_buffers", POOL_BUFS);
		if (r->failed) {
			json_kv_bool(&j, "failed", true);
			json_kv_string(&j, "reason", r->why);
			json_object_end(&j);
			continue;
		}
		json_kv_uint(&j, "frames", r->frames);
		if (c == V_IMPORT_CACHED)
			json_kv_uint(&j, "batch", CACHED_BATCH);
		json_kv_double(&j, "median_ns", r->st.median_us * 1e3);
		json_kv_double(&j, "p99_ns", r->st.p99_us * 1e3);
		json_kv_double(&j, "min_ns", r->st.min_us * 1e3);
		json_kv_double(&j, "mean_ns", r->st.mean_us * 1e3);
		json_kv_double(&j, "max_ns", r->st.max_us * 1e3);
		json_kv_double(&j, "frames_per_s", fps(r));
		base = baseline_of((enum vcase)c);
		if (base >= 0 && !b->res[base].failed && r->st.median_us > 0)
			json_kv_double(&j, "speedup_vs_baseline",
				       b->res[base].st.median_us /
				       r->st.median_us);
		if (r->paired)
			json_kv_double(&j, "paired_gain_ns",
				       r->paired_gain_ns);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_end(&j);
}

static void print_time(double us)
{
	if (us < 10)
		printf(" %9.0fns", us * 1e3);
	else if (us < 1000)
		printf(" %9.1fus", us);
	else
		printf(" %9.2fms", us / 1e3);
}

static void print_text(struct vbench *b)
{
	const struct vres *zc, *st;
	uint32_t w, h;
	char out[32];
	int c, base;

	printf("bench vk: 1920x1080 NV12 frames, pool of %d memfd buffers\n",
	       POOL_BUFS);
	printf("device: %s (driver %s)\n", dmk_vk_device_name(b->vk),
	       dmk_vk_driver_name(b->vk));
	printf("frame import path: %s (%s)\n", b->import_path,
	       b->src_reason[0] ? b->src_reason : "first rung");
	printf("times per frame, CLOCK_MONOTONIC; conversion cases "
	       "interleaved, %" PRIu64 " frames each\n\n", b->frames);
	printf("%-19s %-6s %-9s %-13s %-16s %6s %11s %11s %11s %10s  %s\n",
	       "case", "conv", "out", "frame path", "output path", "frames",
	       "median", "p99", "mean", "frames/s", "vs baseline (median)");
	for (c = 0; c < V_COUNT; c++) {
		const struct vres *r = &b->res[c];

		out_size((enum vcase)c, &w, &h);
		if (w)
			snprintf(out, sizeof(out), "%ux%u", w, h);
		else
			snprintf(out, sizeof(out), "-");
		printf("%-19s %-6s %-9s %-13s %-16s", cases[c].name,
		       cases[c].convert ? cases[c].convert : "-", out,
		       r->src_path[0] ? r->src_path : "-",
		       cases[c].convert ? r->dst_path : "-");
		if (r->failed) {
			printf(" failed: %s\n", r->why);
			continue;
		}
		printf(" %6" PRIu64, r->frames);
		print_time(r->st.median_us);
		print_time(r->st.p99_us);
		print_time(r->st.mean_us);
		printf(" %10.1f", fps(r));
		base = baseline_of((enum vcase)c);
		if (base >= 0 && !b->res[base].failed && r->st.median_us > 0)
			printf("  %.2fx %s", b->res[base].st.median_us /
			       r->st.median_us, cases[base].name);
		if (c == V_MIRROR)
			printf("%s", r->mirrored ? "  (mirrored)" :
			       "  (no mirror made)");
		printf("\n");
	}

	printf("\ntargets (DESIGN.md): cached import < 2 us a frame; "
	       "zero-copy faster than staging\n");
	if (b->res[V_IMPORT_CACHED].failed)
		printf("  import-cached       failed\n");
	else
		printf("  import-cached       median %.0f ns, p99 %.0f ns "
		       "(batch means): %s\n",
		       b->res[V_IMPORT_CACHED].st.median_us * 1e3,
		       b->res[V_IMPORT_CACHED].st.p99_us * 1e3,
		       b->res[V_IMPORT_CACHED].st.median_us < 2 ? "met" :
		       "NOT met");
	for (c = V_ZC_RGBF; c <= V_ZC_GRAY; c += 2) {
		zc = &b->res[c];
		st = &b->res[c + 1];
		if (zc->failed || st->failed) {
			printf("  zero-copy %-9s failed\n", cases[c].convert);
			continue;
		}
		printf("  zero-copy %-9s staging adds %.2f ms a frame "
		       "(medians %.2f / %.2f ms): %s\n", cases[c].convert,
		       zc->paired_gain_ns / 1e6, st->st.median_us / 1e3,
		       zc->st.median_us / 1e3,
		       zc->paired && zc->paired_gain_ns > 0 ? "met" :
		       "NOT met");
	}
	if (!b->res[V_MIRROR].failed && b->res[V_MIRROR].paired)
		printf("  (mirror vs direct, no target: the mirror %s %.2f ms "
		       "a frame)\n", b->res[V_MIRROR].paired_gain_ns >= 0 ?
		       "saves" : "costs",
		       fabs(b->res[V_MIRROR].paired_gain_ns) / 1e6);
	printf("\"adds\"/\"saves\": median of the per-frame differences "
	       "(cases ran back to back)\n");
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The median of the per-frame differences baseline - case: frame f of both
 * ran back to back, so what disturbed one (another process, a frequency
 * change) mostly disturbed the other, and the difference keeps only what
 * the paths cost.  Before stats_compute(), which sorts the samples.
 */
static void pair(struct vbench *b, enum vcase c)
{
	struct vres *r = &b->res[c];
	int base = baseline_of(c);
	struct vres *rb;
	int64_t *d;
	size_t i;

	if (base < 0 || c == V_IMPORT_CACHED)
		return;		/* batches and single imports do not pair */
	rb = &b->res[base];
	if (r->failed || rb->failed || !r->n || r->n != rb->n)
		return;
	d = calloc(r->n, sizeof(*d));
	if (!d)
		return;
	for (i = 0; i < r->n; i++)
		d[i] = (int64_t)rb->ns[i] - (int64_t)r->ns[i];
	qsort(d, r->n, sizeof(*d), cmp_i64);
	r->paired_gain_ns = r->n % 2 ? (double)d[r->n / 2] :
			    (d[r->n / 2 - 1] + d[r->n / 2]) / 2.0;
	r->paired = true;
	free(d);
}

int bench_vk(int argc, char **argv)
{
	struct vbench b;
	bool failed = false;
	int ret, c;

	ret = parse_args(argc, argv, &b);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	ret = setup(&b);
	if (ret) {
		teardown(&b);
		return EXIT_FAIL;
	}
	run_imports(&b);
	run_chains(&b);
	for (c = 0; c < V_COUNT; c++)
		pair(&b, (enum vcase)c);
	for (c = 0; c < V_COUNT; c++) {
		struct vres *r = &b.res[c];

		if (!r->failed && !r->n)
			fail(&b, (enum vcase)c, "no frame measured");
		if (r->failed) {
			failed = true;
			continue;
		}
		stats_compute(r->ns, r->n, &r->st);
	}
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
	return failed ? EXIT_FAIL : EXIT_OK;
}
