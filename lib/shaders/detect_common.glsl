// SPDX-License-Identifier: MIT
/*
 * What the cascade detector's passes share (lib/detect_vk.c says what each
 * pass does; lib/detect_internal.h what "as OpenCV does" means).
 *
 * Before including, a pass defines:
 *   B_STATIC  the binding of the static buffer: the plan (levels, resize
 *             taps) and the cascade, in 16-byte records
 *   B_INTEG   the binding of the integral images (omit: none)
 *   SUM_DOUBLE 1 to sum stages in double (the device has shaderFloat64),
 *             0 for float (lib/detect_vk.c logs that the boxes may differ)
 *
 * Integral images are uint32 and wrap, as OpenCV's int32 sums do on big
 * images: a rect's sum, the difference of four corners, is right either
 * way.  Level L's integral is (w + 1) x (h + 1) words at word L_INT with
 * row stride L_STRIDE; the squared integrals (Haar) have the same layout
 * pc.sq_base words further on.
 *
 * The static buffer is read as uvec4s, records laid out to be fetched
 * whole: CPU drivers (llvmpipe) load storage buffers one invocation at a
 * time, and a 16-byte load costs little more than a 4-byte one.
 */

layout(std430, set = 0, binding = B_STATIC) readonly buffer Static {
	uvec4 st4[];
};

#ifdef B_INTEG
layout(std430, set = 0, binding = B_INTEG) buffer Integ {
	uint ig[];
};
#endif

/* struct det_push in lib/detect_vk.c: keep the two in step. */
layout(push_constant) uniform Push {
	uint src_pitch;		/* gray image: bytes a row */
	uint src_w;
	uint src_h;
	uint nlevels;		/* levels with windows (0: none) */
	uint total;		/* work items of this dispatch */
	uint sq_base;		/* words from an integral to its squares */
	uint lev_off;		/* word offsets in the static buffer: */
	uint stage_off;		/*   a stage: first, count, threshold */
	uint stump_off;		/*   stump records (stump_based) */
	uint weak_off;		/*   trees: first node, -, first leaf */
	uint node_off;		/*   nodes: feature, threshold, l, r */
	uint leaf_off;		/*   leaves, a word each */
	uint subset_off;	/*   LBP subsets, 8 words a node */
	uint feat_off;		/*   LBP 4, Haar 16 words a feature */
	uint nstages;
	uint flags;		/* F_* */
	uint win_w;
	uint win_h;
	uint cand_cap;		/* room in each candidate list */
	uint hit_cap;		/* room in the hit list */
	uint nthreads;		/* invocations of this dispatch */
	uint row_stride;	/* invocations a row of the dispatch grid */
	uint max_nodes;		/* trees: most nodes a tree has */
	uint stage;		/* the stage pass's stage */
	uint hits_first;	/* word of the first hit (after counters) */
	uint pad;
} pc;

#define F_HAAR 1u
#define F_STUMPS 2u

/* A level: 16 words at pc.lev_off + 16 L (struct level in detect_vk.c). */
#define L_W 0u		/* scaled image */
#define L_H 1u
#define L_STRIDE 2u	/* integral row stride, words: w + 1 */
#define L_INT 3u	/* word offset of the integral */
#define L_ROW 4u	/* first integral row of the level, all levels */
#define L_COL 5u	/* first integral column, all levels */
#define L_WROW 6u	/* first window row, all levels */
#define L_COLS 7u	/* windows a row: ceil(nx / step) */
#define L_ROWS 8u	/* window rows: ceil(ny / step) */
#define L_STEP 9u
#define L_MODE 10u	/* M_* */
#define L_XTAB 11u	/* word offset of the column taps (M_LINEAR) */
#define L_YTAB 12u	/* and of the row taps */

#define M_COPY 0u	/* same size as the image */
#define M_HALVE 1u	/* exactly half: OpenCV's 2x2 box */
#define M_LINEAR 2u	/* INTER_LINEAR_EXACT through the tap tables */

/* Stump records, 16-byte words from pc.stump_off (detect_vk.c). */
#define LBP_STUMP_VEC4 4u	/* rect; leaves; subset 0-3; subset 4-7 */
#define HAAR_STUMP_VEC4 5u	/* 3 rects; weights + threshold; leaves */

