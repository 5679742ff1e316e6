// SPDX-License-Identifier: MIT
/*
 * The cascade detector in Vulkan compute: CascadeClassifier::
 * detectMultiScale() as dmk_detect_cpu() runs it (the same windows, the
 * same hits, the same groups), everything up to the hits on the device.
 * A frame is these dispatches (shaders: lib/shaders/detect_*):
 *
 *   rows   every level of the pyramid resized from the gray image
 *          (OpenCV's INTER_LINEAR_EXACT, bit-exact, from tap tables made
 *          here) and each row prefix-summed into the level's integral
 *          image (and squared one, Haar); it also zeroes the counters, so
 *          a replayed chain starts clean;
 *   cols   the column sums that finish the integral images;
 *   walk   each window row in order with OpenCV's rule that a stage-0
 *          failure skips the next window, stage 0 only: stage 0 runs on
 *          exactly the windows OpenCV evaluates, and those that pass it
 *          go into a candidate list;
 *   stage  one dispatch per later stage: the candidates that pass it go
 *          into the other of two lists, after the last one into the
 *          host-visible hit list.  Every lane runs the same stage, so no
 *          lane waits for another's windows.
 *
 * The CPU then sorts the hits (into OpenCV's order: level, row, column),
 * turns them into boxes, groups them (groupRectangles, in scratch memory
 * allocated with the detector) and clips them, as dmk_detect_cpu() does.
 *
 * Everything a frame needs is allocated by dmk_detector_new(): the static
 * buffer (the level table, the cascade, the resize taps, uploaded once),
 * the integral images of all levels packed in one buffer, the two
 * candidate lists, the hit list with its counters, and the sort and
 * grouping scratch.  Recording, replaying and collecting allocate nothing
 * (dmk_detector_run() makes a chain the first time it sees a gray
 * buffer, and caches it).
 *
 * Stage sums are double where the device has shaderFloat64 (lavapipe,
 * NVIDIA), as on the CPU; elsewhere float, with a logged note: a window
 * whose sum lands within float rounding of a threshold may then differ.
 *
 * Measured choices (BENCHMARKS.md has the figures): one pass a stage,
 * rather than one loop over a candidate's stages, took the stages' time
 * on lavapipe from ~570 to ~200 ms of CPU a 512x600 frame (the loop
 * waits for a subgroup's slowest window); appends go through one atomic
 * a subgroup.  Evaluating four neighbouring windows an invocation with
 * 16-byte loads (columns of step-2 levels stored by parity) was tried
 * and was 2x slower on lavapipe, whose loads are per invocation anyway.
 * On an H100 a 640x480 frame takes ~1.5 ms, half of it the walk, whose
 * invocations (one a window row) are few for a GPU.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "detect_internal.h"
#include "vk_internal.h"

static const uint32_t spv_rows[] =
#include "detect_rows.spv.h"
;
static const uint32_t spv_cols[] =
#include "detect_cols.spv.h"
;
static const uint32_t spv_walk[] =
#include "detect_walk.spv.h"
;
static const uint32_t spv_walk_f32[] =
#include "detect_walk_f32.spv.h"
;
static const uint32_t spv_stage[] =
#include "detect_stage.spv.h"
;
static const uint32_t spv_stage_f32[] =
#include "detect_stage_f32.spv.h"
;

/* As dmk_detect_cpu(): keeps every offset well inside 32 bits. */
#define DETECT_MAX_DIM 16384u
#define GROUP_EPS 0.2		/* detectMultiScale()'s grouping epsilon */

/* The shaders' workgroup width and the lowest maxComputeWorkGroupCount. */
#define LOCAL_SIZE 64u
#define MAX_GROUPS 65535u

/*
 * Invocations of a stage pass, which strides over a list whose length the
 * device finds: enough to fill a GPU; a CPU device (a few threads) gets
 * fewer, since every workgroup it starts costs it even when idle.
 */
#define STAGE_THREADS_GPU 65536u
#define STAGE_THREADS_CPU 1024u

/*
 * Room for candidates and hits: every window where that is fewer.  Past
 * these a frame fails with -EOVERFLOW rather than lose windows; a photo
 * has hundreds of hits, and grouping is quadratic in them anyway.
 */
#define MAX_CANDIDATES (1u << 24)
#define MAX_HITS (1u << 18)

/* Subgroup operations the passes use (ballot, vote, add, elect). */
#define SUBGROUP_OPS (VK_SUBGROUP_FEATURE_BASIC_BIT |			\
		      VK_SUBGROUP_FEATURE_VOTE_BIT |			\
		      VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |		\
		      VK_SUBGROUP_FEATURE_BALLOT_BIT)

/* Chains dmk_detector_run() keeps, one per gray buffer/offset/pitch:
 * enough for a pipeline's pool of frame buffers. */
#define CHAIN_CACHE 16

