// SPDX-License-Identifier: MIT
/*
 * dmakit detect: find faces in still images with an OpenCV cascade (the
 * LBP or Haar frontal-face models Debian ships in opencv-data), the way
 * OpenCV's CascadeClassifier::detectMultiScale() does, and print the
 * boxes, as text or JSON, optionally drawing them into PNG copies.
 *
 * The work per image is: decode (tools/image.c), gray the way OpenCV's
 * cvtColor does, detect.  Only the detection is timed.  The detector
 * runs on a backend: the Vulkan detector (struct dmk_detector, --gpu,
 * the default when a Vulkan device opens) or the CPU reference
 * (dmk_detect_cpu(), --cpu); both give the same boxes.  On the GPU the
 * gray image is written into a memfd buffer imported into the device (no
 * copy into Vulkan memory), and a detector is made for each image size
 * in turn.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dmakit/dmakit.h>
#include <dmakit/detect.h>
#include <dmakit/vk.h>

#include "image.h"
#include "util.h"

#define CASCADE_LBP \
	"/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"
#define CASCADE_HAAR \
	"/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

/* Boxes room for at first; a crowd grows it. */
#define FIRST_RECTS 256

enum detect_backend {
	BACKEND_AUTO,		/* the GPU when a Vulkan device opens */
	BACKEND_CPU,
	BACKEND_GPU,
};

static const char *const backend_names[] = {
	[BACKEND_AUTO] = "auto",
	[BACKEND_CPU] = "cpu",
	[BACKEND_GPU] = "gpu",
};

struct detect_args {
	const char *cascade;		/* the file */
	struct dmk_detect_params params;
	enum detect_backend backend;
	const char *device;		/* --device SEL */
	const char *out;
	bool json;
	char **images;
	int nimages;
};

static const char detect_help[] =
	"Usage: dmakit detect [options] IMAGE...\n"
	"\n"
	"Find faces in photographs (PNG, JPEG, binary PPM/PGM) with an\n"
	"OpenCV cascade, run as OpenCV's detectMultiScale() runs it, and\n"
	"print one line per image:\n"
	"  FILE: N faces: X,Y,WxH X,Y,WxH ...\n"
	"\n"
	"Options:\n"
	"  --cascade MODEL     lbp (default), haar, or the path of an OpenCV\n"
	"                      cascade XML file; lbp and haar are OpenCV's\n"
	"                      lbpcascade_frontalface_improved.xml and\n"
	"                      haarcascade_frontalface_default.xml under\n"
	"                      /usr/share/opencv4 (package opencv-data)\n"
	"  --scale F           pyramid step, over 1 and at most 4\n"
	"                      (default 1.1)\n"
	"  --min-neighbors N   boxes a face needs, 0-1000 (default 3)\n"
	"  --min-size WxH      smallest face looked for (default: the\n"
	"                      model's window)\n"
	"  --max-size WxH      largest face looked for (default: the image)\n"
	"  --gpu               run on a Vulkan device (the default when one\n"
	"                      opens; else the CPU)\n"
	"  --cpu               run on the CPU (dmk_detect_cpu(), the\n"
	"                      reference; the same boxes)\n"
	"  --device SEL        the Vulkan device: an index into the loader's\n"
	"                      list or part of its name (default: the first\n"
	"                      discrete GPU, else the first device); implies\n"
	"                      --gpu\n"
	"  -o, --out PATH      draw the boxes into PNG copies: with one\n"
	"                      IMAGE, PATH is the file (or a directory to\n"
	"                      put it in); with several, a directory\n"
	"                      (created if missing) that gets NAME.png\n"
	"                      for each\n"
	"  --json              a JSON array, one object per image: its boxes,\n"
	"                      the cascade and parameters used, the backend\n"
	"                      and the time taken (an unreadable image: its\n"
	"                      file and the error)\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok, 1 a cascade or an image could not be read (the\n"
	"other images are still done), or a copy not written, 2 usage.\n";