/* One word of the static buffer. */
uint stw(uint i)
{
	return st4[i >> 2][i & 3u];
}

/* The invocation's index in a 2-D grid numbered row-major. */
uint flat_id()
{
	return gl_GlobalInvocationID.y * pc.row_stride +
	       gl_GlobalInvocationID.x;
}

/* The last level whose @field (a running first index) is <= @idx. */
uint find_level(uint idx, uint field)
{
	uint lo = 0u, hi = pc.nlevels - 1u;

	while (lo < hi) {
		uint mid = (lo + hi + 1u) >> 1;

		if (stw(pc.lev_off + 16u * mid + field) <= idx)
			lo = mid;
		else
			hi = mid - 1u;
	}
	return lo;
}

#ifdef B_INTEG

#if SUM_DOUBLE
#define SUM_T double
#else
#define SUM_T float
#endif

/* A rect's sum from its corners: top-left, top-right, bottom-left,
 * bottom-right; wrapping uint arithmetic, then as int32. */
int rsum(uint a, uint b, uint c, uint d)
{
	return int(ig[a] - ig[b] - ig[c] + ig[d]);
}

/* The sum of rect (x, y, w, h) of the window at @base. */
int rect_at(uvec4 r, uint base, uint stride)
{
	uint p0 = base + r.y * stride + r.x, p2 = p0 + r.w * stride;

	return rsum(p0, p0 + r.z, p2, p2 + r.z);
}

/*
 * Haar's variance normalisation of the window at @base: false when OpenCV
 * rejects it before stage 0 (too flat), else the factor in @vnf.
 * nf = area * sum(x^2) - sum(x)^2 is an integer below 2^53: exact in
 * double, as on the CPU.
 */
bool haar_norm(uint base, uint stride, out float vnf)
{
	uint iw = pc.win_w - 2u, ih = pc.win_h - 2u;
	uint p0 = base + stride + 1u, p1 = p0 + iw;
	uint p2 = p0 + ih * stride, p3 = p2 + iw;
	int vsum = rsum(p0, p1, p2, p3);
	uint q = pc.sq_base;
	uint vsq = ig[q + p0] - ig[q + p1] - ig[q + p2] + ig[q + p3];

	vnf = 1.0;
#if SUM_DOUBLE
	precise double area = double(iw * ih);
	precise double nf = area * double(vsq) - double(vsum) * double(vsum);

	if (!(nf > 0.0LF))
		return false;
	vnf = float(1.0LF / sqrt(nf));
	return area * double(vnf) < 0.1LF;
#else
	/* The same integer in 64 bits from 32-bit halves, then float. */
	uint ahi, alo, bhi, blo, borrow, hi, lo;
	uint area = iw * ih;

	umulExtended(area, vsq, ahi, alo);
	umulExtended(uint(abs(vsum)), uint(abs(vsum)), bhi, blo);
	lo = usubBorrow(alo, blo, borrow);
	hi = ahi - bhi - borrow;
	if (int(hi) < 0 || (hi == 0u && lo == 0u))
		return false;
	precise float nf = float(hi) * 4294967296.0 + float(lo);

	vnf = 1.0 / sqrt(nf);
	return float(area) * vnf < 0.1;
#endif
}

/*
 * A Haar feature's value from its rects and weights (w.w unused), in
 * float, in OpenCV's order of operations; the third rect only when its
 * weight is not 0.
 */
float haar_value(uvec4 r0, uvec4 r1, uvec4 r2, vec4 w, uint base,
		 uint stride)
{
	precise float v = w.x * float(rect_at(r0, base, stride)) +
			  w.y * float(rect_at(r1, base, stride));

	if (w.z != 0.0)
		v += w.z * float(rect_at(r2, base, stride));
	return v;
}

/*
 * An LBP feature's 8-bit code: a 3x3 grid of r.z x r.w blocks at (r.x,
 * r.y) (detect_internal.h: struct dmk__lbp_feature).
 */
