// SPDX-License-Identifier: MIT
/*
 * vkconvert: the built-in conversions of dmk_vk_chain_convert() against a
 * CPU reference, written here from the contract (vk.h, lib/vk_convert.c's
 * header comment) in double precision, not from the shaders:
 *
 * - resampling, per axis: s = (d + 0.5) * n_in / n_out - 0.5, clamped to
 *   [0, n_in - 1]; taps floor(s) and min(floor(s) + 1, n_in - 1), weights
 *   1 - f and f with f = s - floor(s) (OpenCV's INTER_LINEAR);
 * - NV12: Y on the luma grid, U and V on the chroma plane's own grid
 *   (ceil(w / 2) x ceil(h / 2)), interpolated, then BT.601 limited range
 *   (1.164, 1.596, 0.392, 0.813, 2.017), clamped to [0, 255];
 * - float out: (v / 255 - mean) * scale, planes R, G, B;
 * - DRM_FORMAT_BGR888 bytes in memory are R, G, B ("[23:0] B:G:R little
 *   endian");
 * - GRAY8: NV12's Y as stored, or 0.299 R + 0.587 G + 0.114 B, rounded to
 *   nearest once at the end; packed rows, nothing past the output touched.
 *
 * Inputs are seeded random bytes over the whole source buffer (padding
 * included), so every tap of every pixel is checked against an unrelated
 * neighbour.  Each test states its error bound as a named constant.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>

#include <dmakit/vk.h>

#include "helpers.h"

/*
 * Float RGB: the largest absolute difference from the double reference,
 * after normalisation.  The device interpolates in float (24-bit
 * mantissa): about 4 roundings of values up to 255, so ~1e-4 of a level,
 * amplified at most 2.017 + 1.164 times by the YUV matrix, divided by 255
 * and multiplied by the largest scale used here (1 / 0.225 = 4.4): a few
 * 1e-6.  Measured on lavapipe: 1.43e-6 (NV12), 8.8e-7 (BGR888).  The bound
 * keeps a 7x margin over the measurement for devices whose float
 * arithmetic differs (fused multiply-add, reordered sums).
 */
#define RGBF_MAX_ERR 1e-5
/*
 * GRAY8: at most one level from the rounded reference, and only where the
 * exact value is a tie: the device's result may be either neighbour of a
 * value within float rounding of n + 0.5.  Such ties are common, not
 * rare: weights like 5/6 and 3/10 make exact halves out of integer bytes
 * (0.7% of the pixels at 640x480 -> 300x300), and the double reference
 * itself lands a hair below or above them.  So every output must be within
 * 0.5 + GRAY_TIE_EPS of the unrounded reference: a real rounding or tap
 * bug is off by more.  GRAY_TIE_EPS: float interpolation of values up to
 * 255 (ulp 1.5e-5, a handful of roundings) could put a device's value
 * that far past a tie; measured on lavapipe: nothing beyond 0.5 + 1e-9
 * (the double reference's own error at exact ties).
 */
#define GRAY_MAX_LEVELS 1
#define GRAY_TIE_EPS 1e-4

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bytes before and after the output in the destination, checked intact. */
#define DST_GUARD 4096u
#define GUARD_BYTE 0xa5u

/* ImageNet's normalisation, a realistic mean and scale. */
static const float test_mean[3] = { 0.485f, 0.456f, 0.406f };
static const float test_scale[3] = { 1 / 0.229f, 1 / 0.224f, 1 / 0.225f };

struct size_case {
	uint32_t in_w, in_h, out_w, out_h;
};

/* Downscale, odd-sized upscale, anisotropic, identity, degenerate. */
static const struct size_case sizes[] = {
	{ 1920, 1080, 640, 360 },
	{ 37, 23, 64, 48 },
	{ 640, 480, 300, 300 },
	{ 33, 17, 33, 17 },
	{ 1, 1, 3, 2 },
	{ 101, 75, 13, 7 },
	{ 5, 3, 63, 47 },	/* 2961 gray pixels: a partial last word */
};

static void vk_env(void)
{
	/* The loader and Mesa complain on stderr without it. */
	setenv("XDG_RUNTIME_DIR", "/tmp", 0);
}

/* A context on the default device, or skip. */
static struct dmk_vk *vk_open(void)
{
	struct dmk_vk *vk = NULL;
	int ret;

	vk_env();
	ret = dmk_vk_new(NULL, &vk);
	if (ret == -ENODEV || ret == -ENOTSUP)
		dmk_test_require(0, "no Vulkan device with compute and "
				 "timeline semaphores");
	cr_assert_eq(ret, 0, "dmk_vk_new: %s", strerror(-ret));
	return vk;
}

static uint32_t rng_next(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void fill_random(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t s = seed ? seed : 1;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_next(&s) >> 24);
}

/* ---- the CPU reference ---- */

struct tap {
	uint32_t i0, i1;
	double f;
};

static struct tap ref_axis(uint32_t d, uint32_t n_in, uint32_t n_out)
{
	double s = (d + 0.5) * (double)n_in / (double)n_out - 0.5;
	struct tap t;

