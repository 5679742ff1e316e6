/* SPDX-License-Identifier: MIT */
/*
 * Cascade classifiers inside libdmakit: the loaded model (cascade.c) in flat
 * arrays of 4-byte fields, ready to copy into GPU storage buffers as they
 * are (std430: every struct below is 16 or 64 bytes of int32/float), and
 * the pieces of OpenCV's detectMultiScale() that the CPU path
 * (detect_cpu.c) and the GPU path share: the scale list with its window
 * grid, the pyramid's resize, the rect of a hit, the clipping.
 *
 * What "as OpenCV 4.6 does" means here, for whoever ports this to a shader:
 *  - The pyramid is cv::resize(INTER_LINEAR_EXACT) of the original image
 *    for every scale (dmk__resize_u8(), bit-exact), then integral images.
 *  - Windows: dmk__scale's nx, ny, step (OpenCV leaves some bottom rows
 *    unscanned; nx and ny already say so).
 *  - A window at (x, y) of scale s is evaluated only if the window before
 *    it in the row (x - step) was evaluated and did not fail stage 0: a
 *    stage-0 rejection makes OpenCV skip the next position.  A GPU that
 *    evaluates every window must keep, per window, whether stage 0 passed,
 *    and then walk each row in order to drop the windows OpenCV skipped.
 *  - Haar windows whose standard deviation over the inner rect (the window
 *    less 1 px each side) is <= 10 grey levels are rejected before stage 0
 *    (not a stage-0 failure: the next position is not skipped).
 *  - Sums in the stage are double on the CPU; thresholds and leaves float.
 *    Stage sums land on a threshold often (traincascade sets them from
 *    its samples), so a float sum may flip a few windows.
 *  - dmk_detect_cpu() with min_neighbors 0 returns the raw hits (clipped
 *    to the image), to compare a GPU's hits with before grouping.
 */
#ifndef DMK_DETECT_INTERNAL_H
#define DMK_DETECT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <dmakit/detect.h>

/* Limits on what a cascade file may declare (beyond: -E2BIG). */
#define DMK_CASCADE_MAX_WIN 256		/* window width and height */
#define DMK_CASCADE_MAX_STAGES 1000
#define DMK_CASCADE_MAX_WEAK 10000	/* weak classifiers a stage */
#define DMK_CASCADE_MAX_FEATURES 100000
#define DMK_CASCADE_MAX_TREE_NODES 256	/* internal nodes a tree */
#define DMK_CASCADE_MAX_FILE (64u << 20)	/* bytes of XML */

#define DMK_LBP_SUBSET_WORDS 8		/* 256 LBP codes, one bit each */
#define DMK_HAAR_RECTS 3

/* OpenCV subtracts this from every stage threshold (in float). */
#define DMK_STAGE_THRESHOLD_EPS 1e-5f

/*
 * A stage: weak classifiers [first, first + count) of c->weaks.
 * @threshold is already OpenCV's (float)file_value - 1e-5f: a window
 * passes when the stage's sum of leaves is >= threshold.
 */
struct dmk__stage {
	int32_t first;
	int32_t count;
	float threshold;
	int32_t reserved;
};

/*
 * A weak classifier (a tree): nodes [first_node, first_node + nnodes) of
 * c->nodes, leaves [first_leaf, first_leaf + nnodes + 1) of c->leaves.
 */
struct dmk__weak {
	int32_t first_node;
	int32_t nnodes;
	int32_t first_leaf;
	int32_t reserved;
};

/*
 * A tree node.  Haar: go left when feature value < @threshold.  LBP: go
 * left when bit (code) of the node's 256-bit subset is set (@threshold
 * unused, 0).  @left and @right: > 0 is a node index within the tree
 * (always greater than this node's, so walks end); <= 0 is leaf -value
 * within the tree's leaves.
 */
struct dmk__node {
	int32_t feature;
	float threshold;
	int32_t left;
	int32_t right;
};

/*
 * When every tree is a single node (both Debian face models), one stump a
 * weak classifier: leaf @left when the test goes left, else @right.  LBP:
 * the subset of weak i is c->subsets[i * DMK_LBP_SUBSET_WORDS ...].
 */
struct dmk__stump {
	int32_t feature;
	float threshold;
	float left;
	float right;
};

/*
 * LBP feature: a 3x3 grid of @w x @h blocks whose top-left is (@x, @y) in
 * the window; the code has bit 7..0 set when the block at (0,0), (1,0),
 * (2,0), (2,1), (2,2), (1,2), (0,2), (0,1) (column, row) sums to at least
 * the centre block.  The grid lies inside the window (checked at load).
 */
struct dmk__lbp_feature {
	int32_t x, y, w, h;
};

/*
 * Haar feature: value = sum over rects of weight * pixel sum, in float, in
 * rect order, the third only when its weight is not 0 (a third rect with a
 * weight <= 0 has its rect zeroed, as OpenCV does); times the window's
 * variance normalisation factor.  Unused rects are all 0.
 */