/* A level's words in the static buffer (detect_common.glsl's L_*). */
enum {
	L_W, L_H, L_STRIDE, L_INT, L_ROW, L_COL, L_WROW, L_COLS, L_ROWS,
	L_STEP, L_MODE, L_XTAB, L_YTAB, LEVEL_WORDS = 16
};

enum { M_COPY, M_HALVE, M_LINEAR };	/* L_MODE */

#define F_HAAR 1u
#define F_STUMPS 2u

/* detect_common.glsl's push block, member for member. */
struct det_push {
	uint32_t src_pitch, src_w, src_h, nlevels;
	uint32_t total, sq_base, lev_off, stage_off;
	uint32_t stump_off, weak_off, node_off, leaf_off;
	uint32_t subset_off, feat_off, nstages, flags;
	uint32_t win_w, win_h, cand_cap, hit_cap;
	uint32_t nthreads, row_stride, max_nodes, stage;
	uint32_t hits_first, pad;
};
_Static_assert(sizeof(struct det_push) == 104, "push block layout");

/* Stump records (detect_common.glsl), the feature inlined: LBP rect,
 * leaves, subset; Haar 3 rects, weights + threshold, leaves. */
#define LBP_STUMP_WORDS 16
#define HAAR_STUMP_WORDS 20

/* A candidate: integral offset, stride, Haar's factor, 0. */
#define CAND_BYTES 16

/* A level with windows, as the CPU needs it to read hits back. */
struct level {
	struct dmk__scale s;
	uint32_t int_off;	/* word offset of its integral */
	uint32_t stride;	/* s.w + 1 */
	uint32_t cols, rows;	/* windows */
};

struct det_chain {
	struct dmk_vk_chain *chain;	/* NULL: a free slot */
	struct dmk_vk_mem *gray;	/* the chain holds the reference */
	uint64_t offset;
	uint32_t pitch;
	uint64_t used;			/* LRU clock */
};

struct dmk_detector {
	struct dmk_vk *vk;
	uint32_t width, height;
	struct dmk_detect_params p;
	bool haar;
	bool f64;

	struct level *levels;
	uint32_t nlevels;
	uint32_t nstages;
	uint32_t rows, cols, wrows;	/* work items of the dispatches */
	uint64_t windows;
	uint32_t cand_cap, hit_cap;
	uint32_t stage_threads;		/* invocations of a stage pass */
	struct det_push push;

	struct dmk_vk_stage *st_rows, *st_cols, *st_walk, *st_stage;
	struct dmk_vk_mem *stat;	/* cascade, levels, taps */
	struct dmk_vk_mem *integ;	/* integral images (+ squares) */
	struct dmk_vk_mem *cand;	/* two candidate lists */
	struct dmk_vk_mem *hits;	/* counters + hits, host-visible */
	const volatile uint32_t *hmap;

	/* Frame-path scratch, hit_cap entries each. */
	uint32_t *keys;
	struct dmk_rect *rects;
	void *group_scratch;		/* dmk__group_rects()'s */

	struct det_chain chains[CHAIN_CACHE];
	uint64_t clock;
	uint32_t last_candidates;
};

/* ---- the plan ---- */

/*
 * OpenCV's INTER_LINEAR_EXACT taps for one axis (detect_cpu.c's
 * axis_init(), encoded for the rows pass): src | c1 << 16, weights
 * 256 - c1 and c1 from round-half-even(frac * 256) of the IEEE double
 * position; the first source pixel before the interpolated range and the
 * last one after it, with c1 = 0.
 */
static void axis_taps(uint32_t src, uint32_t dst, uint32_t *tap)
{
	double scale = 1. / ((double)dst / src);
	uint32_t v;

	for (v = 0; v < dst; v++) {
		double f = scale * (v + 0.5) - 0.5;
		int64_t i = (int64_t)f;
		uint32_t c1;

		if ((double)i > f)
			i--;		/* floor */
		if (i < 0 || src <= 1) {
			tap[v] = 0;
		} else if (i >= (int64_t)src - 1) {
			tap[v] = src - 1;
		} else {
			c1 = (uint32_t)dmk__round((f - (double)i) * 256);
			tap[v] = (uint32_t)i | c1 << 16;
		}
	}
}

/* dmk__resize_u8()'s choice: a copy, an exact halving, or taps. */
static uint32_t resize_mode(uint32_t sw, uint32_t sh, uint32_t dw,
			    uint32_t dh)
{
	if (dw == sw && dh == sh)
		return M_COPY;
	if (1. / ((double)dw / sw) == 2 && 1. / ((double)dh / sh) == 2)
		return M_HALVE;
	return M_LINEAR;
}

