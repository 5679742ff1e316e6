// SPDX-License-Identifier: MIT
/*
 * CascadeClassifier::detectMultiScale() on the CPU, the way OpenCV 4.6 runs
 * it, so that the boxes agree: the same float scales, the same pyramid
 * (its INTER_LINEAR_EXACT resize, bit for bit), the same window grid
 * (including the stripe bounds and the skip after a stage-0 rejection),
 * the same float/double arithmetic in the stages, the same grouping.
 * This is the reference the GPU path is checked against, not the fast one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#else
#include <math.h>
#endif

#include "internal.h"
#include "detect_internal.h"

/* Largest image side accepted (keeps every offset well inside int32). */
#define DMK_DETECT_MAX_DIM 16384

#define GROUP_EPS 0.2	/* detectMultiScale()'s grouping epsilon */

/*
 * IEEE sqrt without libm (the library does not link it): the hardware
 * instruction is correctly rounded, as libm's sqrt is.
 */
static inline double dmk_sqrt(double x)
{
#if defined(__SSE2__)
	return _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(x)));
#elif defined(__aarch64__)
	return vget_lane_f64(vsqrt_f64(vdup_n_f64(x)), 0);
#else
	return sqrt(x);
#endif
}

/* ---- parameters and scales ---- */

int dmk__detect_params(const struct dmk_detect_params *in,
		       struct dmk_detect_params *out)
{
	struct dmk_detect_params p;
	int err;

	err = DMK_OPTS_LOAD(dmk_detect_params, &p, in);
	if (err)
		return err;
	if (!in)
		p.min_neighbors = 3;
	if (p.scale_factor == 0)
		p.scale_factor = 1.1;
	if (!(p.scale_factor > 1) || !__builtin_isfinite(p.scale_factor)) {
		pr_warn("detect: scale factor %g: must be > 1",
			p.scale_factor);
		return -EINVAL;
	}
	if (p.min_neighbors < 0)
		p.min_neighbors = 3;
	p.sz = sizeof(p);
	*out = p;
	return 0;
}

int dmk__detect_scales(const struct dmk_cascade *c, uint32_t width,
		       uint32_t height, const struct dmk_detect_params *p,
		       struct dmk__scale *scales, size_t *n)
{
	int64_t max_w = p->max_w, max_h = p->max_h, best_d = INT64_MAX;
	uint32_t nstripes = 0, i, nall = 0, best = 0;
	size_t k = 0;
	double factor;

	*n = 0;
	/* OpenCV: either maximum 0 means the image size for both. */
	if (!max_w || !max_h) {
		max_w = width;
		max_h = height;
	}
	if (width < c->win_w || height < c->win_h)
		return 0;
	/*
	 * OpenCV 4.6 lists every scale whose window (from the double
	 * factor) fits the image, then keeps those whose window (now from
	 * the float factor) is within [min, max] in order, stopping at the
	 * first one past max; when none is, the one closest to min (a
	 * single-scale request that falls between scales).
	 */
	for (factor = 1;; factor *= p->scale_factor) {
		double fw = c->win_w * factor, fh = c->win_h * factor;

		if (fw > width + 1. || fh > height + 1. ||
		    dmk__round(fw) > (int64_t)width ||
		    dmk__round(fh) > (int64_t)height)
			break;
		if (nall == DMK_DETECT_MAX_SCALES) {
			pr_warn("detect: scale factor %.17g makes more than %d "
				"scales", p->scale_factor,
				DMK_DETECT_MAX_SCALES);
			return -EINVAL;
		}
		memset(&scales[nall], 0, sizeof(scales[nall]));
		scales[nall++].factor = (float)factor;
	}
	for (i = 0; i < nall; i++) {
		float f = scales[i].factor;
		int64_t ww = dmk__round((float)c->win_w * f);
		int64_t wh = dmk__round((float)c->win_h * f);
		int64_t d = (p->min_w - ww) * (p->min_w - ww) +
			    (p->min_h - wh) * (p->min_h - wh);

		if (d < best_d) {
			best_d = d;
			best = i;
		}
		if (ww > max_w || wh > max_h)
			break;
		if (ww < p->min_w || wh < p->min_h)
			continue;
		scales[k++] = scales[i];
	}
	if (!k && nall) {
		/* The closest of all the scales, past max ones included. */
		for (; i < nall; i++) {
			float f = scales[i].factor;
			int64_t ww = dmk__round((float)c->win_w * f);
			int64_t wh = dmk__round((float)c->win_h * f);
			int64_t d = (p->min_w - ww) * (p->min_w - ww) +
				    (p->min_h - wh) * (p->min_h - wh);

			if (d < best_d) {
				best_d = d;
				best = i;
			}
		}
		scales[k++] = scales[best];
	}