	if (s < 0)
		s = 0;
	if (s > n_in - 1.0)
		s = n_in - 1.0;
	t.i0 = (uint32_t)floor(s);
	t.i1 = t.i0 + 1 < n_in ? t.i0 + 1 : n_in - 1;
	t.f = s - t.i0;
	return t;
}

/* Bilinear sample of a byte plane: @step bytes between samples of a row,
 * the sample's first byte at @chan. */
static double ref_sample(const uint8_t *plane, uint32_t pitch, uint32_t step,
			 uint32_t chan, struct tap tx, struct tap ty)
{
	const uint8_t *r0 = plane + (size_t)ty.i0 * pitch + chan;
	const uint8_t *r1 = plane + (size_t)ty.i1 * pitch + chan;
	double top, bot;

	top = r0[tx.i0 * step] * (1 - tx.f) + r0[tx.i1 * step] * tx.f;
	bot = r1[tx.i0 * step] * (1 - tx.f) + r1[tx.i1 * step] * tx.f;
	return top * (1 - ty.f) + bot * ty.f;
}

static double clamp255(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* R, G, B (0..255, unrounded) of output pixel (dx, dy). */
static void ref_rgb(const uint8_t *base, const struct dmk_frame_layout *l,
		    uint32_t out_w, uint32_t out_h, uint32_t dx, uint32_t dy,
		    double rgb[3])
{
	struct tap tx = ref_axis(dx, l->width, out_w);
	struct tap ty = ref_axis(dy, l->height, out_h);
	const uint8_t *p0 = base + l->offset[0];

	if (l->fourcc == DRM_FORMAT_NV12) {
		uint32_t cw = (l->width + 1) / 2, ch = (l->height + 1) / 2;
		struct tap cx = ref_axis(dx, cw, out_w);
		struct tap cy = ref_axis(dy, ch, out_h);
		const uint8_t *p1 = base + l->offset[1];
		double y, u, v;

		y = ref_sample(p0, l->pitch[0], 1, 0, tx, ty);
		u = ref_sample(p1, l->pitch[1], 2, 0, cx, cy) - 128;
		v = ref_sample(p1, l->pitch[1], 2, 1, cx, cy) - 128;
		y = 1.164 * (y - 16);
		rgb[0] = clamp255(y + 1.596 * v);
		rgb[1] = clamp255(y - 0.392 * u - 0.813 * v);
		rgb[2] = clamp255(y + 2.017 * u);
		return;
	}
	/* BGR888: bytes R, G, B. */
	rgb[0] = ref_sample(p0, l->pitch[0], 3, 0, tx, ty);
	rgb[1] = ref_sample(p0, l->pitch[0], 3, 1, tx, ty);
	rgb[2] = ref_sample(p0, l->pitch[0], 3, 2, tx, ty);
}

static double ref_rgbf(const uint8_t *base, const struct dmk_frame_layout *l,
		       uint32_t out_w, uint32_t out_h, uint32_t dx,
		       uint32_t dy, unsigned int c)
{
	double rgb[3];

	ref_rgb(base, l, out_w, out_h, dx, dy, rgb);
	return (rgb[c] / 255 - test_mean[c]) * test_scale[c];
}

/* The gray value before rounding (0..255). */
static double ref_gray(const uint8_t *base, const struct dmk_frame_layout *l,
		       uint32_t out_w, uint32_t out_h, uint32_t dx, uint32_t dy)
{
	double rgb[3], v;

	if (l->fourcc != DRM_FORMAT_BGR888) {	/* luma plane first */
		v = ref_sample(base + l->offset[0], l->pitch[0], 1, 0,
			       ref_axis(dx, l->width, out_w),
			       ref_axis(dy, l->height, out_h));
	} else {
		ref_rgb(base, l, out_w, out_h, dx, dy, rgb);
		v = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
	}
	return clamp255(v);
}

/* ---- running one conversion ---- */

struct cvt {
	uint32_t fourcc;
	enum dmk_vk_convert_kind kind;
	struct size_case sz;
	uint64_t src_shift;	/* frame this far into the source buffer */
	unsigned int src_flags;	/* dmk_vk_import() flags */
	unsigned int dst_flags;
	uint32_t seed;
};

struct cvt_result {
	uint8_t *out;		/* the output bytes (malloc'd) */
	uint64_t out_bytes;
	double max_err;		/* RGBF: abs; GRAY8: from the unrounded value */
	int max_levels;		/* GRAY8: most levels from the rounded one */
	uint64_t off;		/* GRAY8: pixels not equal to the rounded one */
	uint64_t pixels;
	enum dmk_vk_path src_path, dst_path;
	bool src_mirrored;
};

static uint64_t out_size(enum dmk_vk_convert_kind kind, uint32_t w,
			 uint32_t h)
{
	uint64_t n = (uint64_t)w * h;

	return kind == DMK_VK_CONVERT_GRAY8 ? n : n * 3 * sizeof(float);
}

static void layout_for(const struct cvt *k, struct dmk_frame_layout *l)
{
	unsigned int p;
	int ret;

	ret = dmk_frame_layout_init(l, k->fourcc, k->sz.in_w, k->sz.in_h,
				    NULL);
	cr_assert_eq(ret, 0, "dmk_frame_layout_init: %s", strerror(-ret));
	for (p = 0; p < l->nplanes; p++)
		l->offset[p] += k->src_shift;
	l->size += k->src_shift;
}

/* Check the output against the reference; fills @r's error figures. */
static void check_output(const struct cvt *k, const struct dmk_frame_layout *l,
			 const uint8_t *src, struct cvt_result *r)
{
	uint32_t w = k->sz.out_w, h = k->sz.out_h, x, y;
	uint64_t plane = (uint64_t)w * h;
	unsigned int c;

	r->max_err = 0;
	r->max_levels = 0;
	r->off = 0;
	r->pixels = plane;
	for (y = 0; y < h; y++) {
		for (x = 0; x < w; x++) {
			uint64_t i = (uint64_t)y * w + x;

			if (k->kind == DMK_VK_CONVERT_GRAY8) {
				double v = ref_gray(src, l, w, h, x, y);
				int d = abs((int)r->out[i] -
					    (int)floor(v + 0.5));

				if (d > r->max_levels)
					r->max_levels = d;
				r->off += d != 0;
				if (fabs(r->out[i] - v) > r->max_err)
					r->max_err = fabs(r->out[i] - v);
				continue;
			}
			for (c = 0; c < 3; c++) {
				float got;
				double e;

				memcpy(&got, r->out + (c * plane + i) * 4, 4);
				e = fabs(got - ref_rgbf(src, l, w, h, x, y, c));
				if (!(e <= r->max_err))	/* NaN too */
					r->max_err = isnan(e) ? INFINITY : e;
			}
		}
	}
}

static void guard_check(const uint8_t *p, size_t len, const char *where)
{
	size_t i;

	for (i = 0; i < len; i++)
		cr_assert_eq(p[i], GUARD_BYTE, "byte %zu %s the output "
			     "changed: 0x%02x", i, where, p[i]);
}

static void import(struct dmk_vk *vk, struct dmk_buf *buf,
		   unsigned int flags, struct dmk_vk_mem **mem)
{
	DMK_OPTS(dmk_vk_import_opts, io, .flags = flags);
	int ret = dmk_vk_import(vk, buf, &io, mem);

	cr_assert_eq(ret, 0, "dmk_vk_import(flags 0x%x): %s", flags,
		     strerror(-ret));
}

static void run_cvt(struct dmk_vk *vk, const struct cvt *k,
		    struct cvt_result *r)
{
	DMK_OPTS(dmk_vk_convert, cv);
	struct dmk_frame_layout l;
	struct dmk_buf *src, *dst;
	struct dmk_vk_mem *ms, *md;
	struct dmk_vk_chain *chain;
	uint64_t dst_size;
	uint8_t *sp, *dp;
	int ret;

	layout_for(k, &l);
	r->out_bytes = out_size(k->kind, k->sz.out_w, k->sz.out_h);
	dst_size = DST_GUARD + r->out_bytes + DST_GUARD;

	src = dmk_test_alloc("memfd", l.size, "vkconvert-src");
	dst = dmk_test_alloc("memfd", dst_size, "vkconvert-dst");
	cr_assert_eq(dmk_buf_map(src, (void **)&sp), 0);
	cr_assert_eq(dmk_buf_map(dst, (void **)&dp), 0);
	fill_random(sp, dmk_buf_size(src), k->seed);
	memset(dp, GUARD_BYTE, dmk_buf_size(dst));

	import(vk, src, k->src_flags, &ms);
	import(vk, dst, k->dst_flags, &md);
	r->src_path = dmk_vk_mem_path(ms);
	r->dst_path = dmk_vk_mem_path(md);
	r->src_mirrored = dmk_vk_mem_mirrored(ms);

	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	cv.kind = k->kind;
	cv.src = ms;
	cv.src_layout = l;
	cv.dst = md;
	cv.dst_offset = DST_GUARD;
	cv.out_w = k->sz.out_w;
	cv.out_h = k->sz.out_h;
	memcpy(cv.mean, test_mean, sizeof(cv.mean));
	memcpy(cv.scale, test_scale, sizeof(cv.scale));
	ret = dmk_vk_chain_convert(chain, &cv);
	cr_assert_eq(ret, 0, "dmk_vk_chain_convert: %s", strerror(-ret));
	cr_assert_eq(dmk_vk_chain_end(chain), 0);
	ret = dmk_vk_chain_run(chain);
	cr_assert_eq(ret, 0, "dmk_vk_chain_run: %s", strerror(-ret));

	guard_check(dp, DST_GUARD, "before");
	guard_check(dp + DST_GUARD + r->out_bytes,
		    dst_size - DST_GUARD - r->out_bytes, "after");
	r->out = malloc(r->out_bytes);
	cr_assert_not_null(r->out);
	memcpy(r->out, dp + DST_GUARD, r->out_bytes);
	check_output(k, &l, sp, r);

	dmk_vk_chain_free(chain);
	dmk_vk_mem_put(md);
	dmk_vk_mem_put(ms);
	dmk_buf_put(dst);
	dmk_buf_put(src);
}

static const char *fcc_name(uint32_t fourcc)
{
	switch (fourcc) {
	case DRM_FORMAT_NV12: return "NV12";
	case DRM_FORMAT_YUV420: return "YUV420";
	case DRM_FORMAT_R8: return "R8";
	default: return "BGR888";
	}
}

/* The checks of check_sizes() on one result. */
static void assert_result(const struct cvt *k, const struct cvt_result *r)
{
	if (k->kind == DMK_VK_CONVERT_GRAY8) {
		cr_assert_leq(r->max_levels, GRAY_MAX_LEVELS, "%s %ux%u -> "
			      "%ux%u: %d levels off", fcc_name(k->fourcc),
			      k->sz.in_w, k->sz.in_h, k->sz.out_w,
			      k->sz.out_h, r->max_levels);
		cr_assert_leq(r->max_err, 0.5 + GRAY_TIE_EPS, "%s %ux%u -> "
			      "%ux%u: %g from the exact value, not a tie",
			      fcc_name(k->fourcc), k->sz.in_w, k->sz.in_h,
			      k->sz.out_w, k->sz.out_h, r->max_err);
	} else {
		cr_assert_leq(r->max_err, RGBF_MAX_ERR, "%s %ux%u -> %ux%u: "
			      "max error %g", fcc_name(k->fourcc),
			      k->sz.in_w, k->sz.in_h, k->sz.out_w,
			      k->sz.out_h, r->max_err);
	}
}

/* Every size of the table, checked against the reference. */
static void check_sizes(uint32_t fourcc, enum dmk_vk_convert_kind kind)
{
	struct dmk_vk *vk = vk_open();
	size_t i;

	for (i = 0; i < ARRAY_LEN(sizes); i++) {
		struct cvt k = {
			.fourcc = fourcc, .kind = kind, .sz = sizes[i],
			.seed = 0x5eed0000u + (uint32_t)i,
		};
		struct cvt_result r = { 0 };

		run_cvt(vk, &k, &r);
		cr_log_info("%s %ux%u -> %ux%u %s: max error %.9g, %llu "
			    "ties rounded the other way",
			    fcc_name(fourcc), k.sz.in_w, k.sz.in_h,
			    k.sz.out_w, k.sz.out_h,
			    kind == DMK_VK_CONVERT_GRAY8 ? "gray8" : "rgbf",
			    r.max_err, (unsigned long long)r.off);
		assert_result(&k, &r);
		free(r.out);
	}
	dmk_vk_free(vk);
}

DMK_TEST(vkconvert, nv12_rgbf)
{
	check_sizes(DRM_FORMAT_NV12, DMK_VK_CONVERT_RGB_PLANAR_F32);
}

DMK_TEST(vkconvert, bgr_rgbf)
{
	check_sizes(DRM_FORMAT_BGR888, DMK_VK_CONVERT_RGB_PLANAR_F32);
}

DMK_TEST(vkconvert, nv12_gray)
{
	check_sizes(DRM_FORMAT_NV12, DMK_VK_CONVERT_GRAY8);
}

DMK_TEST(vkconvert, bgr_gray)
{
	check_sizes(DRM_FORMAT_BGR888, DMK_VK_CONVERT_GRAY8);
}

/* GRAY8 reads only the luma plane: I420 (Y4M's layout) and R8 too. */
DMK_TEST(vkconvert, yuv420_gray)
{
	check_sizes(DRM_FORMAT_YUV420, DMK_VK_CONVERT_GRAY8);
}

DMK_TEST(vkconvert, r8_gray)
{
	check_sizes(DRM_FORMAT_R8, DMK_VK_CONVERT_GRAY8);
}

/*
 * The same conversion through another import path gives the very same
 * bytes: the stage is the same, only how the frame reaches it differs.
 */
static void check_same(unsigned int src_flags, unsigned int dst_flags)
{
	static const struct size_case some[] = {
		{ 37, 23, 64, 48 },
		{ 640, 480, 300, 300 },
		{ 5, 3, 63, 47 },
	};
	static const uint32_t fccs[] = { DRM_FORMAT_NV12, DRM_FORMAT_BGR888 };
	static const enum dmk_vk_convert_kind kinds[] = {
		DMK_VK_CONVERT_RGB_PLANAR_F32, DMK_VK_CONVERT_GRAY8,
	};
	struct dmk_vk *vk = vk_open();
	size_t i, f, n;

	for (i = 0; i < ARRAY_LEN(some); i++) {
		for (f = 0; f < ARRAY_LEN(fccs); f++) {
			for (n = 0; n < ARRAY_LEN(kinds); n++) {
				struct cvt k = {
					.fourcc = fccs[f], .kind = kinds[n],
					.sz = some[i], .src_shift = 16 * i,
					.seed = 0xabc00u + (uint32_t)(i * 4 +
								     f * 2 + n),
				};
				struct cvt_result a = { 0 }, b = { 0 };

				run_cvt(vk, &k, &a);
				k.src_flags = src_flags;
				k.dst_flags = dst_flags;
				run_cvt(vk, &k, &b);
				assert_result(&k, &b);
				cr_assert_eq(a.out_bytes, b.out_bytes);
				cr_assert(!memcmp(a.out, b.out, a.out_bytes),
					  "%s %ux%u -> %ux%u kind %d: flags "
					  "0x%x/0x%x differ from the default "
					  "import", fcc_name(k.fourcc),
					  k.sz.in_w, k.sz.in_h, k.sz.out_w,
					  k.sz.out_h, k.kind, src_flags,
					  dst_flags);
				if (src_flags == DMK_VK_IMPORT_STAGING)
					cr_assert_eq(b.src_path,
						     DMK_VK_PATH_STAGING);
				if (dst_flags == DMK_VK_IMPORT_STAGING)
					cr_assert_eq(b.dst_path,
						     DMK_VK_PATH_STAGING);
				if (src_flags & DMK_VK_IMPORT_MIRROR)
					cr_log_info("mirrored: %d",
						    b.src_mirrored);
				free(a.out);
				free(b.out);
			}
		}
	}
	dmk_vk_free(vk);
}

/* Staging both ways: copied in before the run, out after it. */
DMK_TEST(vkconvert, staging_same)
{
	check_same(DMK_VK_IMPORT_STAGING, DMK_VK_IMPORT_STAGING);
}

/* A staged input into a zero-copy output. */
DMK_TEST(vkconvert, staging_src_only)
{
	check_same(DMK_VK_IMPORT_STAGING, 0);
}

/* A device-local mirror of the input, filled at every replay. */
DMK_TEST(vkconvert, mirror_same)
{
	check_same(DMK_VK_IMPORT_MIRROR, 0);
}

/*
 * One chain, recorded once, two conversions of one NV12 frame (not at the
 * buffer's start, nor 16-byte aligned): replayed after the frame changed,
 * it converts the new frame.
 */
DMK_TEST(vkconvert, replay_two_outputs)
{
	struct cvt k[2] = {
		{ DRM_FORMAT_NV12, DMK_VK_CONVERT_RGB_PLANAR_F32,
		  { 640, 480, 300, 300 }, 100, 0, 0, 0 },
		{ DRM_FORMAT_NV12, DMK_VK_CONVERT_GRAY8,
		  { 640, 480, 211, 97 }, 100, 0, 0, 0 },
	};
	DMK_OPTS(dmk_vk_convert, cv);
	struct dmk_vk *vk = vk_open();
	struct dmk_frame_layout l;
	struct dmk_buf *src, *dst;
	struct dmk_vk_mem *ms, *md;
	struct dmk_vk_chain *chain;
	uint64_t off[2], end;
	uint8_t *sp, *dp;
	int round, i, ret;

	layout_for(&k[0], &l);
	off[0] = DST_GUARD;
	end = off[0] + out_size(k[0].kind, 300, 300);
	off[1] = (end + 15) & ~15ull;
	end = off[1] + out_size(k[1].kind, 211, 97);
	src = dmk_test_alloc("memfd", l.size, "vkconvert-src");
	dst = dmk_test_alloc("memfd", end + DST_GUARD, "vkconvert-dst");
	cr_assert_eq(dmk_buf_map(src, (void **)&sp), 0);
	cr_assert_eq(dmk_buf_map(dst, (void **)&dp), 0);
	memset(dp, GUARD_BYTE, dmk_buf_size(dst));
	import(vk, src, 0, &ms);
	import(vk, dst, 0, &md);

	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	for (i = 0; i < 2; i++) {
		cv.kind = k[i].kind;
		cv.src = ms;
		cv.src_layout = l;
		cv.dst = md;
		cv.dst_offset = off[i];
		cv.out_w = k[i].sz.out_w;
		cv.out_h = k[i].sz.out_h;
		memcpy(cv.mean, test_mean, sizeof(cv.mean));
		memcpy(cv.scale, test_scale, sizeof(cv.scale));
		ret = dmk_vk_chain_convert(chain, &cv);
		cr_assert_eq(ret, 0, "convert %d: %s", i, strerror(-ret));
	}
	cr_assert_eq(dmk_vk_chain_end(chain), 0);

	for (round = 0; round < 3; round++) {
		fill_random(sp, dmk_buf_size(src), 0x0e0e0u + round);
		ret = dmk_vk_chain_run(chain);
		cr_assert_eq(ret, 0, "run %d: %s", round, strerror(-ret));
		for (i = 0; i < 2; i++) {
			struct cvt_result r = {
				.out = dp + off[i],
				.out_bytes = out_size(k[i].kind,
						      k[i].sz.out_w,
						      k[i].sz.out_h),
			};

			check_output(&k[i], &l, sp, &r);
			assert_result(&k[i], &r);
		}
		guard_check(dp, DST_GUARD, "before");
		guard_check(dp + end, dmk_buf_size(dst) - end, "after");
		/* The 16-byte gap between the outputs is untouched too. */
		guard_check(dp + off[0] + out_size(k[0].kind, 300, 300),
			    off[1] - off[0] - out_size(k[0].kind, 300, 300),
			    "between");
	}

	dmk_vk_chain_free(chain);
	dmk_vk_mem_put(md);
	dmk_vk_mem_put(ms);
	dmk_buf_put(dst);
	dmk_buf_put(src);
	dmk_vk_free(vk);
}

/* ---- bad input ---- */

struct err_env {
	struct dmk_vk *vk;
	struct dmk_buf *src, *dst;
	struct dmk_vk_mem *ms, *md;
	struct dmk_vk_chain *chain;
	struct dmk_vk_convert cv;	/* a valid conversion to spoil */
};

static void err_open(struct err_env *e, uint64_t src_size, uint64_t dst_size)
{
	struct dmk_frame_layout l;

	memset(e, 0, sizeof(*e));
	e->vk = vk_open();
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 640, 480,
					   NULL), 0);
	e->src = dmk_test_alloc("memfd", src_size ? src_size : l.size,
				"vkconvert-src");
	e->dst = dmk_test_alloc("memfd", dst_size ? dst_size :
				out_size(DMK_VK_CONVERT_RGB_PLANAR_F32, 300,
					 300), "vkconvert-dst");
	import(e->vk, e->src, 0, &e->ms);
	import(e->vk, e->dst, 0, &e->md);
	cr_assert_eq(dmk_vk_chain_new(e->vk, &e->chain), 0);
	e->cv.sz = sizeof(e->cv);
	e->cv.kind = DMK_VK_CONVERT_RGB_PLANAR_F32;
	e->cv.src = e->ms;
	e->cv.src_layout = l;
	e->cv.dst = e->md;
	e->cv.out_w = 300;
	e->cv.out_h = 300;
	memcpy(e->cv.mean, test_mean, sizeof(e->cv.mean));
	memcpy(e->cv.scale, test_scale, sizeof(e->cv.scale));
}