/* Dispatch groups for @n items (at least one group), in a 2-D grid. */
static void grid(uint64_t n, uint32_t groups[3], uint32_t *row_stride)
{
	uint64_t total = (n + LOCAL_SIZE - 1) / LOCAL_SIZE, gx;

	if (!total)
		total = 1;
	gx = total < MAX_GROUPS ? total : MAX_GROUPS;
	groups[0] = (uint32_t)gx;
	groups[1] = (uint32_t)((total + gx - 1) / gx);
	groups[2] = 1;
	*row_stride = (uint32_t)(gx * LOCAL_SIZE);
}

/*
 * Word-array builder for the static buffer, counted first then filled.
 * Every section starts on a 16-byte record (the shaders read uvec4s).
 */
struct words {
	uint32_t *w;		/* NULL while counting */
	uint64_t n;
};

static uint32_t words_add(struct words *b, const void *src, uint64_t n)
{
	uint64_t at = (b->n + 3) & ~3ull;

	if (b->w && src && n)
		memcpy(b->w + at, src, n * sizeof(uint32_t));
	b->n = at + n;
	return (uint32_t)at;	/* checked < 2^32 by the caller */
}

/* A stump with its feature inlined, for the stump path. */
static void stump_record(const struct dmk_cascade *c, uint32_t wi,
			 uint32_t *rec)
{
	const struct dmk__stump *st = &c->stumps[wi];

	if (c->kind == DMK_CASCADE_LBP) {
		memcpy(rec, &c->lbp[st->feature], 4 * sizeof(*rec));
		memcpy(rec + 4, &st->left, sizeof(*rec));
		memcpy(rec + 5, &st->right, sizeof(*rec));
		memcpy(rec + 8, c->subsets + (size_t)wi * DMK_LBP_SUBSET_WORDS,
		       DMK_LBP_SUBSET_WORDS * sizeof(*rec));
	} else {
		const struct dmk__haar_feature *f = &c->haar[st->feature];

		memcpy(rec, f->rect, 12 * sizeof(*rec));
		memcpy(rec + 12, f->weight, 3 * sizeof(*rec));
		memcpy(rec + 15, &st->threshold, sizeof(*rec));
		memcpy(rec + 16, &st->left, sizeof(*rec));
		memcpy(rec + 17, &st->right, sizeof(*rec));
	}
}

/*
 * The static buffer: the level table, the cascade (stump records, or the
 * general arrays for trees), the resize taps.  Called twice: counting
 * (b->w NULL), then filling; offsets into det->push.
 */
static void build_static(struct dmk_detector *det,
			 const struct dmk_cascade *c, struct words *b,
			 uint32_t *taps)
{
	struct det_push *pu = &det->push;
	uint32_t i, row = 0, col = 0, wrow = 0, rw;
	uint32_t lev[LEVEL_WORDS];

	b->n = 0;
	pu->lev_off = words_add(b, NULL, (uint64_t)det->nlevels * LEVEL_WORDS);
	pu->stage_off = words_add(b, NULL, 4ull * c->nstages);
	for (i = 0; b->w && i < c->nstages; i++) {
		/* first, count, threshold: its first three fields. */
		memcpy(b->w + pu->stage_off + 4 * i, &c->stages[i],
		       4 * sizeof(uint32_t));
	}
	if (c->stump_based) {
		rw = det->haar ? HAAR_STUMP_WORDS : LBP_STUMP_WORDS;
		pu->stump_off = words_add(b, NULL, (uint64_t)rw * c->nweaks);
		for (i = 0; b->w && i < c->nweaks; i++) {
			memset(b->w + pu->stump_off + rw * i, 0,
			       rw * sizeof(uint32_t));
			stump_record(c, i, b->w + pu->stump_off + rw * i);
		}
	} else {
		pu->weak_off = words_add(b, c->weaks, 4ull * c->nweaks);
		pu->node_off = words_add(b, c->nodes, 4ull * c->nnodes);
		pu->leaf_off = words_add(b, c->leaves, c->nleaves);
		pu->subset_off = words_add(b, c->subsets, c->subsets ?
					   (uint64_t)c->nnodes *
					   DMK_LBP_SUBSET_WORDS : 0);
		pu->feat_off = words_add(b, det->haar ? (const void *)c->haar :
					 (const void *)c->lbp,
					 (uint64_t)c->nfeatures *
					 (det->haar ? sizeof(*c->haar) :
					  sizeof(*c->lbp)) / 4);
	}

	for (i = 0; i < det->nlevels; i++) {
		const struct level *l = &det->levels[i];
		const struct dmk__scale *s = &l->s;

		memset(lev, 0, sizeof(lev));
		lev[L_W] = s->w;
		lev[L_H] = s->h;
		lev[L_STRIDE] = l->stride;
		lev[L_INT] = l->int_off;
		lev[L_ROW] = row;
		lev[L_COL] = col;
		lev[L_WROW] = wrow;
		lev[L_STEP] = s->step;
		lev[L_COLS] = l->cols;
		lev[L_ROWS] = l->rows;
		lev[L_MODE] = resize_mode(det->width, det->height, s->w, s->h);
		if (lev[L_MODE] == M_LINEAR) {
			lev[L_XTAB] = words_add(b, NULL, s->w);
			lev[L_YTAB] = words_add(b, NULL, s->h);
			if (b->w) {
				axis_taps(det->width, s->w, taps);
				memcpy(b->w + lev[L_XTAB], taps,
				       s->w * sizeof(*taps));
				axis_taps(det->height, s->h, taps);
				memcpy(b->w + lev[L_YTAB], taps,
				       s->h * sizeof(*taps));
			}
		}
		row += s->h + 1;
		col += s->w + 1;
		wrow += l->rows;
		if (b->w)
			memcpy(b->w + pu->lev_off + i * LEVEL_WORDS, lev,
			       sizeof(lev));
	}
	det->rows = row;
	det->cols = col;
	det->wrows = wrow;
}