	for (i = 0; i < k; i++) {
		struct dmk__scale *s = &scales[i];
		float f = s->factor;
		int64_t ww, wh, stripe;

		/* int / float and int * float: float arithmetic, as OpenCV. */
		s->w = (uint32_t)dmk__round((float)width / f);
		s->h = (uint32_t)dmk__round((float)height / f);
		s->rect_w = (uint32_t)dmk__round((float)c->win_w * f);
		s->rect_h = (uint32_t)dmk__round((float)c->win_h * f);
		s->step = f >= 2 ? 1 : 2;
		/* The integral image is one larger than the scaled image. */
		ww = (int64_t)s->w + 1 - c->win_w;
		wh = (int64_t)s->h + 1 - c->win_h;
		ww = ww > 0 && s->w ? ww : 0;
		wh = wh > 0 && s->h ? wh : 0;
		/*
		 * OpenCV splits rows into stripes, as many as the first
		 * scale's windows per row / 32, each a whole number of steps
		 * (rounded down): rows past the last stripe are never
		 * scanned.  With no stripe (no window fits the first scale)
		 * nothing is scanned at all.
		 */
		if (i == 0)
			nstripes = (uint32_t)((ww + 31) / 32);
		if (!nstripes) {
			s->nx = s->ny = 0;
			continue;
		}
		stripe = (wh / s->step + nstripes - 1) / nstripes;
		stripe = (stripe > 1 ? stripe : 1) * s->step;
		s->nx = (uint32_t)ww;
		s->ny = (uint32_t)(wh < stripe * nstripes ? wh :
				   stripe * nstripes);
	}
	*n = k;
	return 0;
}

/* ---- the pyramid: OpenCV's INTER_LINEAR_EXACT for 8-bit gray ---- */

/*
 * The cascade detector resizes with INTER_LINEAR_EXACT (not INTER_LINEAR,
 * whose 11-bit coefficients and SIMD rounding differ): unsigned 8.8 fixed
 * point.  Coefficients are round-half-even(frac * 256) from IEEE double
 * positions; a row is first resized horizontally to 8.8 values
 * (c0 p0 + c1 p1), then vertically to (h0 b0 + h1 b1 + 2^15) >> 16.
 * Outside the interpolated range a pixel copies the edge: the first
 * source pixel (row) before it, the last one after it.
 */
struct axis {
	int32_t *ofs;		/* first source pixel of each one */
	uint16_t *coef;		/* two 8.8 weights each */
	uint32_t min, max;	/* interpolated destinations: [min, max) */
};

static void axis_init(struct axis *a, uint32_t src, uint32_t dst)
{
	/* OpenCV: inv_scale = dst / src, scale = 1 / inv_scale. */
	double scale = 1. / ((double)dst / src);
	uint32_t v;

	a->min = 0;
	a->max = dst;
	for (v = 0; v < dst; v++) {
		double f = scale * (v + 0.5) - 0.5;
		int64_t i = (int64_t)f;
		uint32_t c1;

		if ((double)i > f)
			i--;		/* floor */
		a->ofs[v] = 0;
		a->coef[2 * v] = 256;
		a->coef[2 * v + 1] = 0;
		if (i < 0 || src <= 1) {
			a->min = v + 1;		/* left (top) edge */
			continue;
		}
		if (i >= (int64_t)src - 1) {
			a->ofs[v] = (int32_t)src - 1;
			if (v < a->max)
				a->max = v;	/* right (bottom) edge */
			continue;
		}
		c1 = (uint32_t)dmk__round((f - (double)i) * 256);
		a->ofs[v] = (int32_t)i;
		a->coef[2 * v] = (uint16_t)(256 - c1);
		a->coef[2 * v + 1] = (uint16_t)c1;
	}
	if (a->min > a->max)
		a->min = a->max;
}