static void err_close(struct err_env *e)
{
	dmk_vk_chain_free(e->chain);
	dmk_vk_mem_put(e->md);
	dmk_vk_mem_put(e->ms);
	dmk_buf_put(e->dst);
	dmk_buf_put(e->src);
	dmk_vk_free(e->vk);
}

static void expect(struct err_env *e, const struct dmk_vk_convert *cv,
		   int want, const char *what)
{
	int ret = dmk_vk_chain_convert(e->chain, cv);

	cr_assert_eq(ret, want, "%s: got %d (%s), want %d (%s)", what, ret,
		     strerror(-ret), want, strerror(-want));
}

/* A source buffer smaller than the frame's layout. */
DMK_TEST(vkconvert, err_src_too_small)
{
	struct err_env e;
	struct dmk_vk_convert cv;
	uint64_t size;

	err_open(&e, 0, 0);	/* a 640x480 NV12 source, in whole pages */
	size = dmk_vk_mem_size(e.ms);
	cv = e.cv;
	cr_assert_eq(dmk_frame_layout_init(&cv.src_layout, DRM_FORMAT_NV12,
					   1280, 720, NULL), 0);
	expect(&e, &cv, -ERANGE, "1280x720 NV12 in a 640x480 source");
	/* The UV plane moved past the end; the total size still fits. */
	cv = e.cv;
	cv.src_layout.offset[1] += 8192;
	cr_assert_gt(cv.src_layout.offset[1] + 240 * 640, size);
	cr_assert_leq(cv.src_layout.size, size);
	expect(&e, &cv, -ERANGE, "UV plane past the end");
	/* Planes fit, but the layout claims more than the buffer has. */
	cv = e.cv;
	cv.src_layout.size = size + 1;
	expect(&e, &cv, -ERANGE, "frame size past the end");
	err_close(&e);
}