/* The levels with windows, their integral offsets and the caps. */
static int plan_levels(struct dmk_detector *det, const struct dmk_cascade *c,
		       uint64_t *integ_words)
{
	struct dmk__scale *scales;
	size_t nscales, i;
	uint64_t off = 0, windows = 0;
	int ret;

	scales = calloc(DMK_DETECT_MAX_SCALES, sizeof(*scales));
	if (!scales)
		return -ENOMEM;
	ret = dmk__detect_scales(c, det->width, det->height, &det->p, scales,
				 &nscales);
	if (ret)
		goto out;
	det->levels = calloc(nscales ? nscales : 1, sizeof(*det->levels));
	if (!det->levels) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nscales; i++) {
		const struct dmk__scale *s = &scales[i];
		struct level *l = &det->levels[det->nlevels];

		/* dmk_detect_cpu() skips these too. */
		if (!s->nx || !s->ny)
			continue;
		l->s = *s;
		l->stride = s->w + 1;
		l->int_off = (uint32_t)off;
		l->cols = (s->nx + s->step - 1) / s->step;
		l->rows = (s->ny + s->step - 1) / s->step;
		/* Sides <= 16384: no overflow in 64 bits over 4096 levels. */
		off += (uint64_t)l->stride * (s->h + 1);
		windows += (uint64_t)l->cols * l->rows;
		if (off > UINT32_MAX / 2) {
			pr_warn("detect: %ux%u at scale factor %g needs more "
				"than 2^31 words of integral images",
				det->width, det->height, det->p.scale_factor);
			ret = -E2BIG;
			goto out;
		}
		det->nlevels++;
	}
	*integ_words = det->haar ? 2 * off : off;
	det->windows = windows;
	det->cand_cap = (uint32_t)(windows < MAX_CANDIDATES ? windows :
				   MAX_CANDIDATES);
	det->hit_cap = (uint32_t)(windows < MAX_HITS ? windows : MAX_HITS);
	if (!det->cand_cap)
		det->cand_cap = det->hit_cap = 1;	/* no windows */
out:
	free(scales);
	return ret;
}

static int stages_get(struct dmk_detector *det)
{
	struct dmk_vk *vk = det->vk;
	const size_t push = sizeof(struct det_push);
	int ret;

	ret = dmk__vk_builtin(vk, DMK__VK_DETECT_ROWS, spv_rows,
			      sizeof(spv_rows), 4, push, &det->st_rows);
	if (!ret)
		ret = dmk__vk_builtin(vk, DMK__VK_DETECT_COLS, spv_cols,
				      sizeof(spv_cols), 2, push,
				      &det->st_cols);
	if (!ret && det->f64)
		ret = dmk__vk_builtin(vk, DMK__VK_DETECT_WALK, spv_walk,
				      sizeof(spv_walk), 4, push,
				      &det->st_walk);
	else if (!ret)
		ret = dmk__vk_builtin(vk, DMK__VK_DETECT_WALK_F32,
				      spv_walk_f32, sizeof(spv_walk_f32), 4,
				      push, &det->st_walk);
	if (!ret && det->f64)
		ret = dmk__vk_builtin(vk, DMK__VK_DETECT_STAGE, spv_stage,
				      sizeof(spv_stage), 5, push,
				      &det->st_stage);
	else if (!ret)
		ret = dmk__vk_builtin(vk, DMK__VK_DETECT_STAGE_F32,
				      spv_stage_f32, sizeof(spv_stage_f32), 5,
				      push, &det->st_stage);
	if (ret)
		pr_warn("detect: cannot create the detector's passes: %s",
			strerror(-ret));
	return ret;
}