static void hresize_row(const uint8_t *s, const struct axis *ax,
			uint16_t *d, uint32_t w)
{
	uint32_t x;

	for (x = 0; x < ax->min; x++)
		d[x] = (uint16_t)(s[0] << 8);
	for (; x < ax->max; x++) {
		const uint8_t *p = s + ax->ofs[x];

		d[x] = (uint16_t)(ax->coef[2 * x] * p[0] +
				  ax->coef[2 * x + 1] * p[1]);
	}
	for (; x < w; x++)
		d[x] = (uint16_t)(s[ax->ofs[w - 1]] << 8);
}

static uint8_t fix8_to_u8(uint32_t v)
{
	v = (v + 128) >> 8;
	return (uint8_t)(v > 255 ? 255 : v);
}

int dmk__resize_u8(const uint8_t *src, uint32_t sw, uint32_t sh,
		   size_t sstride, uint8_t *dst, uint32_t dw, uint32_t dh,
		   size_t dstride)
{
	struct axis ax, ay;
	uint16_t *h0, *h1;
	uint32_t x, y;
	size_t bytes;
	void *mem;

	if (dw == sw && dh == sh) {
		for (y = 0; y < dh; y++)
			memcpy(dst + y * dstride, src + y * sstride, dw);
		return 0;
	}
	/* An exact halving is INTER_AREA's 2x2 box, rounded half up. */
	if (1. / ((double)dw / sw) == 2 && 1. / ((double)dh / sh) == 2) {
		for (y = 0; y < dh; y++) {
			const uint8_t *a = src + 2 * y * sstride;
			const uint8_t *b = a + sstride;

			for (x = 0; x < dw; x++)
				dst[y * dstride + x] =
					(uint8_t)((a[2 * x] + a[2 * x + 1] +
						   b[2 * x] + b[2 * x + 1] +
						   2) >> 2);
		}
		return 0;
	}

	/* ofs and coef for both axes, two rows: all sizes < 2^15. */
	bytes = ((size_t)dw + dh) * (sizeof(int32_t) + 2 * sizeof(uint16_t)) +
		2 * (size_t)dw * sizeof(uint16_t);
	mem = malloc(bytes);
	if (!mem)
		return -ENOMEM;
	ax.ofs = mem;
	ay.ofs = ax.ofs + dw;
	ax.coef = (uint16_t *)(ay.ofs + dh);
	ay.coef = ax.coef + 2 * (size_t)dw;
	h0 = ay.coef + 2 * (size_t)dh;
	h1 = h0 + dw;
	axis_init(&ax, sw, dw);
	axis_init(&ay, sh, dh);

	for (y = 0; y < dh; y++) {
		uint8_t *out = dst + (size_t)y * dstride;
		uint32_t b0 = ay.coef[2 * y], b1 = ay.coef[2 * y + 1];

		if (y < ay.min || y >= ay.max) {
			/* Above or below: the edge row, horizontally only. */
			hresize_row(src + (size_t)(y < ay.min ? 0 :
						   ay.ofs[dh - 1]) * sstride,
				    &ax, h0, dw);
			for (x = 0; x < dw; x++)
				out[x] = fix8_to_u8(h0[x]);
			continue;
		}
		hresize_row(src + (size_t)ay.ofs[y] * sstride, &ax, h0, dw);
		hresize_row(src + ((size_t)ay.ofs[y] + 1) * sstride, &ax, h1,
			    dw);
		for (x = 0; x < dw; x++) {
			uint32_t v = ((uint32_t)h0[x] * b0 +
				      (uint32_t)h1[x] * b1 + (1u << 15)) >> 16;

			out[x] = (uint8_t)(v > 255 ? 255 : v);
		}
	}
	free(mem);
	return 0;
}

/* ---- integral images ---- */

/*
 * Sums in uint32: they wrap like OpenCV's int32 sums do on big images,
 * and a rect's sum (the difference of four) comes out right either way.
 */
static void integral(const uint8_t *img, uint32_t w, uint32_t h,
		     uint32_t *sum, uint32_t *sq, size_t stride)
{
	uint32_t x, y;

	memset(sum, 0, (w + 1) * sizeof(*sum));
	if (sq)
		memset(sq, 0, (w + 1) * sizeof(*sq));
	for (y = 0; y < h; y++) {
		const uint8_t *row = img + (size_t)y * w;
		uint32_t *prev = sum + (size_t)y * stride;
		uint32_t *cur = prev + stride;
		uint32_t acc = 0, acc2 = 0;

		cur[0] = 0;
		for (x = 0; x < w; x++) {
			acc += row[x];
			cur[x + 1] = prev[x + 1] + acc;
		}
		if (!sq)
			continue;
		prev = sq + (size_t)y * stride;
		cur = prev + stride;
		cur[0] = 0;
		for (x = 0; x < w; x++) {
			acc2 += (uint32_t)row[x] * row[x];
			cur[x + 1] = prev[x + 1] + acc2;
		}
	}
}