DMK_TEST(vkconvert, err_dst_too_small)
{
	struct err_env e;
	struct dmk_vk_convert cv;

	err_open(&e, 0, 4096);
	expect(&e, &e.cv, -ERANGE, "300x300x3 floats in 4 KiB");
	cv = e.cv;
	cv.kind = DMK_VK_CONVERT_GRAY8;
	cv.out_w = 64;
	cv.out_h = 64;
	expect(&e, &cv, 0, "64x64 gray in 4 KiB");
	cv.dst_offset = 16;
	expect(&e, &cv, -ERANGE, "64x64 gray at offset 16 in 4 KiB");
	cv.dst_offset = UINT64_MAX & ~15ull;
	expect(&e, &cv, -ERANGE, "offset near 2^64");
	err_close(&e);
}

DMK_TEST(vkconvert, err_fourcc)
{
	static const uint32_t bad[] = {
		DRM_FORMAT_XRGB8888, DRM_FORMAT_YUV420, DRM_FORMAT_RGB888,
		DRM_FORMAT_NV21, DRM_FORMAT_R8, 0,
	};
	struct err_env e;
	struct dmk_vk_convert cv;
	size_t i;

	err_open(&e, 8 << 20, 0);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		cv = e.cv;
		if (bad[i])
			cr_assert_eq(dmk_frame_layout_init(&cv.src_layout,
							   bad[i], 640, 480,
							   NULL), 0);
		else
			cv.src_layout.fourcc = 0;
		expect(&e, &cv, -EINVAL, "unsupported fourcc");
	}
	/* GRAY8 takes luma-first formats, not other RGB layouts. */
	cv = e.cv;
	cv.kind = DMK_VK_CONVERT_GRAY8;
	cr_assert_eq(dmk_frame_layout_init(&cv.src_layout, DRM_FORMAT_XRGB8888,
					   640, 480, NULL), 0);
	expect(&e, &cv, -EINVAL, "XRGB8888 to gray");
	cr_assert_eq(dmk_frame_layout_init(&cv.src_layout, DRM_FORMAT_YUV420,
					   640, 480, NULL), 0);
	expect(&e, &cv, 0, "YUV420 to gray");
	err_close(&e);
}

