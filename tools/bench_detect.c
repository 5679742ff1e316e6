// SPDX-License-Identifier: MIT
/*
 * dmakit bench detect: face detection frames per second, three ways side
 * by side in one run, on the same frames with the same cascade and
 * parameters:
 *
 *   dmakit-gpu  the Vulkan detector (struct dmk_detector).  Frames sit in
 *               memfd pool buffers (read from the Y4M with
 *               dmk_frame_source, as the pipeline reads them); one chain
 *               per buffer is recorded up front, as a pipeline does for
 *               its pool.  Timed per frame: the cached dmk_vk_import() of
 *               the frame's buffer (no CPU copy: the device reads the Y
 *               plane where it lies; a discrete GPU through a device-local
 *               mirror that the chain fills with one GPU copy, since the
 *               pyramid reads every pixel many times), the chain's run,
 *               dmk_detector_collect().
 *   dmakit-cpu  dmk_detect_cpu(), the reference, on the same Y planes
 *               (one thread).
 *   opencv      OpenCV's CascadeClassifier::detectMultiScale(), run by
 *               dmakit-cv-baseline (next to this binary, built where
 *               libopencv-dev is) or, without it, by
 *               tests/opencv_bench.py under $DMK_PYTHON (default
 *               python3), with --threads N; it loads the same input and
 *               times only the detection, as here.
 *
 * Every case runs a warm-up frame first, then --repeat passes over all
 * frames; a case's time is the total of its passes.  The boxes of the
 * first pass are compared: dmakit-gpu against dmakit-cpu frame by frame
 * (they must be identical), and each against OpenCV's (the share of
 * OpenCV's boxes that a box of the case overlaps with IoU >= 0.5: the
 * target in DESIGN.md is >= 95%).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/dmakit.h>
#include <dmakit/detect.h>
#include <dmakit/vk.h>

#include "image.h"
#include "util.h"

extern char **environ;

#define DEFAULT_INPUT "build/data/default.y4m"
#define DEFAULT_FRAMES 120
#define MAX_FRAMES 100000
#define MAX_INPUTS 64
#define MAX_SIZES 16		/* distinct frame sizes (a detector each) */
#define FRAME_MEM_LIMIT (2ull << 30)	/* frames held in memory */
#define FIRST_BOXES 64
#define CV_BASELINE "dmakit-cv-baseline"
#define CV_SCRIPT "tests/opencv_bench.py"
#define CV_OUT_MAX (64u << 20)	/* the OpenCV side's JSON */
#define IOU_MIN 0.5

enum { C_GPU, C_CPU, C_CV, C_COUNT };

/* How dmakit-gpu imports the frames: --import. */
enum { IMPORT_AUTO, IMPORT_DIRECT, IMPORT_MIRROR };

static const char *const case_names[C_COUNT] = {
	[C_GPU] = "dmakit-gpu",
	[C_CPU] = "dmakit-cpu",
	[C_CV] = "opencv",
};

/* One gray frame: the Y plane of a buffer. */
struct frame {
	struct dmk_buf *buf;	/* borrowed: from a pool, or images' own */
	const uint8_t *y;
	uint64_t y_off;
	uint32_t w, h, pitch;
	unsigned int size;	/* index into the detectors */
	struct dmk_vk_chain *chain;	/* dmakit-gpu's, for this buffer */
};

struct boxes {
	struct dmk_rect *r;
	size_t n;
};

struct dcase {
	char import[32];	/* dmakit-gpu: how the frames got there */
	bool ran;
	bool skipped;		/* the machine lacks it; else failed */
	char why[256];
	char device[128];
	int threads;		/* < 0: not applicable (a GPU) */
	uint64_t frames;	/* detections timed */
	double seconds;
	struct boxes *boxes;	/* per frame, first pass */
	/* Against OpenCV: its boxes this case's boxes overlap. */
	uint64_t matched, cv_total;
	/* dmakit-gpu against dmakit-cpu: frames with identical boxes. */
	uint64_t same_frames;
};

struct dbench {
	const char *inputs[MAX_INPUTS];
	int ninputs;
	const char *cascade;
	struct dmk_detect_params params;
	uint64_t max_frames, repeat;
	int threads;
	const char *device;
	const char *baseline;	/* --baseline PATH */
	bool want[C_COUNT];
	bool json;
	int import_mode;	/* IMPORT_* */

	struct dmk_heap *heap;
	struct dmk_pool *pools[MAX_INPUTS];
	int npools;
	struct dmk_buf **own;	/* images' buffers */
	size_t nown;
	struct frame *frames;
	size_t nframes;
	uint32_t size_w[MAX_SIZES], size_h[MAX_SIZES];
	unsigned int nsizes;
	struct dmk_cascade *c;
	struct dcase cases[C_COUNT];
	char cv_version[64];
};