uint lbp_code(uvec4 r, uint base, uint stride)
{
	uint fw = r.z, dy = r.w * stride;
	uint a0 = base + r.y * stride + r.x;
	uint a1 = a0 + fw, a2 = a1 + fw, a3 = a2 + fw;
	uint b0 = a0 + dy, b1 = a1 + dy, b2 = a2 + dy, b3 = a3 + dy;
	uint c0 = b0 + dy, c1 = b1 + dy, c2 = b2 + dy, c3 = b3 + dy;
	uint d0 = c0 + dy, d1 = c1 + dy, d2 = c2 + dy, d3 = c3 + dy;
	int cv = rsum(b1, b2, c1, c2);

	return (rsum(a0, a1, b0, b1) >= cv ? 128u : 0u) |
	       (rsum(a1, a2, b1, b2) >= cv ? 64u : 0u) |
	       (rsum(a2, a3, b2, b3) >= cv ? 32u : 0u) |
	       (rsum(b2, b3, c2, c3) >= cv ? 16u : 0u) |
	       (rsum(c2, c3, d2, d3) >= cv ? 8u : 0u) |
	       (rsum(c1, c2, d1, d2) >= cv ? 4u : 0u) |
	       (rsum(c0, c1, d0, d1) >= cv ? 2u : 0u) |
	       (rsum(b0, b1, c0, c1) >= cv ? 1u : 0u);
}

/* Bit @code of the 256-bit subset at vec4 @v (two of them). */
bool subset_bit(uint v, uint code)
{
	return (st4[v + (code >> 7)][(code >> 5) & 3u] &
		(1u << (code & 31u))) != 0u;
}

/* Stump @wi's leaf for the window at @base (stump-based cascades). */
float stump_leaf(uint wi, uint base, uint stride, float vnf, bool haar)
{
	bool left;
	uvec4 lv;

	if (haar) {
		uint v = pc.stump_off / 4u + HAAR_STUMP_VEC4 * wi;
		vec4 w = uintBitsToFloat(st4[v + 3u]);
		precise float f = haar_value(st4[v], st4[v + 1u],
					     st4[v + 2u], w, base, stride) *
				  vnf;

		left = f < w.w;
		lv = st4[v + 4u];
	} else {
		uint v = pc.stump_off / 4u + LBP_STUMP_VEC4 * wi;

		left = subset_bit(v + 2u, lbp_code(st4[v], base, stride));
		lv = st4[v + 1u];
	}
	return uintBitsToFloat(left ? lv.x : lv.y);
}

/* A tree's leaf (any cascade), walking its nodes from the root. */
float tree_leaf(uint wi, uint base, uint stride, float vnf, bool haar)
{
	uint w = pc.weak_off + 4u * wi, first = stw(w), leaf = stw(w + 2u), n;
	int idx = 0;

	/* Child indices only grow (checked at load); the bound keeps a
	 * bad table from looping. */
	for (n = 0u; n < pc.max_nodes; n++) {
		uint ni = first + uint(idx);
		uvec4 nd = st4[pc.node_off / 4u + ni];
		bool left;

		if (haar) {
			uint f = pc.feat_off / 4u + 4u * nd.x;
			vec4 wt = uintBitsToFloat(st4[f + 3u]);
			precise float v = haar_value(st4[f], st4[f + 1u],
						     st4[f + 2u], wt, base,
						     stride) * vnf;

			left = v < uintBitsToFloat(nd.y);
		} else {
			left = subset_bit(pc.subset_off / 4u + 2u * ni,
					  lbp_code(st4[pc.feat_off / 4u + nd.x],
						   base, stride));
		}
		idx = int(left ? nd.z : nd.w);
		if (idx <= 0)
			break;
	}
	return uintBitsToFloat(stw(pc.leaf_off + leaf + uint(-idx)));
}

/* Whether the window at @base passes stage @si: its sum >= threshold. */
bool stage_pass(uint si, uint base, uint stride, float vnf)
{
	uvec4 s = st4[pc.stage_off / 4u + si];
	uint wi = s.x, wend = s.x + s.y;
	bool haar = (pc.flags & F_HAAR) != 0u;
	SUM_T sum = SUM_T(0);

	if ((pc.flags & F_STUMPS) != 0u) {
		for (; wi < wend; wi++)
			sum += SUM_T(stump_leaf(wi, base, stride, vnf, haar));
	} else {
		for (; wi < wend; wi++)
			sum += SUM_T(tree_leaf(wi, base, stride, vnf, haar));
	}
	return !(sum < SUM_T(uintBitsToFloat(s.z)));
}

#endif /* B_INTEG */