/* ---- windows ---- */

struct eval {
	const struct dmk_cascade *c;
	int32_t *ofs;		/* per feature: LBP 16, Haar 12 offsets */
	int32_t nofs[4];	/* Haar: the normalisation rect */
	double norm_area;
};

static inline int32_t rect_sum(const uint32_t *p, int32_t a, int32_t b,
			       int32_t c, int32_t d)
{
	return (int32_t)(p[a] - p[b] - p[c] + p[d]);
}

/* Offsets of a rect's corners: (x,y), (x+w,y), (x,y+h), (x+w,y+h). */
static void rect_ofs(int32_t *o, int32_t x, int32_t y, int32_t w, int32_t h,
		     int32_t stride)
{
	o[0] = y * stride + x;
	o[1] = y * stride + x + w;
	o[2] = (y + h) * stride + x;
	o[3] = (y + h) * stride + x + w;
}

static int eval_init(struct eval *ev, const struct dmk_cascade *c,
		     size_t stride)
{
	int32_t st = (int32_t)stride;
	uint32_t i, j, k;

	ev->c = c;
	ev->ofs = calloc(c->nfeatures, 16 * sizeof(int32_t));
	if (!ev->ofs)
		return -ENOMEM;
	if (c->kind == DMK_CASCADE_LBP) {
		for (i = 0; i < c->nfeatures; i++) {
			const struct dmk__lbp_feature *f = &c->lbp[i];
			int32_t *o = ev->ofs + 16 * i;

			/* The 4x4 grid corners, row by row. */
			for (j = 0; j < 4; j++)
				for (k = 0; k < 4; k++)
					o[j * 4 + k] = (f->y + (int32_t)j *
							f->h) * st +
						       f->x + (int32_t)k * f->w;
		}
	} else {
		for (i = 0; i < c->nfeatures; i++) {
			const struct dmk__haar_feature *f = &c->haar[i];

			for (j = 0; j < DMK_HAAR_RECTS; j++)
				rect_ofs(ev->ofs + 16 * i + 4 * j,
					 f->rect[j][0], f->rect[j][1],
					 f->rect[j][2], f->rect[j][3], st);
		}
		rect_ofs(ev->nofs, 1, 1, (int32_t)c->win_w - 2,
			 (int32_t)c->win_h - 2, st);
		ev->norm_area = (double)(c->win_w - 2) * (c->win_h - 2);
	}
	return 0;
}

static inline int lbp_code(const uint32_t *p, const int32_t *o)
{
	int32_t cv = rect_sum(p, o[5], o[6], o[9], o[10]);

	return (rect_sum(p, o[0], o[1], o[4], o[5]) >= cv ? 128 : 0) |
	       (rect_sum(p, o[1], o[2], o[5], o[6]) >= cv ? 64 : 0) |
	       (rect_sum(p, o[2], o[3], o[6], o[7]) >= cv ? 32 : 0) |
	       (rect_sum(p, o[6], o[7], o[10], o[11]) >= cv ? 16 : 0) |
	       (rect_sum(p, o[10], o[11], o[14], o[15]) >= cv ? 8 : 0) |
	       (rect_sum(p, o[9], o[10], o[13], o[14]) >= cv ? 4 : 0) |
	       (rect_sum(p, o[8], o[9], o[12], o[13]) >= cv ? 2 : 0) |
	       (rect_sum(p, o[4], o[5], o[8], o[9]) >= cv ? 1 : 0);
}

static inline bool subset_has(const int32_t *subset, int code)
{
	return (uint32_t)subset[code >> 5] & (1u << (code & 31));
}

/* The feature value in float, in OpenCV's order of operations. */
static inline float haar_value(const uint32_t *p, const int32_t *o,
			       const struct dmk__haar_feature *f)
{
	float v = f->weight[0] * (float)rect_sum(p, o[0], o[1], o[2], o[3]) +
		  f->weight[1] * (float)rect_sum(p, o[4], o[5], o[6], o[7]);

	if (f->weight[2] != 0.0f)
		v += f->weight[2] * (float)rect_sum(p, o[8], o[9], o[10],
						    o[11]);
	return v;
}