static const char bench_detect_help[] =
	"Usage: dmakit bench detect [options] [INPUT...]\n"
	"\n"
	"Face detection frames per second, three cases side by side on the\n"
	"same frames, cascade and parameters:\n"
	"  dmakit-gpu  the Vulkan detector; per frame the cached import of\n"
	"              the frame's buffer (no copy), the chain recorded for\n"
	"              it, and collecting the boxes\n"
	"  dmakit-cpu  dmk_detect_cpu(), one thread\n"
	"  opencv      OpenCV's CascadeClassifier::detectMultiScale():\n"
	"              dmakit-cv-baseline (built with libopencv-dev), else\n"
	"              tests/opencv_bench.py under $DMK_PYTHON (python3)\n"
	"and how far their boxes agree: dmakit-gpu and dmakit-cpu frame by\n"
	"frame (identical), each against OpenCV (share of OpenCV's boxes\n"
	"overlapped with IoU >= 0.5).\n"
	"\n"
	"INPUT: a Y4M file (its Y planes; default " DEFAULT_INPUT ", made\n"
	"by 'make data') or images (PNG, JPEG, PGM/PPM; grayed as OpenCV\n"
	"does).\n"
	"\n"
	"Options:\n"
	"  -i, --input FILE    an input (repeatable; or give them as\n"
	"                      arguments)\n"
	"  --cascade MODEL     lbp (default), haar, or an OpenCV cascade XML\n"
	"  --scale F           pyramid step, over 1 and at most 4 (1.1)\n"
	"  --min-neighbors N   0-1000 (3)\n"
	"  --min-size WxH      smallest face (default: the window)\n"
	"  --max-size WxH      largest face (default: the image)\n"
	"  --frames N          frames to load, 1-100000 (default 120)\n"
	"  --repeat N          passes over the frames, timed (default 1)\n"
	"  --threads N         OpenCV's threads, 0-1024 (default: the CPUs\n"
	"                      online; 0 runs on the calling thread)\n"
	"  --device SEL        Vulkan device: an index or part of its name\n"
	"  --cases LIST        gpu, cpu, opencv (default all)\n"
	"  --import MODE       how dmakit-gpu gets the frames: direct (the\n"
	"                      device reads the imported buffer), mirror\n"
	"                      (a device-local copy made by the GPU each\n"
	"                      frame), auto (mirror on a discrete GPU,\n"
	"                      direct on a CPU or integrated one; default)\n"
	"  --baseline PATH     the OpenCV program (default: " CV_BASELINE "\n"
	"                      next to this binary)\n"
	"  --json              a JSON array: one object per case: bench,\n"
	"                      name, parameters (cascade, scale,\n"
	"                      min_neighbors, min_size, max_size, size,\n"
	"                      threads, device), figures (frames, seconds,\n"
	"                      fps, ms_per_frame), agreement; skipped or\n"
	"                      failed cases with a reason\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok, 1 an input, the cascade or a case failed, or\n"
	"dmakit-gpu's boxes differ from dmakit-cpu's, 2 usage.\n";

void bench_detect_usage(FILE *f)
{
	fputs(bench_detect_help, f);
}

static int add_input(struct dbench *b, const char *path)
{
	if (!*path)
		return tool_usage_err("--input: empty path");
	if (b->ninputs == MAX_INPUTS)
		return tool_usage_err("more than %d inputs", MAX_INPUTS);
	b->inputs[b->ninputs++] = path;
	return 0;
}

static int parse_cases(struct dbench *b, const char *s)
{
	const char *cur = s;
	char item[16];
	int ret, c;

	memset(b->want, 0, sizeof(b->want));
	while ((ret = list_next(&cur, item, sizeof(item))) > 0) {
		for (c = 0; c < C_COUNT; c++)
			if (!strcmp(item, case_names[c] + (c == C_CV ? 0 : 7)))
				break;
		if (c == C_COUNT)
			return tool_usage_err("--cases: '%s' is not gpu, cpu "
					      "or opencv", item);
		b->want[c] = true;
	}
	if (ret < 0)
		return tool_usage_err("--cases: '%s' is not a list", s);
	return 0;
}

static int parse_args(int argc, char **argv, struct dbench *b)
{
	enum { OPT_FRAMES = 256, OPT_REPEAT, OPT_THREADS, OPT_DEVICE,
	       OPT_CASES, OPT_BASELINE, OPT_IMPORT, OPT_JSON };
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		DETECT_LONGOPTS,
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "cases", required_argument, NULL, OPT_CASES },
		{ "baseline", required_argument, NULL, OPT_BASELINE },
		{ "import", required_argument, NULL, OPT_IMPORT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	int c, ret;

	memset(b, 0, sizeof(*b));
	b->cascade = detect_cascade_path("lbp");
	b->params.sz = sizeof(b->params);
	b->params.scale_factor = 1.1;
	b->params.min_neighbors = 3;
	b->max_frames = DEFAULT_FRAMES;
	b->repeat = 1;
	b->threads = ncpu > 0 ? (int)ncpu : 1;
	for (c = 0; c < C_COUNT; c++)
		b->want[c] = true;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":hi:", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			ret = add_input(b, optarg);
			if (ret)
				return ret;
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, MAX_FRAMES, &b->max_frames))
				return tool_usage_err("--frames: '%s' is not "
					"1-%d", optarg, MAX_FRAMES);
			break;
		case OPT_REPEAT:
			if (parse_uint(optarg, 1, 1000, &b->repeat))
				return tool_usage_err("--repeat: '%s' is not "
						      "1-1000", optarg);
			break;
		case OPT_THREADS:
			if (parse_uint(optarg, 0, 1024, &v))
				return tool_usage_err("--threads: '%s' is not "
						      "0-1024", optarg);
			b->threads = (int)v;
			break;
		case OPT_DEVICE:
			if (!*optarg)
				return tool_usage_err("--device: empty");
			b->device = optarg;
			break;
		case OPT_CASES:
			ret = parse_cases(b, optarg);
			if (ret)
				return ret;
			break;
		case OPT_BASELINE:
			if (!*optarg)
				return tool_usage_err("--baseline: empty");
			b->baseline = optarg;
			break;
		case OPT_IMPORT:
			if (!strcmp(optarg, "auto"))
				b->import_mode = IMPORT_AUTO;
			else if (!strcmp(optarg, "direct"))
				b->import_mode = IMPORT_DIRECT;
			else if (!strcmp(optarg, "mirror"))
				b->import_mode = IMPORT_MIRROR;
			else
				return tool_usage_err("--import: '%s' is not "
					"auto, direct or mirror", optarg);
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_detect_usage(stdout);
			return -1;
		default:
			ret = detect_opt(c, optarg, &b->cascade, &b->params);
			if (ret > 0)
				return ret;
			if (ret < 0)
				return tool_bad_option(c, argc, argv);
			break;
		}
	}
	for (; optind < argc; optind++) {
		ret = add_input(b, argv[optind]);
		if (ret)
			return ret;
	}
	if (!b->ninputs)
		b->inputs[b->ninputs++] = DEFAULT_INPUT;
	if (detect_opts_check(&b->params))
		return EXIT_USAGE;
	return 0;
}