DMK_TEST(vkconvert, err_zero_size)
{
	struct err_env e;
	struct dmk_vk_convert cv;

	err_open(&e, 0, 0);
	cv = e.cv;
	cv.out_w = 0;
	expect(&e, &cv, -EINVAL, "out_w 0");
	cv = e.cv;
	cv.out_h = 0;
	expect(&e, &cv, -EINVAL, "out_h 0");
	cv = e.cv;
	cv.out_w = 16385;
	cv.out_h = 1;
	expect(&e, &cv, -EINVAL, "out_w 16385");
	cv = e.cv;
	cv.src_layout.width = 0;
	expect(&e, &cv, -EINVAL, "source width 0");
	err_close(&e);
}

/* Everything else that is wrong with a request; the chain stays usable. */
DMK_TEST(vkconvert, err_misc)
{
	struct err_env e;
	struct dmk_vk_convert cv;
	struct {
		struct dmk_vk_convert cv;
		uint64_t tail;
	} big;
	struct dmk_frame_layout wide;

	err_open(&e, 0, 0);
	expect(&e, NULL, -EINVAL, "NULL");
	cr_assert_eq(dmk_vk_chain_convert(NULL, &e.cv), -EINVAL);
	cv = e.cv;
	cv.kind = 0;
	expect(&e, &cv, -EINVAL, "kind 0");
	cv.kind = 3;
	expect(&e, &cv, -EINVAL, "kind 3");
	cv = e.cv;
	cv.src = NULL;
	expect(&e, &cv, -EINVAL, "no src");
	cv = e.cv;
	cv.dst = NULL;
	expect(&e, &cv, -EINVAL, "no dst");
	cv = e.cv;
	cv.dst_offset = 8;
	expect(&e, &cv, -EINVAL, "dst_offset 8");
	cv = e.cv;
	cv.src_layout.pitch[0] = 639;
	expect(&e, &cv, -EINVAL, "Y pitch shorter than a row");
	cv = e.cv;
	cv.src_layout.pitch[1] = 638;
	expect(&e, &cv, -EINVAL, "UV pitch shorter than a row");
	cv = e.cv;
	cv.src_layout.nplanes = 1;
	expect(&e, &cv, -EINVAL, "NV12 with one plane");
	cv = e.cv;
	cv.scale[1] = NAN;
	expect(&e, &cv, -EINVAL, "NaN scale");
	cv = e.cv;
	cv.mean[2] = INFINITY;
	expect(&e, &cv, -EINVAL, "infinite mean");
	/* Wider than the shaders' 32-bit index arithmetic allows. */
	cr_assert_eq(dmk_frame_layout_init(&wide, DRM_FORMAT_BGR888, 70000, 1,
					   NULL), 0);
	cv = e.cv;
	cv.src_layout = wide;
	expect(&e, &cv, -EINVAL, "source 70000 wide");
	/* The output over the frame it reads. */
	cv = e.cv;
	cv.dst = e.ms;
	cv.kind = DMK_VK_CONVERT_GRAY8;
	cv.out_w = 64;
	cv.out_h = 64;
	cv.dst_offset = 4096;
	expect(&e, &cv, -EINVAL, "output overlapping the source");
	/* A newer caller's struct: unknown non-zero bytes are refused. */
	memset(&big, 0, sizeof(big));
	big.cv = e.cv;
	big.cv.sz = sizeof(big);
	big.tail = 1;
	expect(&e, &big.cv, -EINVAL, "unknown tail bytes");
	big.tail = 0;
	expect(&e, &big.cv, 0, "zero tail bytes");
	/* None of that spoilt the chain. */
	expect(&e, &e.cv, 0, "valid");
	cr_assert_eq(dmk_vk_chain_end(e.chain), 0);
	cr_assert_eq(dmk_vk_chain_run(e.chain), 0);
	err_close(&e);
}

