// SPDX-License-Identifier: MIT
/*
 * dmakit clip: turn a still photograph into a short Y4M video that pans
 * and zooms across it, the default input of the detection pipeline and
 * its benchmark.  A virtual camera looks at a window of the photo, of the
 * output's aspect ratio; the window zooms from the whole photo in to
 * 1/1.6 of it and back, while its centre moves on a small Lissajous
 * curve around a focus point (by default where a portrait's face usually
 * is).  Both motions are periodic over the clip, so it loops seamlessly.
 * Each frame is sampled bilinearly from the RGB photo, converted to I420
 * (BT.601 limited range) and written through the library's Y4M sink.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "image.h"
#include "pattern.h"
#include "util.h"

#define DEFAULT_FRAMES 120
#define MAX_FRAMES 1000000
#define DEFAULT_W 640
#define DEFAULT_H 480
#define ZOOM_MAX 1.6
/* Pan amplitude, as a fraction of the window's size. */
#define PAN_X 0.25
#define PAN_Y 0.15
/* The largest side dmk_frame_source_open() reads back. */
#define MAX_SIDE 16384

struct clip_args {
	const char *input;
	const char *out;
	uint64_t frames;
	uint32_t width, height;
	uint32_t fps_num, fps_den;
	double focus_x, focus_y;	/* fractions of the photo */
	bool json;
};

static const char clip_help[] =
	"Usage: dmakit clip [options] IMAGE -o OUT.y4m\n"
	"\n"
	"Make a Y4M video (4:2:0, C420jpeg, BT.601 limited range) that pans\n"
	"and zooms across a photograph (PNG, JPEG, or binary PPM/PGM): the\n"
	"view zooms from the whole photo to 1.6x and back while it drifts\n"
	"around the focus point, so a face there stays in view and changes\n"
	"size.  The motion is periodic: the clip loops without a jump.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE      the Y4M file to write (created or truncated)\n"
	"  --frames N          frames, 1-1000000 (default 120)\n"
	"  --size WxH          frame size, or 480p, 720p, 1080p, ...\n"
	"                      (default 640x480)\n"
	"  --fps N[/D]         frame rate (default 30)\n"
	"  --focus X,Y         where the view centres, as fractions of the\n"
	"                      photo's width and height (default 0.5,0.4:\n"
	"                      a portrait's face)\n"
	"  --json              one JSON object instead of the summary line\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok, 1 the image cannot be read or the file written,\n"
	"2 usage.\n";

void cmd_clip_usage(FILE *f)
{
	fputs(clip_help, f);
}

static int parse_fps(const char *s, uint32_t *num, uint32_t *den)
{
	const char *slash = strpbrk(s, "/:");
	char nbuf[16];
	uint64_t n, d = 1;

	if (slash) {
		if ((size_t)(slash - s) >= sizeof(nbuf))
			return -EINVAL;
		memcpy(nbuf, s, (size_t)(slash - s));
		nbuf[slash - s] = '\0';
		if (parse_uint(slash + 1, 1, 1000000, &d))
			return -EINVAL;
		s = nbuf;
	}
	if (parse_uint(s, 1, 1000000, &n))
		return -EINVAL;
	*num = (uint32_t)n;
	*den = (uint32_t)d;
	return 0;
}

static int parse_focus(const char *s, double *x, double *y)
{
	char *end;

	errno = 0;
	*x = strtod(s, &end);
	if (errno || end == s || *end != ',')
		return -EINVAL;
	s = end + 1;
	*y = strtod(s, &end);
	if (errno || end == s || *end)
		return -EINVAL;
	if (!(*x >= 0 && *x <= 1 && *y >= 0 && *y <= 1))
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct clip_args *a)
{
	enum { OPT_FRAMES = 256, OPT_SIZE, OPT_FPS, OPT_FOCUS, OPT_JSON };
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "fps", required_argument, NULL, OPT_FPS },
		{ "focus", required_argument, NULL, OPT_FOCUS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->frames = DEFAULT_FRAMES;
	a->width = DEFAULT_W;
	a->height = DEFAULT_H;
	a->fps_num = 30;
	a->fps_den = 1;
	a->focus_x = 0.5;
	a->focus_y = 0.4;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				return tool_usage_err("--out: empty path");
			a->out = optarg;
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, MAX_FRAMES, &a->frames))
				return tool_usage_err("--frames: '%s' is not "
					"a number from 1 to %u", optarg,
					MAX_FRAMES);
			break;
		case OPT_SIZE:
			if (pattern_parse_size(optarg, &a->width, &a->height) ||
			    a->width > MAX_SIDE ||
			    a->height > MAX_SIDE)
				return tool_usage_err("--size: '%s' is not WxH "
					"(each 1 to %u) or a name like 720p",
					optarg, MAX_SIDE);
			break;
		case OPT_FPS:
			if (parse_fps(optarg, &a->fps_num, &a->fps_den))
				return tool_usage_err("--fps: '%s' is not N or "
					"N/D (1 to 1000000)", optarg);
			break;
		case OPT_FOCUS:
			if (parse_focus(optarg, &a->focus_x, &a->focus_y))
				return tool_usage_err("--focus: '%s' is not "
					"X,Y with each from 0 to 1", optarg);
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_clip_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage_err("no IMAGE given");
	if (optind + 1 < argc)
		return tool_usage_err("one IMAGE only ('%s' is extra)",
				      argv[optind + 1]);
	a->input = argv[optind];
	if (!a->out)
		return tool_usage_err("no output file: give -o OUT.y4m");
	return 0;
}