/* ---- frames ---- */

static bool is_y4m(const char *path)
{
	char magic[9];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == (ssize_t)sizeof(magic) && !memcmp(magic, "YUV4MPEG2", 9);
}

static int frame_add(struct dbench *b, struct dmk_buf *buf, void *addr,
		     uint64_t y_off, uint32_t w, uint32_t h, uint32_t pitch)
{
	struct frame *f;
	unsigned int s;

	for (s = 0; s < b->nsizes; s++)
		if (b->size_w[s] == w && b->size_h[s] == h)
			break;
	if (s == b->nsizes) {
		if (b->nsizes == MAX_SIZES) {
			tool_err("more than %d frame sizes", MAX_SIZES);
			return -E2BIG;
		}
		b->size_w[s] = w;
		b->size_h[s] = h;
		b->nsizes++;
	}
	f = &b->frames[b->nframes++];
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->y = (const uint8_t *)addr + y_off;
	f->y_off = y_off;
	f->w = w;
	f->h = h;
	f->pitch = pitch;
	f->size = s;
	return 0;
}

/* Every frame of a Y4M file (up to the limit) into a pool, kept. */
static int load_y4m(struct dbench *b, const char *path)
{
	DMK_OPTS(dmk_frame_source_opts, fo);
	DMK_OPTS(dmk_pool_opts, po, .name = "bench-detect");
	const struct dmk_frame_layout *l;
	struct dmk_frame_source *src;
	struct dmk_frame_ref ref;
	struct dmk_pool *pool;
	uint64_t want = b->max_frames - b->nframes, fit;
	char err[256] = "";
	int ret;

	fo.errmsg = err;
	fo.errmsg_len = sizeof(err);
	ret = dmk_frame_source_open(path, 0, &fo, &src);
	if (ret) {
		tool_err("%s: %s", path, err[0] ? err : dmk_strerror(ret));
		return ret;
	}
	l = dmk_frame_source_layout(src);
	fit = FRAME_MEM_LIMIT / l->size;
	if (want > fit)
		want = fit ? fit : 1;
	po.layout = l;
	/* Every frame kept, plus the read-ahead's. */
	ret = dmk_pool_new(b->heap, (unsigned int)(want + 3 < DMK_POOL_MAX ?
				     want + 3 : DMK_POOL_MAX), &po, &pool);
	if (ret) {
		tool_err("%s: a pool of %" PRIu64 " frames: %s", path,
			 want + 3, dmk_strerror(ret));
		dmk_frame_source_close(src);
		return ret;
	}
	b->pools[b->npools++] = pool;
	ret = dmk_frame_source_start(src, pool);
	while (!ret && want) {
		ret = dmk_frame_source_next(src, &ref);
		if (ret <= 0)
			break;
		/* Held until the pool goes: 3 buffers stay for reading. */
		ret = frame_add(b, ref.buf, ref.addr, l->offset[0], l->width,
				l->height, l->pitch[0]);
		want--;
	}
	if (ret < 0)
		tool_err("%s: %s", path, dmk_frame_source_error(src)[0] ?
			 dmk_frame_source_error(src) : dmk_strerror(ret));
	dmk_frame_source_close(src);
	return ret < 0 ? ret : 0;
}

/* An image, grayed as OpenCV's cvtColor does, in a memfd buffer. */
static int load_image(struct dbench *b, const char *path)
{
	struct image img = { 0 };
	struct dmk_buf *buf;
	char err[256];
	uint64_t size;
	void *map;
	int ret;

	ret = image_load(path, &img, err, sizeof(err));
	if (ret) {
		tool_err("%s", err);
		return ret;
	}
	size = ((uint64_t)img.width * img.height + 4095) & ~4095ull;
	ret = dmk_heap_alloc(b->heap, size, NULL, &buf);
	if (!ret) {
		b->own[b->nown++] = buf;
		ret = dmk_buf_map(buf, &map);
	}
	if (!ret) {
		image_to_gray(&img, map);
		ret = frame_add(b, buf, map, 0, img.width, img.height,
				img.width);
	} else {
		tool_err("%s: a buffer of %" PRIu64 " bytes: %s", path, size,
			 dmk_strerror(ret));
	}
	image_free(&img);
	return ret;
}

static int load_frames(struct dbench *b)
{
	int i, ret;

	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &b->heap);
	if (ret) {
		tool_err("memfd heap: %s", dmk_strerror(ret));
		return ret;
	}
	b->frames = calloc(b->max_frames, sizeof(*b->frames));
	b->own = calloc(b->ninputs, sizeof(*b->own));
	if (!b->frames || !b->own) {
		tool_err("out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < b->ninputs && b->nframes < b->max_frames; i++) {
		if (access(b->inputs[i], R_OK)) {
			ret = -errno;
			tool_err("%s: %s%s", b->inputs[i], strerror(errno),
				 !strcmp(b->inputs[i], DEFAULT_INPUT) ?
				 " (run 'make data' to make it)" : "");
			return ret;
		}
		ret = is_y4m(b->inputs[i]) ? load_y4m(b, b->inputs[i]) :
		      load_image(b, b->inputs[i]);
		if (ret)
			return ret;
	}
	if (!b->nframes) {
		tool_err("no frames in the input");
		return -ENODATA;
	}
	return 0;
}