/* A buffer whose bindings are @bind bytes (checked against the device). */
static int mem_new(struct dmk_detector *det, uint64_t bytes, uint64_t bind,
		   bool host, const char *what, struct dmk_vk_mem **out)
{
	VkPhysicalDeviceProperties props;
	uint32_t range;
	int ret;

	vkGetPhysicalDeviceProperties(dmk__vk_physical(det->vk), &props);
	range = props.limits.maxStorageBufferRange;
	if (bind > range) {
		pr_warn("detect: the %s need %" PRIu64 " bytes, over the "
			"device's maxStorageBufferRange (%u)", what, bind,
			range);
		return -E2BIG;
	}
	ret = dmk__vk_mem_new(det->vk, bytes, host, out);
	if (ret)
		pr_warn("detect: %" PRIu64 " bytes for the %s: %s", bytes,
			what, strerror(-ret));
	return ret;
}

/* What the passes need of the device beyond dmk_vk_new()'s. */
static int device_check(struct dmk_detector *det, unsigned int flags,
			VkPhysicalDeviceType *type)
{
	VkPhysicalDeviceSubgroupProperties sg = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
	};
	VkPhysicalDeviceProperties2 p2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
		.pNext = &sg,
	};
	VkPhysicalDevice phys = dmk__vk_physical(det->vk);
	VkPhysicalDeviceFeatures feats;

	vkGetPhysicalDeviceProperties2(phys, &p2);
	*type = p2.properties.deviceType;
	if (!(sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
	    (sg.supportedOperations & SUBGROUP_OPS) != SUBGROUP_OPS) {
		pr_warn("detect: %s lacks subgroup ballot/vote/arithmetic in "
			"compute shaders", dmk_vk_device_name(det->vk));
		return -ENOTSUP;
	}
	vkGetPhysicalDeviceFeatures(phys, &feats);
	det->f64 = feats.shaderFloat64 && !(flags & DMK__DETECTOR_FLOAT);
	if (!det->f64)
		pr_info("detect: %s: stage sums in float (%s); a window "
			"whose sum is within float rounding of a stage "
			"threshold may differ from OpenCV's",
			dmk_vk_device_name(det->vk), feats.shaderFloat64 ?
			"asked" : "no shaderFloat64");
	return 0;
}

DMK_API void dmk_detector_free(struct dmk_detector *det)
{
	uint32_t i;

	if (!det)
		return;
	for (i = 0; i < CHAIN_CACHE; i++)
		dmk_vk_chain_free(det->chains[i].chain);
	dmk_vk_mem_put(det->hits);
	dmk_vk_mem_put(det->cand);
	dmk_vk_mem_put(det->integ);
	dmk_vk_mem_put(det->stat);
	free(det->keys);
	free(det->rects);
	free(det->group_scratch);
	free(det->levels);
	free(det);
}