void cmd_detect_usage(FILE *f)
{
	fputs(detect_help, f);
}

const char *detect_cascade_path(const char *arg)
{
	if (!strcmp(arg, "lbp"))
		return CASCADE_LBP;
	if (!strcmp(arg, "haar"))
		return CASCADE_HAAR;
	return arg;
}

static int parse_wxh(const char *s, uint32_t *w, uint32_t *h)
{
	const char *x = strpbrk(s, "xX");
	char num[16];
	uint64_t vw, vh;

	if (!x || (size_t)(x - s) >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, (size_t)(x - s));
	num[x - s] = '\0';
	if (parse_uint(num, 1, IMAGE_MAX_SIDE, &vw) ||
	    parse_uint(x + 1, 1, IMAGE_MAX_SIDE, &vh))
		return -EINVAL;
	*w = (uint32_t)vw;
	*h = (uint32_t)vh;
	return 0;
}

int detect_opt(int c, const char *arg, const char **cascade,
	       struct dmk_detect_params *p)
{
	char *end;
	uint64_t v;

	switch (c) {
	case OPT_DET_CASCADE:
		if (!*arg)
			return tool_usage_err("--cascade: empty");
		*cascade = detect_cascade_path(arg);
		return 0;
	case OPT_DET_SCALE:
		errno = 0;
		p->scale_factor = strtod(arg, &end);
		if (errno || end == arg || *end ||
		    !(p->scale_factor > 1 && p->scale_factor <= 4))
			return tool_usage_err("--scale: '%s' is not a number "
					      "over 1 and at most 4", arg);
		return 0;
	case OPT_DET_NEIGHBORS:
		if (parse_uint(arg, 0, 1000, &v))
			return tool_usage_err("--min-neighbors: '%s' is not "
					      "a number from 0 to 1000", arg);
		p->min_neighbors = (int)v;
		return 0;
	case OPT_DET_MIN_SIZE:
	case OPT_DET_MAX_SIZE:
		if (parse_wxh(arg, c == OPT_DET_MIN_SIZE ? &p->min_w : &p->max_w,
			      c == OPT_DET_MIN_SIZE ? &p->min_h : &p->max_h))
			return tool_usage_err("--%s-size: '%s' is not WxH "
					      "(each 1 to %u)",
					      c == OPT_DET_MIN_SIZE ? "min" :
					      "max", arg, IMAGE_MAX_SIDE);
		return 0;
	}
	return -1;
}

int detect_opts_check(const struct dmk_detect_params *p)
{
	if (p->max_w && p->min_w &&
	    (p->max_w < p->min_w || p->max_h < p->min_h))
		return tool_usage_err("--max-size is smaller than --min-size");
	return 0;
}

static int parse_args(int argc, char **argv, struct detect_args *a)
{
	enum { OPT_CPU = 256, OPT_GPU, OPT_DEVICE, OPT_JSON };
	static const struct option longopts[] = {
		DETECT_LONGOPTS,
		{ "cpu", no_argument, NULL, OPT_CPU },
		{ "gpu", no_argument, NULL, OPT_GPU },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, ret;

	memset(a, 0, sizeof(*a));
	a->cascade = CASCADE_LBP;
	a->params.sz = sizeof(a->params);
	a->params.scale_factor = 1.1;
	a->params.min_neighbors = 3;
	a->backend = BACKEND_AUTO;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CPU:
			if (a->backend == BACKEND_GPU)
				return tool_usage_err("--cpu with --gpu or "
						      "--device");
			a->backend = BACKEND_CPU;
			break;
		case OPT_DEVICE:
			if (!*optarg)
				return tool_usage_err("--device: empty");
			a->device = optarg;
			/* fall through */
		case OPT_GPU:
			if (a->backend == BACKEND_CPU)
				return tool_usage_err("--cpu with --gpu or "
						      "--device");
			a->backend = BACKEND_GPU;
			break;
		case 'o':
			if (!*optarg)
				return tool_usage_err("--out: empty path");
			a->out = optarg;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_detect_usage(stdout);
			return -1;
		default:
			ret = detect_opt(c, optarg, &a->cascade, &a->params);
			if (ret > 0)
				return ret;
			if (ret < 0)
				return tool_bad_option(c, argc, argv);
			break;
		}
	}
	if (detect_opts_check(&a->params))
		return EXIT_USAGE;
	if (optind >= argc)
		return tool_usage_err("no IMAGE given");
	a->images = argv + optind;
	a->nimages = argc - optind;
	return 0;
}