static void free_frames(struct dbench *b)
{
	size_t i;

	for (i = 0; i < b->nframes; i++)
		dmk_vk_chain_free(b->frames[i].chain);
	for (i = 0; i < (size_t)b->npools; i++)
		dmk_pool_free(b->pools[i]);
	for (i = 0; i < b->nown; i++)
		dmk_buf_put(b->own[i]);
	free(b->own);
	free(b->frames);
	dmk_heap_close(b->heap);
}

/* ---- boxes ---- */

static int boxes_alloc(struct dcase *dc, size_t nframes)
{
	dc->boxes = calloc(nframes, sizeof(*dc->boxes));
	return dc->boxes ? 0 : -ENOMEM;
}

static void boxes_free(struct dcase *dc, size_t nframes)
{
	size_t i;

	if (!dc->boxes)
		return;
	for (i = 0; i < nframes; i++)
		free(dc->boxes[i].r);
	free(dc->boxes);
	dc->boxes = NULL;
}

/* Keep @n boxes of @r as frame @i's. */
static int boxes_keep(struct boxes *bx, const struct dmk_rect *r, size_t n)
{
	bx->r = n ? malloc(n * sizeof(*r)) : NULL;
	if (n && !bx->r)
		return -ENOMEM;
	if (n)
		memcpy(bx->r, r, n * sizeof(*r));
	bx->n = n;
	return 0;
}

static double iou(const struct dmk_rect *a, const struct dmk_rect *b)
{
	int64_t x1 = a->x > b->x ? a->x : b->x, y1 = a->y > b->y ? a->y : b->y;
	int64_t x2 = (int64_t)a->x + a->w < (int64_t)b->x + b->w ?
		     (int64_t)a->x + a->w : (int64_t)b->x + b->w;
	int64_t y2 = (int64_t)a->y + a->h < (int64_t)b->y + b->h ?
		     (int64_t)a->y + a->h : (int64_t)b->y + b->h;
	double inter, uni;

	if (x2 <= x1 || y2 <= y1)
		return 0;
	inter = (double)(x2 - x1) * (double)(y2 - y1);
	uni = (double)a->w * a->h + (double)b->w * b->h - inter;
	return uni > 0 ? inter / uni : 0;
}

static int rect_cmp(const void *pa, const void *pb)
{
	const struct dmk_rect *a = pa, *b = pb;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->y != b->y)
		return a->y < b->y ? -1 : 1;
	if (a->w != b->w)
		return a->w < b->w ? -1 : 1;
	return a->h < b->h ? -1 : a->h > b->h;
}

static bool same_boxes(struct boxes *a, struct boxes *b)
{
	if (a->n != b->n)
		return false;
	if (!a->n)
		return true;
	qsort(a->r, a->n, sizeof(*a->r), rect_cmp);
	qsort(b->r, b->n, sizeof(*b->r), rect_cmp);
	return !memcmp(a->r, b->r, a->n * sizeof(*a->r));
}

/* OpenCV's boxes that some box of @dc overlaps with IoU >= IOU_MIN. */
static void agree_cv(struct dbench *b, struct dcase *dc)
{
	const struct dcase *cv = &b->cases[C_CV];
	size_t f, i, k;

	dc->matched = dc->cv_total = 0;
	for (f = 0; f < b->nframes; f++) {
		const struct boxes *o = &cv->boxes[f], *m = &dc->boxes[f];

		for (i = 0; i < o->n; i++) {
			for (k = 0; k < m->n; k++)
				if (iou(&o->r[i], &m->r[k]) >= IOU_MIN)
					break;
			dc->matched += k < m->n;
		}
		dc->cv_total += o->n;
	}
}

/* ---- the cases ---- */

static void case_fail(struct dcase *dc, bool skipped, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void case_fail(struct dcase *dc, bool skipped, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dc->why, sizeof(dc->why), fmt, ap);
	va_end(ap);
	dc->skipped = skipped;
	dc->ran = false;
}

/*
 * dmakit-gpu: a detector per frame size, a chain per frame buffer
 * recorded before the clock starts.  Per frame: the cached import, the
 * run, the boxes.
 */