int dmk__detector_new(struct dmk_vk *vk, const struct dmk_cascade *c,
		      uint32_t width, uint32_t height,
		      const struct dmk_detect_params *params,
		      unsigned int flags, struct dmk_detector **out)
{
	const unsigned int known = DMK__DETECTOR_FLOAT | DMK__DETECTOR_HOST;
	const bool host = flags & DMK__DETECTOR_HOST;
	VkPhysicalDeviceProperties props;
	VkPhysicalDeviceType type;
	struct dmk_detector *det;
	struct words b = { 0 };
	uint64_t integ_words, bytes, range;
	uint32_t *taps;
	int ret;

	if (!vk || !c || !out || (flags & ~known)) {
		pr_warn("detect: detector_new: bad arguments");
		return -EINVAL;
	}
	if (!width || !height || width > DETECT_MAX_DIM ||
	    height > DETECT_MAX_DIM) {
		pr_warn("detect: bad image size %ux%u (1..%u a side)", width,
			height, DETECT_MAX_DIM);
		return -EINVAL;
	}
	det = calloc(1, sizeof(*det));
	if (!det)
		return -ENOMEM;
	det->vk = vk;
	det->width = width;
	det->height = height;
	det->haar = c->kind == DMK_CASCADE_HAAR;
	det->nstages = c->nstages;
	ret = dmk__detect_params(params, &det->p);
	if (!ret)
		ret = device_check(det, flags, &type);
	if (!ret)
		ret = plan_levels(det, c, &integ_words);
	if (ret)
		goto err;

	/* The static buffer: count, check, allocate, fill. */
	build_static(det, c, &b, NULL);
	if (b.n > UINT32_MAX / 4) {
		pr_warn("detect: the model and plan need %" PRIu64 " words",
			b.n);
		ret = -E2BIG;
		goto err;
	}
	ret = mem_new(det, b.n * 4, b.n * 4, true, "model and plan",
		      &det->stat);
	if (ret)
		goto err;
	taps = malloc((width > height ? width : height) * sizeof(*taps));
	if (!taps) {
		ret = -ENOMEM;
		goto err;
	}
	b.w = dmk__vk_mem_map(det->stat);
	build_static(det, c, &b, taps);
	free(taps);

	bytes = integ_words ? integ_words * 4 : 16;
	ret = mem_new(det, bytes, bytes, host, "integral images",
		      &det->integ);
	if (ret)
		goto err;
	/* Two lists, each bound alone; a list longer than a binding may be
	 * is cut to it (a frame that fills it overflows). */
	vkGetPhysicalDeviceProperties(dmk__vk_physical(vk), &props);
	range = props.limits.maxStorageBufferRange / CAND_BYTES;
	if (det->cand_cap > range)
		det->cand_cap = (uint32_t)range;
	bytes = (uint64_t)det->cand_cap * CAND_BYTES;
	ret = mem_new(det, 2 * bytes, bytes, host, "candidate lists",
		      &det->cand);
	if (ret)
		goto err;
	det->push.hits_first = (c->nstages + 3) & ~3u;
	bytes = ((uint64_t)det->push.hits_first + det->hit_cap) * 4;
	ret = mem_new(det, bytes, bytes, true, "hit list", &det->hits);
	if (ret)
		goto err;
	det->hmap = dmk__vk_mem_map(det->hits);
	memset((void *)det->hmap, 0, bytes);

	det->keys = malloc(det->hit_cap * sizeof(*det->keys));
	det->rects = malloc(det->hit_cap * sizeof(*det->rects));
	det->group_scratch = malloc(dmk__group_scratch_size(det->hit_cap));
	if (!det->keys || !det->rects || !det->group_scratch) {
		ret = -ENOMEM;
		goto err;
	}

	ret = stages_get(det);
	if (ret)
		goto err;

	det->push.nlevels = det->nlevels;
	det->push.sq_base = det->haar ? (uint32_t)(integ_words / 2) : 0;
	det->push.nstages = c->nstages;
	det->push.flags = (det->haar ? F_HAAR : 0) |
			  (c->stump_based ? F_STUMPS : 0);
	det->push.win_w = c->win_w;
	det->push.win_h = c->win_h;
	det->push.cand_cap = det->cand_cap;
	det->push.hit_cap = det->hit_cap;
	det->push.max_nodes = c->max_tree_nodes ? c->max_tree_nodes : 1;
	det->stage_threads = type == VK_PHYSICAL_DEVICE_TYPE_CPU ?
			     STAGE_THREADS_CPU : STAGE_THREADS_GPU;
	pr_debug("detect: %ux%u: %u levels, %" PRIu64 " windows, %" PRIu64
		 " bytes of integrals, sums in %s", width, height,
		 det->nlevels, det->windows, integ_words * 4,
		 det->f64 ? "double" : "float");
	*out = det;
	return 0;

err:
	dmk_detector_free(det);
	return ret;
}

DMK_API int dmk_detector_new(struct dmk_vk *vk, const struct dmk_cascade *c,
			     uint32_t width, uint32_t height,
			     const struct dmk_detect_params *params,
			     struct dmk_detector **out)
{
	return dmk__detector_new(vk, c, width, height, params, 0, out);
}

/* ---- recording ---- */

static int dispatch(struct dmk_vk_chain *chain, struct dmk_vk_stage *stage,
		    const struct dmk_vk_binding *binds, uint32_t nbinds,
		    struct det_push *push, uint64_t items)
{
	uint32_t groups[3];

	grid(items, groups, &push->row_stride);
	push->total = (uint32_t)items;
	push->nthreads = groups[0] * groups[1] * LOCAL_SIZE;
	return dmk_vk_chain_dispatch(chain, stage, binds, nbinds, push,
				     sizeof(*push), groups);
}

static void bind(struct dmk_vk_binding *b, struct dmk_vk_mem *mem,
		 uint64_t offset, uint64_t size, unsigned int access)
{
	memset(b, 0, sizeof(*b));
	b->mem = mem;
	b->offset = offset;
	b->size = size;
	b->access = access;
}