/*
 * Shrink @img by an integer factor @k with a box filter, in place of the
 * original, so bilinear sampling of a large photo does not alias.
 */
static int box_shrink(struct image *img, uint32_t k)
{
	struct image s;
	uint32_t x, y, c, dx, dy, ch = img->channels;
	int ret;

	ret = image_alloc(&s, img->width / k, img->height / k, ch);
	if (ret)
		return ret;
	for (y = 0; y < s.height; y++)
		for (x = 0; x < s.width; x++)
			for (c = 0; c < ch; c++) {
				uint32_t sum = 0;

				for (dy = 0; dy < k; dy++)
					for (dx = 0; dx < k; dx++)
						sum += img->data[(((size_t)y *
							k + dy) * img->width +
							(size_t)x * k + dx) *
							ch + c];
				s.data[((size_t)y * s.width + x) * ch + c] =
					(uint8_t)((sum + k * k / 2) / (k * k));
			}
	image_free(img);
	*img = s;
	return 0;
}

/* The view of frame @i: its top-left corner and size, in photo pixels. */
struct view {
	double x, y, w, h;
};

static void view_at(const struct clip_args *a, const struct image *img,
		    uint64_t i, struct view *v)
{
	double t = (double)i / (double)a->frames;
	double zoom = 1 + (ZOOM_MAX - 1) * (1 - cos(2 * M_PI * t)) / 2;
	double aspect = (double)a->width / a->height;
	double bw = img->width, bh = img->height, cx, cy;

	/* The largest window of the output's aspect inside the photo. */
	if (bw / bh > aspect)
		bw = bh * aspect;
	else
		bh = bw / aspect;
	v->w = bw / zoom;
	v->h = bh / zoom;
	cx = a->focus_x * img->width + PAN_X * v->w * sin(2 * M_PI * t);
	cy = a->focus_y * img->height + PAN_Y * v->h * sin(4 * M_PI * t);
	/* Keep the window inside the photo. */
	v->x = fmin(fmax(cx - v->w / 2, 0), img->width - v->w);
	v->y = fmin(fmax(cy - v->h / 2, 0), img->height - v->h);
}

/* Bilinear sample of the view @v into @dst (RGB, the output size). */
static void render(const struct image *img, const struct view *v,
		   struct image *dst)
{
	double sx = v->w / dst->width, sy = v->h / dst->height;
	uint32_t ch = img->channels, u, r, c;

	for (r = 0; r < dst->height; r++) {
		double fy = v->y + (r + 0.5) * sy - 0.5;
		int32_t y0 = (int32_t)floor(fy);
		double wy = fy - y0;
		uint32_t ya = (uint32_t)(y0 < 0 ? 0 : y0);
		uint32_t yb = (uint32_t)(y0 + 1 < 0 ? 0 : y0 + 1);
		uint8_t *out = dst->data + (size_t)r * dst->width * 3;

		if (ya >= img->height)
			ya = img->height - 1;
		if (yb >= img->height)
			yb = img->height - 1;
		for (u = 0; u < dst->width; u++) {
			double fx = v->x + (u + 0.5) * sx - 0.5;
			int32_t x0 = (int32_t)floor(fx);
			double wx = fx - x0;
			uint32_t xa = (uint32_t)(x0 < 0 ? 0 : x0);
			uint32_t xb = (uint32_t)(x0 + 1 < 0 ? 0 : x0 + 1);
			const uint8_t *p00, *p01, *p10, *p11;

			if (xa >= img->width)
				xa = img->width - 1;
			if (xb >= img->width)
				xb = img->width - 1;
			p00 = img->data + ((size_t)ya * img->width + xa) * ch;
			p01 = img->data + ((size_t)ya * img->width + xb) * ch;
			p10 = img->data + ((size_t)yb * img->width + xa) * ch;
			p11 = img->data + ((size_t)yb * img->width + xb) * ch;
			for (c = 0; c < 3; c++) {
				uint32_t k = ch == 3 ? c : 0;
				double top = p00[k] + (p01[k] - p00[k]) * wx;
				double bot = p10[k] + (p11[k] - p10[k]) * wx;

				out[u * 3 + c] =
					(uint8_t)lround(top + (bot - top) * wy);
			}
		}
	}
}