/*
 * Known colours, against constants worked out by hand rather than the
 * reference: pins the byte order of BGR888 (R, G, B in memory) and the U/V
 * order of NV12 (U first), which a reference sharing the shaders' reading
 * would not catch.
 */
struct solid {
	uint32_t fourcc;
	uint8_t bytes[3];	/* BGR888: the pixel's bytes; NV12: Y, U, V */
	float rgb[3];		/* expected, 0..1 (mean 0, scale 1) */
	uint8_t gray;
};

static void run_solid(struct dmk_vk *vk, const struct solid *t)
{
	static const struct size_case sz = { 6, 4, 5, 3 };
	DMK_OPTS(dmk_vk_convert, cv);
	struct dmk_frame_layout l;
	struct dmk_buf *src, *dst;
	struct dmk_vk_mem *ms, *md;
	struct dmk_vk_chain *chain;
	uint64_t rgb_bytes = out_size(DMK_VK_CONVERT_RGB_PLANAR_F32, 5, 3);
	uint32_t x, y, c;
	uint8_t *sp, *dp;
	float v;

	cr_assert_eq(dmk_frame_layout_init(&l, t->fourcc, sz.in_w, sz.in_h,
					   NULL), 0);
	src = dmk_test_alloc("memfd", l.size, "vkconvert-src");
	dst = dmk_test_alloc("memfd", rgb_bytes + 64, "vkconvert-dst");
	cr_assert_eq(dmk_buf_map(src, (void **)&sp), 0);
	cr_assert_eq(dmk_buf_map(dst, (void **)&dp), 0);
	for (y = 0; y < sz.in_h; y++) {
		for (x = 0; x < sz.in_w; x++) {
			if (t->fourcc == DRM_FORMAT_BGR888) {
				memcpy(sp + l.offset[0] + y * l.pitch[0] +
				       3 * x, t->bytes, 3);
				continue;
			}
			sp[l.offset[0] + y * l.pitch[0] + x] = t->bytes[0];
			if (x % 2 || y % 2)
				continue;
			sp[l.offset[1] + y / 2 * l.pitch[1] + x] = t->bytes[1];
			sp[l.offset[1] + y / 2 * l.pitch[1] + x + 1] =
				t->bytes[2];
		}
	}
	import(vk, src, 0, &ms);
	import(vk, dst, 0, &md);
	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	cv.src = ms;
	cv.src_layout = l;
	cv.dst = md;
	cv.out_w = sz.out_w;
	cv.out_h = sz.out_h;
	cv.scale[0] = cv.scale[1] = cv.scale[2] = 1;
	cv.kind = DMK_VK_CONVERT_RGB_PLANAR_F32;
	cr_assert_eq(dmk_vk_chain_convert(chain, &cv), 0);
	cv.kind = DMK_VK_CONVERT_GRAY8;
	cv.dst_offset = (rgb_bytes + 15) & ~15ull;
	cr_assert_eq(dmk_vk_chain_convert(chain, &cv), 0);
	cr_assert_eq(dmk_vk_chain_end(chain), 0);
	cr_assert_eq(dmk_vk_chain_run(chain), 0);

	for (c = 0; c < 3; c++) {
		for (x = 0; x < 15; x++) {
			memcpy(&v, dp + (c * 15 + x) * 4, 4);
			cr_assert_float_eq(v, t->rgb[c], 1e-4, "channel %u "
					   "pixel %u: %g, want %g", c, x, v,
					   t->rgb[c]);
		}
	}
	for (x = 0; x < 15; x++)
		cr_assert_eq(dp[cv.dst_offset + x], t->gray, "gray pixel %u: "
			     "%u, want %u", x, dp[cv.dst_offset + x], t->gray);

	dmk_vk_chain_free(chain);
	dmk_vk_mem_put(md);
	dmk_vk_mem_put(ms);
	dmk_buf_put(dst);
	dmk_buf_put(src);
}