int dmk__detector_record_upto(struct dmk_detector *det,
			       struct dmk_vk_chain *chain,
			       struct dmk_vk_mem *gray, uint64_t offset,
			       uint32_t pitch, uint32_t npasses)
{
	const unsigned int rw = DMK_VK_READ | DMK_VK_WRITE;
	struct dmk_vk_binding b[5];
	struct det_push push;
	uint64_t span, len, size, half;
	uint32_t s;
	int ret;

	if (!det || !chain || !gray) {
		pr_warn("detect: record: NULL argument");
		return -EINVAL;
	}
	if (dmk__vk_chain_ctx(chain) != det->vk) {
		pr_warn("detect: record: the chain is another context's");
		return -EINVAL;
	}
	if (pitch < det->width || offset % 16) {
		pr_warn("detect: record: pitch %u for width %u, offset %"
			PRIu64 " (pitch >= width, offset a multiple of 16)",
			pitch, det->width, offset);
		return -EINVAL;
	}
	/* Bytes the image spans, read as whole 32-bit words. */
	span = (uint64_t)pitch * (det->height - 1) + det->width;
	len = (span + 3) & ~3ull;
	size = dmk_vk_mem_size(gray);
	if (offset > size || len > size - offset) {
		pr_warn("detect: record: a %ux%u image of pitch %u at offset %"
			PRIu64 " needs %" PRIu64 " bytes (whole words), the "
			"buffer has %" PRIu64, det->width, det->height, pitch,
			offset, len, size);
		return -ERANGE;
	}
	if (len > UINT32_MAX) {
		/* The rows pass addresses bytes in 32 bits. */
		pr_warn("detect: record: the image spans %" PRIu64 " bytes, "
			"over 4 GiB", len);
		return -EINVAL;
	}

	push = det->push;
	push.src_pitch = pitch;
	push.src_w = det->width;
	push.src_h = det->height;

	bind(&b[0], gray, offset, len, DMK_VK_READ);
	bind(&b[1], det->stat, 0, 0, DMK_VK_READ);
	bind(&b[2], det->integ, 0, 0, rw);
	bind(&b[3], det->hits, 0, 0, rw);
	/* Always recorded: it zeroes the counters, windows or not. */
	ret = dispatch(chain, det->st_rows, b, 4, &push,
		       det->nlevels ? det->rows : 0);
	if (ret || !det->nlevels || npasses < 2)
		return ret;

	bind(&b[0], det->stat, 0, 0, DMK_VK_READ);
	bind(&b[1], det->integ, 0, 0, rw);
	ret = dispatch(chain, det->st_cols, b, 2, &push, det->cols);
	if (ret || npasses < 3)
		return ret;

	/* The walk into list 0, then each stage from one list to the
	 * other; the last into the hits. */
	half = (uint64_t)det->cand_cap * CAND_BYTES;
	bind(&b[2], det->cand, 0, half, DMK_VK_WRITE);
	bind(&b[3], det->hits, 0, 0, rw);
	ret = dispatch(chain, det->st_walk, b, 4, &push, det->wrows);
	for (s = 1; !ret && s < det->nstages && s + 3 <= npasses; s++) {
		bind(&b[2], det->cand, half * ((s - 1) % 2), half, DMK_VK_READ);
		bind(&b[3], det->cand, half * (s % 2), half, DMK_VK_WRITE);
		bind(&b[4], det->hits, 0, 0, rw);
		push.stage = s;
		ret = dispatch(chain, det->st_stage, b, 5, &push,
			       det->stage_threads);
	}
	return ret;
}

DMK_API int dmk_detector_record(struct dmk_detector *det,
				struct dmk_vk_chain *chain,
				struct dmk_vk_mem *gray, uint64_t offset,
				uint32_t pitch)
{
	return dmk__detector_record_upto(det, chain, gray, offset, pitch,
					 UINT32_MAX);
}

/* ---- collecting ---- */

static void sift_down(uint32_t *a, size_t i, size_t n)
{
	uint32_t v = a[i];
	size_t c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[c] <= v)
			break;
		a[i] = a[c];
		i = c;
	}
	a[i] = v;
}