/*
 * Run the cascade on the window whose integral starts at @p (@q: squares,
 * Haar).  OpenCV's result: 1 accepted, -i rejected by stage i (so 0 for
 * stage 0), -1 for a Haar window too flat to normalise.
 */
static int eval_window(const struct eval *ev, const uint32_t *p,
		       const uint32_t *q)
{
	const struct dmk_cascade *c = ev->c;
	float vnf = 1.f;
	uint32_t si;

	if (c->kind == DMK_CASCADE_HAAR) {
		const int32_t *n = ev->nofs;
		int32_t vsum = rect_sum(p, n[0], n[1], n[2], n[3]);
		uint32_t vsq = q[n[0]] - q[n[1]] - q[n[2]] + q[n[3]];
		double nf = ev->norm_area * vsq - (double)vsum * vsum;

		if (!(nf > 0))
			return -1;
		vnf = (float)(1. / dmk_sqrt(nf));
		if (!(ev->norm_area * vnf < 1e-1))
			return -1;
	}

	for (si = 0; si < c->nstages; si++) {
		const struct dmk__stage *st = &c->stages[si];
		int32_t wi, wend = st->first + st->count;
		double sum = 0;

		if (c->stump_based && c->kind == DMK_CASCADE_LBP) {
			for (wi = st->first; wi < wend; wi++) {
				const struct dmk__stump *s = &c->stumps[wi];
				int code = lbp_code(p, ev->ofs +
						    16 * s->feature);

				sum += subset_has(c->subsets + (size_t)wi *
						  DMK_LBP_SUBSET_WORDS, code) ?
				       s->left : s->right;
			}
		} else if (c->stump_based) {
			for (wi = st->first; wi < wend; wi++) {
				const struct dmk__stump *s = &c->stumps[wi];
				float v = haar_value(p, ev->ofs +
						     16 * s->feature,
						     &c->haar[s->feature]) *
					  vnf;

				sum += v < s->threshold ? s->left : s->right;
			}
		} else {
			for (wi = st->first; wi < wend; wi++) {
				const struct dmk__weak *w = &c->weaks[wi];
				int32_t idx = 0;

				do {
					int32_t ni = w->first_node + idx;
					const struct dmk__node *nd =
						&c->nodes[ni];
					const int32_t *o = ev->ofs +
						16 * nd->feature;
					bool left;

					if (c->kind == DMK_CASCADE_LBP)
						left = subset_has(c->subsets +
							(size_t)ni *
							DMK_LBP_SUBSET_WORDS,
							lbp_code(p, o));
					else
						left = haar_value(p, o,
							&c->haar[nd->feature]) *
						       vnf < nd->threshold;
					idx = left ? nd->left : nd->right;
				} while (idx > 0);
				sum += c->leaves[w->first_leaf - idx];
			}
		}
		if (sum < st->threshold)
			return -(int)si;
	}
	return 1;
}

/* ---- grouping: OpenCV's groupRectangles() ---- */

static bool similar(const struct dmk_rect *a, const struct dmk_rect *b,
		    double eps)
{
	double delta = eps * ((a->w < b->w ? a->w : b->w) +
			      (a->h < b->h ? a->h : b->h)) * 0.5;

	return llabs((long long)a->x - b->x) <= delta &&
	       llabs((long long)a->y - b->y) <= delta &&
	       llabs((long long)a->x + a->w - b->x - b->w) <= delta &&
	       llabs((long long)a->y + a->h - b->y - b->h) <= delta;
}

static uint32_t find_root(uint32_t *parent, uint32_t i)
{
	uint32_t r = i, next;

	while (parent[r] != r)
		r = parent[r];
	while (parent[i] != r) {
		next = parent[i];
		parent[i] = r;
		i = next;
	}
	return r;
}

struct group {
	int64_t x, y, w, h;
	int32_t n;
	struct dmk_rect r;
};

size_t dmk__group_scratch_size(size_t n)
{
	size_t bytes;

	if (n > UINT32_MAX / 2 ||
	    __builtin_mul_overflow(n, 2 * sizeof(uint32_t) +
				   sizeof(struct group), &bytes))
		return 0;
	return bytes;
}