DMK_TEST(vkconvert, known_colours)
{
	static const struct solid t[] = {
		/* Bytes 16, 128, 240 are R, G, B.  Gray: 0.299 * 16 +
		 * 0.587 * 128 + 0.114 * 240 = 107.28 (swapped: 148.72). */
		{ DRM_FORMAT_BGR888, { 16, 128, 240 },
		  { 16 / 255.0f, 128 / 255.0f, 240 / 255.0f }, 107 },
		/* BT.601 red: Y 81, U 90, V 240 -> R 1.164 * 65 + 1.596 *
		 * 112 = 254.412, G 75.66 + 14.896 - 91.056 < 0, B 75.66 -
		 * 76.646 < 0.  Gray is Y as stored. */
		{ DRM_FORMAT_NV12, { 81, 90, 240 },
		  { 254.412f / 255, 0, 0 }, 81 },
		/* Limited-range black and white clamp to 0 and 255. */
		{ DRM_FORMAT_NV12, { 16, 128, 128 }, { 0, 0, 0 }, 16 },
		{ DRM_FORMAT_NV12, { 235, 128, 128 },
		  { 254.916f / 255, 254.916f / 255, 254.916f / 255 }, 235 },
		{ DRM_FORMAT_NV12, { 250, 128, 128 }, { 1, 1, 1 }, 250 },
	};
	struct dmk_vk *vk = vk_open();
	size_t i;

	for (i = 0; i < ARRAY_LEN(t); i++)
		run_solid(vk, &t[i]);
	dmk_vk_free(vk);
}