/* Heapsort: in place, no allocation (glibc's qsort may allocate). */
static void sort_u32(uint32_t *a, size_t n)
{
	size_t i;
	uint32_t t;

	for (i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (i = n; i-- > 1;) {
		t = a[0];
		a[0] = a[i];
		a[i] = t;
		sift_down(a, 0, i);
	}
}

/* The level whose integral holds word @off (levels sorted by offset). */
static uint32_t level_of(const struct dmk_detector *det, uint32_t off)
{
	uint32_t lo = 0, hi = det->nlevels - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) / 2;

		if (det->levels[mid].int_off <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

DMK_API int dmk_detector_collect(struct dmk_detector *det,
				 struct dmk_rect *rects, size_t max, size_t *n)
{
	uint32_t nhits, ncand, i;
	size_t count;

	if (!det || !n || (max && !rects)) {
		pr_warn("detect: collect: NULL argument");
		return -EINVAL;
	}
	/* Written by the device: counts past their caps are overflows. */
	nhits = det->nstages ? det->hmap[det->nstages - 1] : 0;
	det->last_candidates = det->nstages ? det->hmap[0] : 0;
	for (i = 0; i + 1 < det->nstages; i++) {
		ncand = det->hmap[i];
		if (ncand > det->cand_cap) {
			pr_warn("detect: %u windows passed stage %u, over the "
				"room for %u", ncand, i, det->cand_cap);
			return -EOVERFLOW;
		}
	}
	if (nhits > det->hit_cap) {
		pr_warn("detect: %u hits, over the room for %u", nhits,
			det->hit_cap);
		return -EOVERFLOW;
	}
	for (i = 0; i < nhits; i++)
		det->keys[i] = det->hmap[det->push.hits_first + i];
	/* Integral offsets grow with level, row, column: OpenCV's order. */
	sort_u32(det->keys, nhits);
	for (i = 0; i < nhits; i++) {
		uint32_t off = det->keys[i], l, rel, x, y;
		const struct level *lv;

		/* Window (x, y) is word int_off + y stride + x. */
		l = det->nlevels ? level_of(det, off) : 0;
		lv = &det->levels[l];
		rel = off - lv->int_off;
		y = rel / lv->stride;
		x = rel % lv->stride;
		if (!det->nlevels || off < lv->int_off || x % lv->s.step ||
		    y % lv->s.step || x >= lv->s.nx || y >= lv->s.ny) {
			pr_warn("detect: the device reported a hit at word %u, "
				"not a window", off);
			return -EIO;
		}
		det->rects[i] = dmk__scale_rect(&lv->s, x, y);
	}
	count = nhits;
	dmk__group_rects(det->rects, &count, det->p.min_neighbors, GROUP_EPS,
			 det->group_scratch);
	dmk__clip_rects(det->rects, &count, det->width, det->height);
	for (i = 0; i < count && i < max; i++)
		rects[i] = det->rects[i];
	*n = count;
	return 0;
}

/* ---- the convenience path ---- */

static void chain_evict(struct det_chain *dc)
{
	dmk_vk_chain_free(dc->chain);
	memset(dc, 0, sizeof(*dc));
}

/* The cached chain for this image, or a new one in the LRU slot. */
static int chain_get(struct dmk_detector *det, struct dmk_vk_mem *gray,
		     uint64_t offset, uint32_t pitch, struct det_chain **out)
{
	struct det_chain *dc, *lru = &det->chains[0];
	struct dmk_vk_chain *chain;
	uint32_t i;
	int ret;

	for (i = 0; i < CHAIN_CACHE; i++) {
		dc = &det->chains[i];
		if (dc->chain && dc->gray == gray && dc->offset == offset &&
		    dc->pitch == pitch) {
			dc->used = ++det->clock;
			*out = dc;
			return 0;
		}
		if (!dc->chain || (lru->chain && dc->used < lru->used))
			lru = dc;
	}
	ret = dmk_vk_chain_new(det->vk, &chain);
	if (ret)
		return ret;
	ret = dmk_detector_record(det, chain, gray, offset, pitch);
	if (!ret)
		ret = dmk_vk_chain_end(chain);
	if (ret) {
		dmk_vk_chain_free(chain);
		return ret;
	}
	chain_evict(lru);
	lru->chain = chain;
	lru->gray = gray;
	lru->offset = offset;
	lru->pitch = pitch;
	lru->used = ++det->clock;
	*out = lru;
	return 0;
}

DMK_API int dmk_detector_run(struct dmk_detector *det,
			     struct dmk_vk_mem *gray, uint64_t offset,
			     uint32_t pitch, struct dmk_rect *rects,
			     size_t max, size_t *n)
{
	struct det_chain *dc;
	int ret;

	if (!det || !gray || !n || (max && !rects)) {
		pr_warn("detect: run: NULL argument");
		return -EINVAL;
	}
	ret = chain_get(det, gray, offset, pitch, &dc);
	if (ret)
		return ret;
	ret = dmk_vk_chain_run(dc->chain);
	if (ret) {
		/* A freed gray buffer (-ESTALE) or a lost device: this
		 * chain will not run again. */
		chain_evict(dc);
		return ret;
	}
	return dmk_detector_collect(det, rects, max, n);
}

/* ---- for tests ---- */

int dmk__detector_level(const struct dmk_detector *det, uint32_t i,
			struct dmk__scale *s)
{
	if (i >= det->nlevels)
		return -ENOENT;
	*s = det->levels[i].s;
	return 0;
}

int dmk__detector_integral(const struct dmk_detector *det, uint32_t i,
			   uint32_t x, uint32_t y, bool squares,
			   uint32_t *value)
{
	const uint32_t *map = dmk__vk_mem_map(det->integ);
	const struct level *l;

	if (i >= det->nlevels)
		return -ENOENT;
	l = &det->levels[i];
	if (x > l->s.w || y > l->s.h || (squares && !det->haar))
		return -ERANGE;
	if (!map)
		return -ENOTSUP;
	*value = map[(squares ? det->push.sq_base : 0) + l->int_off +
		     (size_t)y * l->stride + x];
	return 0;
}

uint32_t dmk__detector_candidates(const struct dmk_detector *det)
{
	return det->last_candidates;
}

int dmk__detector_survivors(const struct dmk_detector *det, uint32_t stage,
			    uint32_t *n)
{
	if (stage >= det->nstages)
		return -ENOENT;
	*n = det->hmap[stage];
	return 0;
}

uint32_t dmk__detector_passes(const struct dmk_detector *det)
{
	return det->nlevels ? 2 + det->nstages : 1;
}

bool dmk__detector_f64(const struct dmk_detector *det)
{
	return det->f64;
}