void dmk__group_rects(struct dmk_rect *rects, size_t *n, int min_neighbors,
		      double eps, void *scratch)
{
	uint32_t *parent, *label, i, j, nclasses = 0, nrects, out = 0;
	struct group *g;

	/* OpenCV leaves the list as it is without a threshold. */
	if (min_neighbors == 0 || *n == 0)
		return;
	nrects = (uint32_t)*n;
	g = scratch;
	parent = (uint32_t *)(g + nrects);
	label = parent + nrects;

	/* The classes are the connected components of "similar" (what
	 * cv::partition() computes), numbered by first member. */
	for (i = 0; i < nrects; i++)
		parent[i] = i;
	for (i = 0; i < nrects; i++)
		for (j = i + 1; j < nrects; j++) {
			uint32_t a, b;

			if (!similar(&rects[i], &rects[j], eps))
				continue;
			a = find_root(parent, i);
			b = find_root(parent, j);
			if (a != b)
				parent[a > b ? a : b] = a < b ? a : b;
		}
	for (i = 0; i < nrects; i++) {
		uint32_t r = find_root(parent, i);

		if (r == i) {
			memset(&g[nclasses], 0, sizeof(g[nclasses]));
			label[i] = nclasses++;
		} else {
			label[i] = label[r];	/* r < i: labelled */
		}
		g[label[i]].x += rects[i].x;
		g[label[i]].y += rects[i].y;
		g[label[i]].w += rects[i].w;
		g[label[i]].h += rects[i].h;
		g[label[i]].n++;
	}
	/* The mean, int * float then cvRound, as OpenCV. */
	for (i = 0; i < nclasses; i++) {
		float s = 1.f / (float)g[i].n;

		g[i].r.x = dmk__round((float)g[i].x * s);
		g[i].r.y = dmk__round((float)g[i].y * s);
		g[i].r.w = dmk__round((float)g[i].w * s);
		g[i].r.h = dmk__round((float)g[i].h * s);
	}
	/* Keep classes with more than min_neighbors members, unless inside
	 * a class that has more of them (or the class has fewer than 3). */
	for (i = 0; i < nclasses; i++) {
		const struct dmk_rect *r1 = &g[i].r;
		int32_t n1 = g[i].n;

		if (n1 <= min_neighbors)
			continue;
		for (j = 0; j < nclasses; j++) {
			const struct dmk_rect *r2 = &g[j].r;
			int32_t n2 = g[j].n;
			int64_t dx, dy;

			if (j == i || n2 <= min_neighbors)
				continue;
			dx = dmk__round(r2->w * eps);
			dy = dmk__round(r2->h * eps);
			if (r1->x >= r2->x - dx && r1->y >= r2->y - dy &&
			    (int64_t)r1->x + r1->w <=
				    (int64_t)r2->x + r2->w + dx &&
			    (int64_t)r1->y + r1->h <=
				    (int64_t)r2->y + r2->h + dy &&
			    (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
				break;
		}
		if (j == nclasses)
			rects[out++] = *r1;
	}
	*n = out;
}

DMK_API int dmk_group_rects(struct dmk_rect *rects, size_t *n,
			     int min_neighbors, double eps)
{
	size_t bytes;
	void *mem;

	if (!n || (*n && !rects) || min_neighbors < 0 || !(eps >= 0) ||
	    !__builtin_isfinite(eps))
		return -EINVAL;
	if (min_neighbors == 0 || *n == 0)
		return 0;
	bytes = dmk__group_scratch_size(*n);
	if (!bytes)
		return -ENOMEM;
	mem = malloc(bytes);
	if (!mem)
		return -ENOMEM;
	dmk__group_rects(rects, n, min_neighbors, eps, mem);
	free(mem);
	return 0;
}

void dmk__clip_rects(struct dmk_rect *rects, size_t *n, uint32_t width,
		     uint32_t height)
{
	size_t i, out = 0;

	for (i = 0; i < *n; i++) {
		const struct dmk_rect *r = &rects[i];
		int64_t x1 = r->x > 0 ? r->x : 0, y1 = r->y > 0 ? r->y : 0;
		int64_t x2 = (int64_t)r->x + r->w, y2 = (int64_t)r->y + r->h;

		if (x2 > width)
			x2 = width;
		if (y2 > height)
			y2 = height;
		if (x2 <= x1 || y2 <= y1)
			continue;
		rects[out].x = (int32_t)x1;
		rects[out].y = (int32_t)y1;
		rects[out].w = (int32_t)(x2 - x1);
		rects[out].h = (int32_t)(y2 - y1);
		out++;
	}
	*n = out;
}

/* ---- detectMultiScale() ---- */

struct rect_vec {
	struct dmk_rect *r;
	size_t n, cap;
};

static int push_rect(struct rect_vec *v, struct dmk_rect r)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		void *p;

		if (cap > SIZE_MAX / sizeof(*v->r))
			return -ENOMEM;
		p = realloc(v->r, cap * sizeof(*v->r));
		if (!p)
			return -ENOMEM;
		v->r = p;
		v->cap = cap;
	}
	v->r[v->n++] = r;
	return 0;
}