/* ---- the library's log, caught for one-line errors ---- */

static char lib_msg[256];

static void catch_log(enum dmk_log_level level, const char *fmt, va_list ap,
		      void *user)
{
	(void)user;
	/* The first warning says where; later ones are consequences. */
	if (level <= DMK_LOG_WARN && !lib_msg[0]) {
		size_t len;

		vsnprintf(lib_msg, sizeof(lib_msg), fmt, ap);
		/* Some modules end their lines, tool_err() ends ours. */
		len = strlen(lib_msg);
		if (len && lib_msg[len - 1] == '\n')
			lib_msg[len - 1] = '\0';
	}
}

/* ---- annotated copies ---- */

struct outputs {
	const char *dir;		/* NULL: one file, a->out */
	char **used;			/* names given so far */
	size_t nused;
};

static int out_init(struct outputs *o, const struct detect_args *a)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	if (!a->out)
		return 0;
	if (!stat(a->out, &st) && S_ISDIR(st.st_mode)) {
		o->dir = a->out;
	} else if (a->nimages > 1) {
		if (!stat(a->out, &st))
			return tool_usage_err("--out: '%s' is a file; several "
					      "images need a directory",
					      a->out);
		if (mkdir(a->out, 0755) && errno != EEXIST) {
			tool_err("--out: cannot create directory %s: %s",
				 a->out, strerror(errno));
			return EXIT_FAIL;
		}
		o->dir = a->out;
	}
	o->used = calloc((size_t)a->nimages, sizeof(*o->used));
	if (!o->used) {
		tool_err("out of memory");
		return EXIT_FAIL;
	}
	return 0;
}

static void out_free(struct outputs *o)
{
	size_t i;

	for (i = 0; i < o->nused; i++)
		free(o->used[i]);
	free(o->used);
}

/* The PNG path for input @in: "DIR/NAME.png", NAME unique in this run. */
static char *out_path(struct outputs *o, const struct detect_args *a,
		      const char *in)
{
	const char *base = strrchr(in, '/');
	char *name = NULL, *path = NULL;
	size_t len, i;
	int n = 1;

	if (!o->dir)
		return strdup(a->out);
	base = base ? base + 1 : in;
	len = strcspn(base, ".");
	if (!len)
		len = strlen(base);
	for (;;) {
		bool clash = false;

		free(name);
		if (n == 1 ? asprintf(&name, "%.*s.png", (int)len, base) < 0 :
		    asprintf(&name, "%.*s-%d.png", (int)len, base, n) < 0)
			return NULL;
		for (i = 0; i < o->nused; i++)
			clash |= !strcmp(o->used[i], name);
		if (!clash)
			break;
		n++;
	}
	if (asprintf(&path, "%s/%s", o->dir, name) < 0) {
		free(name);
		return NULL;
	}
	o->used[o->nused++] = name;
	return path;
}