struct dmk__haar_feature {
	int32_t rect[DMK_HAAR_RECTS][4];	/* x, y, w, h */
	float weight[DMK_HAAR_RECTS];
	int32_t nrects;
};

struct dmk_cascade {
	enum dmk_cascade_kind kind;
	uint32_t win_w, win_h;
	bool stump_based;		/* every tree has one node */
	uint32_t max_tree_nodes;
	uint32_t nstages, nweaks, nnodes, nleaves, nfeatures;
	struct dmk__stage *stages;
	struct dmk__weak *weaks;
	struct dmk__node *nodes;
	float *leaves;
	int32_t *subsets;		/* LBP: 8 words a node; else NULL */
	struct dmk__stump *stumps;	/* when stump_based; else NULL */
	struct dmk__lbp_feature *lbp;	/* kind LBP */
	struct dmk__haar_feature *haar;	/* kind HAAR */
};

/* ---- OpenCV's arithmetic ---- */

/* cvRound(): to nearest, ties to even (the SSE2 conversion), no libm. */
static inline int dmk__round(double v)
{
	long long t = (long long)v;	/* toward zero */
	double frac = v - (double)t;

	if (frac > 0.5 || (frac == 0.5 && (t & 1)))
		t++;
	else if (frac < -0.5 || (frac == -0.5 && (t & 1)))
		t--;
	return (int)t;
}

/* cvFloor() of a float, no libm. */
static inline int dmk__floorf(float v)
{
	int t = (int)v;

	return (float)t > v ? t - 1 : t;
}

/* ---- detectMultiScale()'s plan ---- */

/* The parameters with defaults applied; -EINVAL for bad ones. */
int dmk__detect_params(const struct dmk_detect_params *in,
		       struct dmk_detect_params *out);

/*
 * One level of the pyramid, as OpenCV builds it.  Windows sit at
 * x = 0, step, 2 step, ... < nx and y = 0, step, ... < ny in the scaled
 * image (the window spans win_w x win_h of the cascade's own size there).
 */
struct dmk__scale {
	float factor;		/* OpenCV keeps the scale as a float */
	uint32_t w, h;		/* scaled image: cvRound(size / f) */
	uint32_t rect_w, rect_h; /* a hit's size in the image */
	uint32_t step;		/* 1 when factor >= 2, else 2 */
	uint32_t nx, ny;	/* window origins are < nx, < ny */
};

/* Most scales a detection may have (a scale factor too close to 1). */
#define DMK_DETECT_MAX_SCALES 4096

/*
 * The scales for a @width x @height image and resolved params @p, into
 * @scales (room for DMK_DETECT_MAX_SCALES); *@n may be 0 (no window fits).
 * -EINVAL when there would be more than DMK_DETECT_MAX_SCALES.
 */
int dmk__detect_scales(const struct dmk_cascade *c, uint32_t width,
		       uint32_t height, const struct dmk_detect_params *p,
		       struct dmk__scale *scales, size_t *n);

/* The box OpenCV reports for a hit at (@x, @y) of scale @s. */
static inline struct dmk_rect dmk__scale_rect(const struct dmk__scale *s,
					      uint32_t x, uint32_t y)
{
	struct dmk_rect r = {
		.x = dmk__round((float)x * s->factor),
		.y = dmk__round((float)y * s->factor),
		.w = (int32_t)s->rect_w,
		.h = (int32_t)s->rect_h,
	};

	return r;
}

/*
 * cv::resize(INTER_LINEAR_EXACT) of 8-bit gray, bit-exact with OpenCV 4.6
 * (what its cascade detector builds the pyramid with: 8.8 fixed point,
 * see detect_cpu.c); a same-size resize is a copy, an exact halving a 2x2
 * box average rounded half up, as in OpenCV.  0 or -ENOMEM.
 */
int dmk__resize_u8(const uint8_t *src, uint32_t sw, uint32_t sh,
		   size_t sstride, uint8_t *dst, uint32_t dw, uint32_t dh,
		   size_t dstride);

/*
 * groupRectangles() (dmk_group_rects()) in caller-provided scratch of
 * dmk__group_scratch_size(*@n) bytes, for a frame path that allocates
 * nothing; the arguments are not checked.  The size is 0 when @n is too
 * large.
 */
size_t dmk__group_scratch_size(size_t n);
void dmk__group_rects(struct dmk_rect *rects, size_t *n, int min_neighbors,
		      double eps, void *scratch);

/*
 * Drop boxes outside a @width x @height image and cut the others to it
 * (CascadeClassifier::detectMultiScale's last step).  In place.
 */
void dmk__clip_rects(struct dmk_rect *rects, size_t *n, uint32_t width,
		     uint32_t height);

#endif /* DMK_DETECT_INTERNAL_H */