static int run_gpu(struct dbench *b)
{
	DMK_OPTS(dmk_vk_opts, vo, .device = b->device);
	DMK_OPTS(dmk_vk_import_opts, io);
	struct dcase *dc = &b->cases[C_GPU];
	struct dmk_detector *det[MAX_SIZES] = { 0 };
	struct dmk_rect *rects = NULL;
	struct dmk_vk *vk = NULL;
	struct dmk_vk_mem *mem;
	size_t cap = FIRST_BOXES, n, f;
	uint64_t t0, ns = 0, r;
	unsigned int s;
	int ret;

	ret = dmk_vk_new(&vo, &vk);
	if (ret) {
		case_fail(dc, ret == -ENODEV || ret == -ENOTSUP,
			  "no Vulkan device%s%s: %s", b->device ?
			  " matching " : "", b->device ? b->device : "",
			  dmk_strerror(ret));
		return ret == -ENODEV || ret == -ENOTSUP ? 0 : ret;
	}
	snprintf(dc->device, sizeof(dc->device), "%s",
		 dmk_vk_device_name(vk));
	dc->threads = -1;
	if (dmk_vk_features(vk) & DMK_VK_FEAT_UNIFIED) {
		const char *lp = getenv("LP_NUM_THREADS");
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		/* A CPU device (lavapipe) runs on this many threads. */
		dc->threads = lp ? atoi(lp) : (int)(ncpu > 0 ? ncpu : 1);
	}
	if (b->import_mode == IMPORT_MIRROR ||
	    (b->import_mode == IMPORT_AUTO &&
	     !(dmk_vk_features(vk) & DMK_VK_FEAT_UNIFIED)))
		io.flags = DMK_VK_IMPORT_MIRROR;
	for (s = 0; s < b->nsizes && !ret; s++) {
		ret = dmk_detector_new(vk, b->c, b->size_w[s], b->size_h[s],
				       &b->params, &det[s]);
		if (ret)
			case_fail(dc, false, "detector for %ux%u: %s",
				  b->size_w[s], b->size_h[s],
				  dmk_strerror(ret));
	}
	for (f = 0; f < b->nframes && !ret; f++) {
		struct frame *fr = &b->frames[f];

		ret = dmk_vk_import(vk, fr->buf, &io, &mem);
		if (!ret && !f)
			snprintf(dc->import, sizeof(dc->import), "%s%s",
				 dmk_vk_path_name(dmk_vk_mem_path(mem)),
				 dmk_vk_mem_mirrored(mem) ? "+mirror" : "");
		if (!ret)
			ret = dmk_vk_chain_new(vk, &fr->chain);
		if (!ret)
			ret = dmk_detector_record(det[fr->size], fr->chain, mem,
						  fr->y_off, fr->pitch);
		if (!ret)
			ret = dmk_vk_chain_end(fr->chain);
		dmk_vk_mem_put(mem);	/* the chain holds its own */
		if (ret)
			case_fail(dc, false, "frame %zu: recording: %s", f,
				  dmk_strerror(ret));
	}
	rects = malloc(cap * sizeof(*rects));
	if (!ret && (!rects || boxes_alloc(dc, b->nframes))) {
		case_fail(dc, false, "out of memory");
		ret = -ENOMEM;
	}
	/* The warm-up: every chain's first run (a pipeline's steady state
	 * has run each of its chains before; lavapipe's first run of a
	 * command buffer costs about twice a later one). */
	for (f = 0; f < b->nframes && !ret; f++)
		ret = dmk_vk_chain_run(b->frames[f].chain);
	for (r = 0; r < b->repeat && !ret; r++) {
		for (f = 0; f < b->nframes && !ret; f++) {
			struct frame *fr = &b->frames[f];

			t0 = now_ns();
			ret = dmk_vk_import(vk, fr->buf, &io, &mem);
			if (!ret) {
				ret = dmk_vk_chain_run(fr->chain);
				if (!ret)
					ret = dmk_detector_collect(
						det[fr->size], rects, cap, &n);
				dmk_vk_mem_put(mem);
			}
			ns += now_ns() - t0;
			if (ret) {
				case_fail(dc, false, "frame %zu: %s", f,
					  dmk_strerror(ret));
				break;
			}
			if (n > cap) {
				/* A crowd: read the same result again into
				 * more room (outside the clock). */
				free(rects);
				cap = n;
				rects = malloc(cap * sizeof(*rects));
				if (!rects)
					ret = -ENOMEM;
				else
					ret = dmk_detector_collect(
						det[fr->size], rects, cap, &n);
			}
			if (!ret && !r)
				ret = boxes_keep(&dc->boxes[f], rects, n);
			dc->frames++;
		}
	}
	if (!ret) {
		dc->ran = true;
		dc->seconds = ns / 1e9;
	} else if (!dc->why[0]) {
		case_fail(dc, false, "%s", dmk_strerror(ret));
	}
	free(rects);
	for (f = 0; f < b->nframes; f++) {
		dmk_vk_chain_free(b->frames[f].chain);
		b->frames[f].chain = NULL;
	}
	for (s = 0; s < MAX_SIZES; s++)
		dmk_detector_free(det[s]);
	dmk_vk_free(vk);
	return ret;
}

/* dmakit-cpu: dmk_detect_cpu() on each Y plane. */
static int run_cpu(struct dbench *b)
{
	struct dcase *dc = &b->cases[C_CPU];
	struct dmk_rect *rects;
	size_t cap = FIRST_BOXES, n, f;
	uint64_t t0, ns = 0, r;
	int ret;

	snprintf(dc->device, sizeof(dc->device), "cpu");
	dc->threads = 1;
	rects = malloc(cap * sizeof(*rects));
	if (!rects || boxes_alloc(dc, b->nframes)) {
		free(rects);
		case_fail(dc, false, "out of memory");
		return -ENOMEM;
	}
	ret = dmk_detect_cpu(b->c, b->frames[0].y, b->frames[0].w,
			     b->frames[0].h, b->frames[0].pitch, &b->params,
			     rects, cap, &n);
	for (r = 0; r < b->repeat && !ret; r++) {
		for (f = 0; f < b->nframes && !ret; f++) {
			const struct frame *fr = &b->frames[f];

			t0 = now_ns();
			ret = dmk_detect_cpu(b->c, fr->y, fr->w, fr->h,
					     fr->pitch, &b->params, rects, cap,
					     &n);
			ns += now_ns() - t0;
			if (!ret && n > cap) {
				free(rects);
				cap = n;
				rects = malloc(cap * sizeof(*rects));
				ret = rects ? dmk_detect_cpu(b->c, fr->y, fr->w,
					fr->h, fr->pitch, &b->params, rects,
					cap, &n) : -ENOMEM;
			}
			if (!ret && !r)
				ret = boxes_keep(&dc->boxes[f], rects, n);
			dc->frames++;
		}
	}
	free(rects);
	if (ret) {
		case_fail(dc, false, "%s", dmk_strerror(ret));
		return ret;
	}
	dc->ran = true;
	dc->seconds = ns / 1e9;
	return 0;
}

/* ---- the OpenCV side ---- */