/* Every window of one scale, in OpenCV's order; hits into @v. */
static int scan_scale(const struct eval *ev, const struct dmk__scale *s,
		      const uint32_t *sum, const uint32_t *sq, size_t stride,
		      struct rect_vec *v)
{
	uint32_t x, y;
	int r, err;

	for (y = 0; y < s->ny; y += s->step) {
		for (x = 0; x < s->nx; x += s->step) {
			size_t at = (size_t)y * stride + x;

			r = eval_window(ev, sum + at, sq ? sq + at : NULL);
			if (r > 0) {
				err = push_rect(v, dmk__scale_rect(s, x, y));
				if (err)
					return err;
			}
			/* A stage-0 rejection skips the next window. */
			if (r == 0)
				x += s->step;
		}
	}
	return 0;
}

DMK_API int dmk_detect_cpu(const struct dmk_cascade *c, const uint8_t *gray,
			   uint32_t width, uint32_t height, size_t stride,
			   const struct dmk_detect_params *params,
			   struct dmk_rect *rects, size_t max, size_t *n)
{
	struct dmk_detect_params p;
	struct rect_vec found = { 0 };
	struct dmk__scale *scales;
	struct eval ev = { 0 };
	uint32_t *sum, *sq = NULL;
	size_t nscales, i, istride, isize;
	uint8_t *img;
	int err;

	if (!c || !gray || !n || (max && !rects))
		return -EINVAL;
	if (!width || !height || width > DMK_DETECT_MAX_DIM ||
	    height > DMK_DETECT_MAX_DIM || stride < width) {
		pr_warn("detect: bad image %ux%u stride %zu", width, height,
			stride);
		return -EINVAL;
	}
	err = dmk__detect_params(params, &p);
	if (err)
		return err;
	scales = calloc(DMK_DETECT_MAX_SCALES, sizeof(*scales));
	if (!scales)
		return -ENOMEM;
	err = dmk__detect_scales(c, width, height, &p, scales, &nscales);
	if (err)
		goto out_scales;
	if (!nscales) {
		*n = 0;
		goto out_scales;
	}

	/* The first scale is the largest: its buffers fit every other. */
	istride = (size_t)scales[0].w + 1;
	isize = istride * (scales[0].h + 1);
	img = malloc((size_t)scales[0].w * scales[0].h);
	sum = malloc(isize * sizeof(*sum));
	if (c->kind == DMK_CASCADE_HAAR)
		sq = malloc(isize * sizeof(*sq));
	if (!img || !sum || (c->kind == DMK_CASCADE_HAAR && !sq)) {
		err = -ENOMEM;
		goto out_bufs;
	}
	err = eval_init(&ev, c, istride);
	if (err)
		goto out_bufs;

	for (i = 0; i < nscales; i++) {
		const struct dmk__scale *s = &scales[i];

		if (!s->nx || !s->ny)
			continue;
		err = dmk__resize_u8(gray, width, height, stride, img, s->w,
				     s->h, s->w);
		if (err)
			goto out_eval;
		integral(img, s->w, s->h, sum, sq, istride);
		err = scan_scale(&ev, s, sum, sq, istride, &found);
		if (err)
			goto out_eval;
	}
	pr_debug("detect: %zu scales, %zu candidates", nscales, found.n);

	err = dmk_group_rects(found.r, &found.n, p.min_neighbors, GROUP_EPS);
	if (err)
		goto out_eval;
	dmk__clip_rects(found.r, &found.n, width, height);
	for (i = 0; i < found.n && i < max; i++)
		rects[i] = found.r[i];
	*n = found.n;

out_eval:
	free(ev.ofs);
out_bufs:
	free(found.r);
	free(sq);
	free(sum);
	free(img);
out_scales:
	free(scales);
	return err;
}