/* A copy of @img, RGB so the boxes can be green, with the boxes drawn. */
static int annotate(const char *path, const struct image *img,
		    const struct dmk_rect *r, size_t n)
{
	static const uint8_t green[3] = { 0, 230, 64 };
	struct image rgb;
	size_t i, px = (size_t)img->width * img->height;
	int thick, ret;

	ret = image_alloc(&rgb, img->width, img->height, 3);
	if (ret)
		return ret;
	if (img->channels == 3) {
		memcpy(rgb.data, img->data, px * 3);
	} else {
		for (i = 0; i < px; i++)
			memset(rgb.data + 3 * i, img->data[i], 3);
	}
	thick = (int)((img->width < img->height ? img->width :
		       img->height) / 200) + 2;
	for (i = 0; i < n; i++)
		image_draw_rect(&rgb, r[i].x, r[i].y, r[i].w, r[i].h, thick,
				green);
	ret = image_save_png(path, &rgb);
	image_free(&rgb);
	return ret;
}

/* ---- detection ---- */

struct detect_ctx {
	const struct detect_args *a;
	enum detect_backend backend;	/* CPU or GPU, once decided */
	struct dmk_cascade *cascade;
	struct dmk_rect *rects;
	size_t cap;
	/* GPU: the context, and a detector for the last image size. */
	struct dmk_vk *vk;
	struct dmk_heap *heap;
	struct dmk_detector *det;
	uint32_t det_w, det_h;
};

/*
 * The backend: --cpu, --gpu, or the GPU when a Vulkan device opens.
 * Return: 0, or EXIT_FAIL after saying why (--gpu without a device).
 */
static int backend_open(struct detect_ctx *ctx)
{
	DMK_OPTS(dmk_vk_opts, vo, .device = ctx->a->device);
	int ret;

	ctx->backend = ctx->a->backend;
	if (ctx->backend == BACKEND_CPU)
		return 0;
	ret = dmk_vk_new(&vo, &ctx->vk);
	if (!ret)
		ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &ctx->heap);
	if (!ret) {
		ctx->backend = BACKEND_GPU;
		return 0;
	}
	dmk_vk_free(ctx->vk);
	ctx->vk = NULL;
	if (ctx->backend == BACKEND_GPU) {
		tool_err("no Vulkan device%s%s: %s%s%s", ctx->a->device ?
			 " matching " : "", ctx->a->device ? ctx->a->device :
			 "", dmk_strerror(ret), lib_msg[0] ? ": " : "",
			 lib_msg);
		return EXIT_FAIL;
	}
	lib_msg[0] = '\0';
	ctx->backend = BACKEND_CPU;	/* auto: no device, the CPU */
	return 0;
}

static void backend_close(struct detect_ctx *ctx)
{
	dmk_detector_free(ctx->det);
	dmk_heap_close(ctx->heap);
	dmk_vk_free(ctx->vk);
	ctx->det = NULL;
	ctx->heap = NULL;
	ctx->vk = NULL;
}

/*
 * The Vulkan detector on one gray image: the pixels go into a memfd
 * buffer that the device imports (no staging copy); a new detector when
 * the size changed.  Only dmk_detector_run() is timed, into *@ns.
 */
static int detect_gpu(struct detect_ctx *ctx, const uint8_t *gray,
		      uint32_t w, uint32_t h, size_t *n, uint64_t *ns)
{
	uint64_t size = ((uint64_t)w * h + 4095) & ~4095ull, t0;
	struct dmk_vk_mem *mem = NULL;
	struct dmk_buf *buf = NULL;
	void *map;
	int ret;

	if (!ctx->det || ctx->det_w != w || ctx->det_h != h) {
		dmk_detector_free(ctx->det);
		ctx->det = NULL;
		ret = dmk_detector_new(ctx->vk, ctx->cascade, w, h,
				       &ctx->a->params, &ctx->det);
		if (ret)
			return ret;
		ctx->det_w = w;
		ctx->det_h = h;
	}
	ret = dmk_heap_alloc(ctx->heap, size, NULL, &buf);
	if (!ret)
		ret = dmk_buf_map(buf, &map);
	if (!ret) {
		memcpy(map, gray, (size_t)w * h);
		ret = dmk_vk_import(ctx->vk, buf, NULL, &mem);
	}
	if (!ret) {
		t0 = now_ns();
		ret = dmk_detector_run(ctx->det, mem, 0, w, ctx->rects,
				       ctx->cap, n);
		*ns = now_ns() - t0;
	}
	dmk_vk_mem_put(mem);
	dmk_buf_put(buf);
	return ret;
}