/* @name next to this binary, or in the source tree's tests/. */
static bool find_near_exe(const char *name, char *out, size_t len)
{
	static const char *const ups[] = { "", "/..", "/../.." };
	const char *src = getenv("DMK_SRCDIR");
	char exe[PATH_MAX - 64], *slash;
	ssize_t n;
	size_t i;

	if (src) {
		snprintf(out, len, "%s/%s", src, name);
		if (!access(out, R_OK))
			return true;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (i = 0; i < ARRAY_SIZE(ups); i++) {
			if (snprintf(out, len, "%s%s/%s", exe, ups[i], name) >=
			    (int)len)
				continue;
			if (!access(out, R_OK))
				return true;
		}
	}
	snprintf(out, len, "%s", name);
	return !access(out, R_OK);
}

/*
 * Run @argv (searched in PATH), its stdout into *@out (malloc'd, NUL
 * terminated), the first line of its stderr into @err.  Returns its exit
 * status, or -errno when it could not run.
 */
static int spawn_read(char *const argv[], char **out, char *err,
		      size_t errlen)
{
	posix_spawn_file_actions_t fa;
	char errpath[] = "/tmp/dmakit-bench-detect-XXXXXX";
	size_t off = 0, cap = 1 << 16;
	int pipefd[2], efd, status, ret;
	char *buf;
	ssize_t n;
	pid_t pid;

	err[0] = '\0';
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	efd = mkostemp(errpath, O_CLOEXEC);
	if (efd < 0) {
		free(buf);
		return -errno;
	}
	unlink(errpath);
	if (pipe2(pipefd, O_CLOEXEC)) {
		ret = -errno;
		close(efd);
		free(buf);
		return ret;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		close(efd);
		free(buf);
		return -ret;
	}
	for (;;) {
		if (off + 1 == cap && cap < CV_OUT_MAX) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
		if (off + 1 == cap)
			break;	/* over CV_OUT_MAX: cut, parse fails */
		n = read(pipefd[0], buf + off, cap - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Its last line says why (a Python traceback ends with it). */
	n = lseek(efd, 0, SEEK_END);
	n = pread(efd, err, errlen - 1, n > (ssize_t)errlen - 1 ?
		  n - ((ssize_t)errlen - 1) : 0);
	err[n > 0 ? n : 0] = '\0';
	while (n > 0 && err[n - 1] == '\n')
		err[--n] = '\0';
	if (strrchr(err, '\n'))
		memmove(err, strrchr(err, '\n') + 1,
			strlen(strrchr(err, '\n') + 1) + 1);
	close(efd);
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The number after "@key": in @json; false when absent. */
static bool json_num(const char *json, const char *key, double *v)
{
	char pat[64];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	*v = strtod(p + strlen(pat), &end);
	return end != p + strlen(pat);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' ||
	       *p == ',')
		p++;
	return p;
}

/*
 * The "boxes" of the OpenCV side's JSON: one array per frame of
 * [x, y, w, h] arrays, checked against the frame count and sizes.
 */
static int parse_cv_boxes(struct dbench *b, const char *json)
{
	struct dcase *dc = &b->cases[C_CV];
	const char *p = strstr(json, "\"boxes\":");
	struct dmk_rect *r = NULL;
	size_t f = 0, n, cap = 0;
	char *end;
	long v[4];
	int k, ret = -EBADMSG;

	if (!p)
		return -EBADMSG;
	p = skip_ws(p + 8);
	if (*p++ != '[')
		return -EBADMSG;
	for (;;) {
		p = skip_ws(p);
		if (*p == ']')
			break;
		if (*p++ != '[' || f == b->nframes)
			goto out;
		n = 0;
		for (;;) {
			p = skip_ws(p);
			if (*p == ']') {
				p++;
				break;
			}
			if (*p++ != '[')
				goto out;
			for (k = 0; k < 4; k++) {
				p = skip_ws(p);
				v[k] = strtol(p, &end, 10);
				if (end == p || v[k] < -(1l << 20) ||
				    v[k] > (1l << 20))
					goto out;
				p = end;
			}
			p = skip_ws(p);
			if (*p++ != ']')
				goto out;
			if (n == cap) {
				void *q;

				if (cap >= (1u << 20))
					goto out;
				cap = cap ? 2 * cap : 64;
				q = realloc(r, cap * sizeof(*r));
				if (!q) {
					ret = -ENOMEM;
					goto out;
				}
				r = q;
			}
			r[n].x = (int32_t)v[0];
			r[n].y = (int32_t)v[1];
			r[n].w = (int32_t)v[2];
			r[n].h = (int32_t)v[3];
			n++;
		}
		if (boxes_keep(&dc->boxes[f], r, n)) {
			ret = -ENOMEM;
			goto out;
		}
		f++;
	}
	ret = f == b->nframes ? 0 : -EBADMSG;
out:
	free(r);
	return ret;
}

static int run_cv(struct dbench *b)
{
	struct dcase *dc = &b->cases[C_CV];
	char prog[PATH_MAX], script[PATH_MAX], err[256];
	char a_scale[32], a_neigh[16], a_min[32], a_max[32], a_threads[16];
	char a_repeat[24], a_frames[24];
	const char *python = getenv("DMK_PYTHON");
	char *argv[32 + MAX_INPUTS], *out = NULL;
	double frames, calls, secs, threads;
	const char *ver;
	int i = 0, k, ret;

	if (b->baseline) {
		snprintf(prog, sizeof(prog), "%s", b->baseline);
		argv[i++] = prog;
	} else if (find_near_exe(CV_BASELINE, prog, sizeof(prog)) &&
		   !access(prog, X_OK)) {
		argv[i++] = prog;
	} else if (find_near_exe(CV_SCRIPT, script, sizeof(script))) {
		argv[i++] = (char *)(python && *python ? python : "python3");
		argv[i++] = script;
	} else {
		case_fail(dc, true, "no %s (built where libopencv-dev is) and "
			  "no %s (set DMK_SRCDIR)", CV_BASELINE, CV_SCRIPT);
		return 0;
	}
	snprintf(a_scale, sizeof(a_scale), "%.17g", b->params.scale_factor);
	snprintf(a_neigh, sizeof(a_neigh), "%d", b->params.min_neighbors);
	snprintf(a_threads, sizeof(a_threads), "%d", b->threads);
	snprintf(a_repeat, sizeof(a_repeat), "%" PRIu64, b->repeat);
	snprintf(a_frames, sizeof(a_frames), "%zu", b->nframes);
	argv[i++] = "--cascade";
	argv[i++] = (char *)b->cascade;
	argv[i++] = "--scale";
	argv[i++] = a_scale;
	argv[i++] = "--min-neighbors";
	argv[i++] = a_neigh;
	if (b->params.min_w) {
		snprintf(a_min, sizeof(a_min), "%ux%u", b->params.min_w,
			 b->params.min_h);
		argv[i++] = "--min-size";
		argv[i++] = a_min;
	}
	if (b->params.max_w) {
		snprintf(a_max, sizeof(a_max), "%ux%u", b->params.max_w,
			 b->params.max_h);
		argv[i++] = "--max-size";
		argv[i++] = a_max;
	}
	argv[i++] = "--threads";
	argv[i++] = a_threads;
	argv[i++] = "--repeat";
	argv[i++] = a_repeat;
	argv[i++] = "--warmup";
	argv[i++] = "1";
	argv[i++] = "--max-frames";
	argv[i++] = a_frames;
	for (k = 0; k < b->ninputs; k++)
		argv[i++] = (char *)b->inputs[k];
	argv[i] = NULL;

	ret = spawn_read(argv, &out, err, sizeof(err));
	if (ret) {
		/* Not there, or no cv2: the machine lacks it. */
		case_fail(dc, !b->baseline && (ret < 0 || ret == 2 ||
						strstr(err, "cv2")),
			  "%s: %s", argv[0], ret < 0 ? dmk_strerror(ret) :
			  err[0] ? err : "failed");
		free(out);
		return dc->skipped ? 0 : -EIO;
	}
	if (!json_num(out, "frames", &frames) ||
	    !json_num(out, "calls", &calls) ||
	    !json_num(out, "seconds", &secs) ||
	    !json_num(out, "threads", &threads)) {
		case_fail(dc, false, "%s: unexpected output", argv[0]);
		free(out);
		return -EBADMSG;
	}
	if ((size_t)frames != b->nframes) {
		case_fail(dc, false, "OpenCV read %.0f frames, dmakit %zu",
			  frames, b->nframes);
		free(out);
		return -EBADMSG;
	}
	ver = strstr(out, "\"opencv\": \"");
	if (ver) {
		ver += 11;
		snprintf(b->cv_version, sizeof(b->cv_version), "%.*s",
			 (int)strcspn(ver, "\""), ver);
	}
	snprintf(dc->device, sizeof(dc->device), "OpenCV %s%s",
		 b->cv_version[0] ? b->cv_version : "?",
		 argv[0] == prog ? "" : " (python)");
	dc->threads = (int)threads;
	dc->frames = (uint64_t)calls;
	dc->seconds = secs;
	ret = boxes_alloc(dc, b->nframes);
	if (!ret)
		ret = parse_cv_boxes(b, out);
	free(out);
	if (ret) {
		case_fail(dc, false, "%s: bad boxes in its output", argv[0]);
		return ret;
	}
	dc->ran = true;
	return 0;
}

/* ---- report ---- */

static void report_text(struct dbench *b)
{
	const struct frame *f0 = &b->frames[0];
	int c;

	printf("bench detect: %zu frame%s (%ux%u%s) from %s%s, %" PRIu64
	       " pass%s\n", b->nframes, b->nframes == 1 ? "" : "s", f0->w,
	       f0->h, b->nsizes > 1 ? " and others" : "", b->inputs[0],
	       b->ninputs > 1 ? " and others" : "", b->repeat,
	       b->repeat == 1 ? "" : "es");
	printf("cascade %s; scale %g, min_neighbors %d, min %ux%u, max "
	       "%ux%u\n\n", b->cascade, b->params.scale_factor,
	       b->params.min_neighbors, b->params.min_w, b->params.min_h,
	       b->params.max_w, b->params.max_h);
	printf("%-11s %-36s %7s %7s %9s %9s %10s  %s\n", "case", "device",
	       "threads", "frames", "seconds", "fps", "ms/frame",
	       "agree (vs OpenCV)");
	for (c = 0; c < C_COUNT; c++) {
		const struct dcase *dc = &b->cases[c];
		char thr[16], agree[48] = "-";

		if (!b->want[c])
			continue;
		if (!dc->ran) {
			printf("%-11s %s: %s\n", case_names[c],
			       dc->skipped ? "skipped" : "failed", dc->why);
			continue;
		}
		if (dc->threads < 0)
			snprintf(thr, sizeof(thr), "-");
		else
			snprintf(thr, sizeof(thr), "%d", dc->threads);
		if (c != C_CV && b->cases[C_CV].ran)
			snprintf(agree, sizeof(agree), "%.1f%% (%" PRIu64
				 "/%" PRIu64 ")", dc->cv_total ? 100.0 *
				 dc->matched / dc->cv_total : 100.0,
				 dc->matched, dc->cv_total);
		printf("%-11s %-36.36s %7s %7" PRIu64 " %9.3f %9.2f %10.2f  "
		       "%s\n", case_names[c], dc->device, thr, dc->frames,
		       dc->seconds, dc->seconds > 0 ? dc->frames /
		       dc->seconds : 0, dc->frames ? dc->seconds * 1e3 /
		       dc->frames : 0, agree);
	}
	if (b->cases[C_GPU].ran)
		printf("\ndmakit-gpu frames: %s import\n",
		       b->cases[C_GPU].import);
	if (b->cases[C_GPU].ran && b->cases[C_CPU].ran)
		printf("dmakit-gpu and dmakit-cpu: identical boxes on %" PRIu64
		       " of %zu frames\n", b->cases[C_GPU].same_frames,
		       b->nframes);
	if (b->cases[C_GPU].ran && b->cases[C_CV].ran)
		printf("dmakit-gpu / opencv speed: %.2fx\n",
		       b->cases[C_CV].seconds / b->cases[C_CV].frames /
		       (b->cases[C_GPU].seconds / b->cases[C_GPU].frames));
}

static void report_json(struct dbench *b)
{
	const struct frame *f0 = &b->frames[0];
	struct json j;
	char sz[32];
	int c;

	json_init(&j, stdout);
	json_array_begin(&j);
	for (c = 0; c < C_COUNT; c++) {
		const struct dcase *dc = &b->cases[c];

		if (!b->want[c])
			continue;
		json_object_begin(&j);
		json_kv_string(&j, "bench", "detect");
		json_kv_string(&j, "name", case_names[c]);
		json_key(&j, "parameters");
		json_object_begin(&j);
		json_kv_string(&j, "cascade", b->cascade);
		json_kv_double(&j, "scale", b->params.scale_factor);
		json_kv_int(&j, "min_neighbors", b->params.min_neighbors);
		snprintf(sz, sizeof(sz), "%ux%u", b->params.min_w,
			 b->params.min_h);
		json_kv_string(&j, "min_size", sz);
		snprintf(sz, sizeof(sz), "%ux%u", b->params.max_w,
			 b->params.max_h);
		json_kv_string(&j, "max_size", sz);
		snprintf(sz, sizeof(sz), "%ux%u", f0->w, f0->h);
		json_kv_string(&j, "size", sz);
		json_kv_string(&j, "input", b->inputs[0]);
		if (dc->ran && dc->threads >= 0)
			json_kv_int(&j, "threads", dc->threads);
		else
			json_kv_null(&j, "threads");
		json_kv_string(&j, "device", dc->ran ? dc->device : "");
		if (c == C_GPU && dc->ran)
			json_kv_string(&j, "import", dc->import);
		json_object_end(&j);
		if (!dc->ran) {
			json_kv_bool(&j, "skipped", dc->skipped);
			json_kv_bool(&j, "failed", !dc->skipped);
			json_kv_string(&j, "reason", dc->why);
			json_object_end(&j);
			continue;
		}
		json_key(&j, "figures");
		json_object_begin(&j);
		json_kv_uint(&j, "frames", dc->frames);
		json_kv_double(&j, "seconds", dc->seconds);
		json_kv_double(&j, "fps", dc->seconds > 0 ?
			       dc->frames / dc->seconds : 0);
		json_kv_double(&j, "ms_per_frame", dc->frames ?
			       dc->seconds * 1e3 / dc->frames : 0);
		json_object_end(&j);
		json_key(&j, "agreement");
		json_object_begin(&j);
		if (c != C_CV && b->cases[C_CV].ran) {
			json_kv_uint(&j, "opencv_boxes", dc->cv_total);
			json_kv_uint(&j, "matched_iou_0_5", dc->matched);
			json_kv_double(&j, "vs_opencv_pct", dc->cv_total ?
				       100.0 * dc->matched / dc->cv_total :
				       100.0);
		}
		if (c == C_GPU && b->cases[C_CPU].ran) {
			json_kv_uint(&j, "frames_identical_to_cpu",
				     dc->same_frames);
			json_kv_uint(&j, "frames_compared", b->nframes);
		}
		json_object_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_end(&j);
}

int bench_detect(int argc, char **argv)
{
	struct dbench b;
	int c, ret, status = EXIT_OK;
	size_t f;

	ret = parse_args(argc, argv, &b);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;
	ret = dmk_cascade_load(b.cascade, &b.c);
	if (ret) {
		tool_err("cascade %s: %s", b.cascade, dmk_strerror(ret));
		return EXIT_FAIL;
	}
	if (load_frames(&b)) {
		status = EXIT_FAIL;
		goto out;
	}
	if (b.want[C_GPU] && run_gpu(&b))
		status = EXIT_FAIL;
	if (b.want[C_CPU] && run_cpu(&b))
		status = EXIT_FAIL;
	if (b.want[C_CV] && run_cv(&b))
		status = EXIT_FAIL;
	if (b.cases[C_GPU].ran && b.cases[C_CPU].ran) {
		for (f = 0; f < b.nframes; f++)
			b.cases[C_GPU].same_frames +=
				same_boxes(&b.cases[C_GPU].boxes[f],
					   &b.cases[C_CPU].boxes[f]);
		if (b.cases[C_GPU].same_frames != b.nframes)
			status = EXIT_FAIL;
	}
	if (b.cases[C_CV].ran)
		for (c = 0; c < C_CV; c++)
			if (b.cases[c].ran)
				agree_cv(&b, &b.cases[c]);
	if (b.json)
		report_json(&b);
	else
		report_text(&b);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		status = EXIT_FAIL;
	}
out:
	for (c = 0; c < C_COUNT; c++)
		boxes_free(&b.cases[c], b.nframes);
	free_frames(&b);
	dmk_cascade_free(b.c);
	return status;
}