static int write_clip(const struct clip_args *a, struct image *img)
{
	struct dmk_frame_layout layout;
	struct dmk_frame_sink *sink = NULL;
	struct dmk_heap *heap = NULL;
	struct dmk_buf *buf = NULL;
	struct image frame = { 0 };
	uint64_t i, start = now_ns(), ns;
	double base, secs;
	uint8_t *base_p;
	void *map;
	int ret, status = EXIT_FAIL;
	DMK_OPTS(dmk_frame_opts, fo, .pitch_align = 1, .plane_align = 1,
		 .size_align = 1);
	DMK_OPTS(dmk_frame_sink_opts, so, .fps_num = a->fps_num,
		 .fps_den = a->fps_den);
	DMK_OPTS(dmk_alloc_opts, ao, .name = "dmakit-clip");

	/* More than 2 photo pixels per output pixel even zoomed in: box
	 * filter first, bilinear alone would alias. */
	base = fmin((double)img->width / a->width,
		    (double)img->height / a->height) / ZOOM_MAX;
	if (base >= 2) {
		ret = box_shrink(img, (uint32_t)base);
		if (ret) {
			tool_err("%s: shrinking: %s", a->input,
				 strerror(-ret));
			return EXIT_FAIL;
		}
	}

	ret = dmk_frame_layout_init(&layout, DRM_FORMAT_YUV420, a->width,
				    a->height, &fo);
	if (ret) {
		tool_err("laying out %ux%u I420: %s", a->width, a->height,
			 dmk_strerror(ret));
		return EXIT_FAIL;
	}
	ret = image_alloc(&frame, a->width, a->height, 3);
	if (ret) {
		tool_err("%ux%u frame: %s", a->width, a->height,
			 strerror(-ret));
		return EXIT_FAIL;
	}
	/* One memfd buffer, reused for every frame. */
	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &heap);
	if (ret) {
		tool_err("memfd heap: %s", dmk_strerror(ret));
		goto out;
	}
	ret = dmk_heap_alloc(heap, layout.size, &ao, &buf);
	if (!ret)
		ret = dmk_buf_map(buf, &map);
	if (ret) {
		tool_err("a %llu-byte frame buffer: %s",
			 (unsigned long long)layout.size, dmk_strerror(ret));
		goto out;
	}
	base_p = map;
	ret = dmk_frame_sink_open(a->out, &layout, 0, &so, &sink);
	if (ret) {
		tool_err("%s: %s", a->out, dmk_strerror(ret));
		goto out;
	}
	for (i = 0; i < a->frames; i++) {
		struct view v;

		view_at(a, img, i, &v);
		render(img, &v, &frame);
		ret = dmk_buf_begin_cpu(buf, DMK_SYNC_WRITE);
		if (ret) {
			tool_err("buffer access: %s", dmk_strerror(ret));
			goto out;
		}
		image_rgb_to_i420(&frame, base_p + layout.offset[0],
				  layout.pitch[0], base_p + layout.offset[1],
				  layout.pitch[1], base_p + layout.offset[2],
				  layout.pitch[2]);
		ret = dmk_buf_end_cpu(buf, DMK_SYNC_WRITE);
		if (!ret)
			ret = dmk_frame_sink_write(sink, buf, &layout);
		if (ret) {
			tool_err("%s: frame %llu: %s", a->out,
				 (unsigned long long)i, dmk_strerror(ret));
			goto out;
		}
	}
	dmk_frame_sink_close(sink);
	sink = NULL;
	ns = now_ns() - start;
	secs = ns / 1e9;
	if (a->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "input", a->input);
		json_kv_string(&j, "out", a->out);
		json_kv_uint(&j, "frames", a->frames);
		json_kv_uint(&j, "width", a->width);
		json_kv_uint(&j, "height", a->height);
		json_kv_uint(&j, "fps_num", a->fps_num);
		json_kv_uint(&j, "fps_den", a->fps_den);
		json_kv_string(&j, "format", "C420jpeg");
		json_kv_uint(&j, "frame_bytes", layout.size);
		json_kv_double(&j, "seconds", secs);
		json_object_end(&j);
		json_end(&j);
	} else {
		printf("%s: %llu frames %ux%u at %u/%u fps (4:2:0), %.1f MiB, "
		       "from %s in %.2f s\n", a->out,
		       (unsigned long long)a->frames, a->width, a->height,
		       a->fps_num, a->fps_den,
		       (double)layout.size * a->frames / (1 << 20),
		       a->input, secs);
	}
	status = EXIT_OK;
out:
	/* A partial clip must not pass for a whole one (make data). */
	if (sink) {
		dmk_frame_sink_close(sink);
		unlink(a->out);
	}
	dmk_buf_put(buf);
	dmk_heap_close(heap);
	image_free(&frame);
	return status;
}

int cmd_clip(int argc, char **argv)
{
	struct clip_args a;
	struct image img = { 0 };
	char err[256];
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	ret = image_load(a.input, &img, err, sizeof(err));
	if (ret) {
		tool_err("%s: %s", a.input, err);
		return EXIT_FAIL;
	}
	ret = write_clip(&a, &img);
	image_free(&img);
	return ret;
}