/*
 * Run the backend on one gray image: the boxes in ctx->rects, their
 * count in *@n, the time the detector took in *@ns.
 */
static int detect_run(struct detect_ctx *ctx, const uint8_t *gray,
		      uint32_t w, uint32_t h, size_t *n, uint64_t *ns)
{
	uint64_t t0;
	int ret;

	for (;;) {
		switch (ctx->backend) {
		case BACKEND_GPU:
			ret = detect_gpu(ctx, gray, w, h, n, ns);
			break;
		case BACKEND_CPU:
		default:
			t0 = now_ns();
			ret = dmk_detect_cpu(ctx->cascade, gray, w, h, w,
					     &ctx->a->params, ctx->rects,
					     ctx->cap, n);
			*ns = now_ns() - t0;
			break;
		}
		if (ret || *n <= ctx->cap)
			return ret;
		/* More faces than room: grow and run again (rare). */
		free(ctx->rects);
		ctx->cap = *n;
		ctx->rects = calloc(ctx->cap, sizeof(*ctx->rects));
		if (!ctx->rects) {
			ctx->cap = 0;
			return -ENOMEM;
		}
	}
}

/* What every image object says of how it was searched. */
static void json_setup(struct json *j, const struct detect_ctx *ctx)
{
	const struct detect_args *a = ctx->a;
	uint32_t ww, wh;

	dmk_cascade_window(ctx->cascade, &ww, &wh);
	json_key(j, "cascade");
	json_object_begin(j);
	json_kv_string(j, "path", a->cascade);
	json_kv_string(j, "kind", dmk_cascade_kind(ctx->cascade) ==
		       DMK_CASCADE_LBP ? "lbp" : "haar");
	json_kv_uint(j, "window_w", ww);
	json_kv_uint(j, "window_h", wh);
	json_object_end(j);
	json_key(j, "params");
	json_object_begin(j);
	json_kv_double(j, "scale_factor", a->params.scale_factor);
	json_kv_int(j, "min_neighbors", a->params.min_neighbors);
	json_kv_uint(j, "min_w", a->params.min_w);
	json_kv_uint(j, "min_h", a->params.min_h);
	json_kv_uint(j, "max_w", a->params.max_w);
	json_kv_uint(j, "max_h", a->params.max_h);
	json_object_end(j);
	json_kv_string(j, "backend", backend_names[ctx->backend]);
	if (ctx->backend == BACKEND_GPU) {
		json_kv_string(j, "device", dmk_vk_device_name(ctx->vk));
		json_kv_string(j, "driver", dmk_vk_driver_name(ctx->vk));
	}
}

/* One image: 0, or EXIT_FAIL after saying why. */
static int detect_one(struct detect_ctx *ctx, struct outputs *o,
		      struct json *j, const char *path)
{
	const struct detect_args *a = ctx->a;
	struct image img = { 0 };
	char err[256], *png = NULL;
	const char *what = err;
	uint8_t *gray = NULL;
	uint64_t ns = 0;
	size_t n = 0, i;
	int ret, status = EXIT_FAIL;

	ret = image_load(path, &img, err, sizeof(err));
	if (ret)
		goto fail;
	gray = malloc((size_t)img.width * img.height);
	if (!gray) {
		what = "out of memory";
		goto fail;
	}
	image_to_gray(&img, gray);
	lib_msg[0] = '\0';
	ret = detect_run(ctx, gray, img.width, img.height, &n, &ns);
	if (ret) {
		snprintf(err, sizeof(err), "detection failed: %s%s%s",
			 dmk_strerror(ret), lib_msg[0] ? ": " : "", lib_msg);
		goto fail;
	}
	if (a->out) {
		png = out_path(o, a, path);
		if (!png) {
			what = "out of memory";
			goto fail;
		}
		ret = annotate(png, &img, ctx->rects, n);
		if (ret) {
			snprintf(err, sizeof(err), "writing %s: %s", png,
				 strerror(-ret));
			goto fail;
		}
	}

	if (a->json) {
		json_object_begin(j);
		json_kv_string(j, "file", path);
		json_kv_uint(j, "width", img.width);
		json_kv_uint(j, "height", img.height);
		json_setup(j, ctx);
		json_kv_double(j, "ms", ns / 1e6);
		json_kv_uint(j, "faces", n);
		json_key(j, "boxes");
		json_array_begin(j);
		for (i = 0; i < n; i++) {
			json_object_begin(j);
			json_kv_int(j, "x", ctx->rects[i].x);
			json_kv_int(j, "y", ctx->rects[i].y);
			json_kv_int(j, "w", ctx->rects[i].w);
			json_kv_int(j, "h", ctx->rects[i].h);
			json_object_end(j);
		}
		json_array_end(j);
		if (png)
			json_kv_string(j, "annotated", png);
		json_object_end(j);
	} else {
		printf("%s: %zu face%s%s", path, n, n == 1 ? "" : "s",
		       n ? ":" : "");
		for (i = 0; i < n; i++)
			printf(" %d,%d,%dx%d", ctx->rects[i].x,
			       ctx->rects[i].y, ctx->rects[i].w,
			       ctx->rects[i].h);
		putchar('\n');
		if (png)
			fprintf(stderr, "%s: wrote %s\n", tool_name(), png);
	}
	status = 0;
	goto out;

fail:
	tool_err("%s: %s", path, what);
	if (a->json) {
		json_object_begin(j);
		json_kv_string(j, "file", path);
		json_kv_string(j, "error", what);
		json_object_end(j);
	}
out:
	free(png);
	free(gray);
	image_free(&img);
	return status;
}

int cmd_detect(int argc, char **argv)
{
	struct detect_ctx ctx = { 0 };
	struct detect_args a;
	struct outputs o;
	struct json j;
	int ret, i, status = EXIT_OK;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	ctx.a = &a;

	lib_msg[0] = '\0';
	dmk_set_log(catch_log, NULL, DMK_LOG_WARN);
	ret = dmk_cascade_load(a.cascade, &ctx.cascade);
	if (ret) {
		/* The library's line names the file and where; else ours. */
		if (lib_msg[0])
			tool_err("%s", lib_msg);
		else
			tool_err("cascade %s: %s", a.cascade,
				 dmk_strerror(ret));
		return EXIT_FAIL;
	}
	ret = out_init(&o, &a);
	if (ret) {
		dmk_cascade_free(ctx.cascade);
		return ret;
	}
	ret = backend_open(&ctx);
	if (ret) {
		out_free(&o);
		dmk_cascade_free(ctx.cascade);
		return ret;
	}
	ctx.cap = FIRST_RECTS;
	ctx.rects = calloc(ctx.cap, sizeof(*ctx.rects));
	if (!ctx.rects) {
		tool_err("out of memory");
		status = EXIT_FAIL;
		goto out;
	}

	if (a.json) {
		/* An array of one object per image. */
		json_init(&j, stdout);
		json_array_begin(&j);
	}
	for (i = 0; i < a.nimages; i++) {
		if (detect_one(&ctx, &o, &j, a.images[i]))
			status = EXIT_FAIL;
		fflush(stdout);
	}
	if (a.json) {
		json_array_end(&j);
		json_end(&j);
	}
out:
	backend_close(&ctx);
	free(ctx.rects);
	out_free(&o);
	dmk_cascade_free(ctx.cascade);
	dmk_set_log(NULL, NULL, DMK_LOG_ERROR);
	return status;
}
