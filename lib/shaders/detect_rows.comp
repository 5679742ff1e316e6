// SPDX-License-Identifier: MIT
/*
 * Detector stage 1 of 4: every level of the pyramid, resized from the
 * gray image the way OpenCV 4.6's cascade detector does
 * (cv::resize(INTER_LINEAR_EXACT), bit-exact: lib/detect_cpu.c's
 * dmk__resize_u8()), and each row of it prefix-summed into its integral
 * image (and, for Haar, the squared one).  detect_cols.comp then sums the
 * columns.
 *
 * One invocation per integral row of every level (a level of h rows has
 * h + 1: row 0 is zeros); the rows of all levels are numbered one after
 * the other (L_ROW).  Invocation 0 also zeroes the hit and candidate
 * counters, so that a replayed chain starts clean.
 *
 * INTER_LINEAR_EXACT in integers: a tap table entry is src | c1 << 16,
 * the weights being 256 - c1 and c1 (8.8 fixed point, computed on the CPU
 * from IEEE doubles as OpenCV does); edge pixels and rows have c1 = 0.
 * A row is first resized horizontally to 8.8 values h = c0 p0 + c1 p1,
 * then out = (h0 b0 + h1 b1 + 2^15) >> 16, clamped to 255 (which is also
 * OpenCV's (h + 128) >> 8 for edge rows, where b1 = 0).
 *
 * Binding 0: the gray image, bytes packed little-endian into uints, from
 * the bound offset, src_pitch bytes a row.  1: the static buffer.  2: the
 * integral images.  3: the hit buffer (pc.hits_first words of counters,
 * then the hits).
 */
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

#define B_STATIC 1
#define B_INTEG 2
#define SUM_DOUBLE 0

layout(std430, set = 0, binding = 0) readonly buffer Src {
	uint src[];
};

layout(std430, set = 0, binding = 3) buffer Hits {
	uint hits[];
};

#include "detect_common.glsl"

uint px(uint a)
{
	return (src[a >> 2] >> ((a & 3u) * 8u)) & 0xffu;
}

/* The horizontally resized 8.8 value of column x of source row @row. */
uint hval(uint row, uint tap)
{
	uint o = row + (tap & 0xffffu), c1 = tap >> 16;
	uint v = (256u - c1) * px(o);

	if (c1 != 0u)
		v += c1 * px(o + 1u);
	return v;
}

void main()
{
	uint id = flat_id(), lb, w, h, stride, r, out0, x, acc, acc2, p;
	uint mode, sq = pc.sq_base, y, r0, r1, ytap, b1, xt, o;
	bool haar = (pc.flags & F_HAAR) != 0u;

	/* The counters: one a stage (survivors), before the hits. */
	if (id == 0u)
		for (x = 0u; x < pc.hits_first; x++)
			hits[x] = 0u;
	if (id >= pc.total)
		return;
	lb = pc.lev_off + 16u * find_level(id, L_ROW);
	w = stw(lb + L_W);
	h = stw(lb + L_H);
	stride = stw(lb + L_STRIDE);
	r = id - stw(lb + L_ROW);
	out0 = stw(lb + L_INT) + r * stride;
	ig[out0] = 0u;
	if (haar)
		ig[sq + out0] = 0u;
	if (r == 0u) {
		for (x = 1u; x <= w; x++) {
			ig[out0 + x] = 0u;
			if (haar)
				ig[sq + out0 + x] = 0u;
		}
		return;
	}

	y = r - 1u;
	mode = stw(lb + L_MODE);
	acc = 0u;
	acc2 = 0u;
	r0 = 0u;
	r1 = 0u;
	b1 = 0u;
	if (mode == M_COPY) {
		r0 = y * pc.src_pitch;
	} else if (mode == M_HALVE) {
		r0 = 2u * y * pc.src_pitch;
		r1 = r0 + pc.src_pitch;
	} else {
		ytap = stw(stw(lb + L_YTAB) + y);
		r0 = (ytap & 0xffffu) * pc.src_pitch;
		r1 = r0 + pc.src_pitch;
		b1 = ytap >> 16;
	}
	xt = stw(lb + L_XTAB);
	for (x = 0u; x < w; x++) {
		if (mode == M_COPY) {
			p = px(r0 + x);
		} else if (mode == M_HALVE) {
			p = (px(r0 + 2u * x) + px(r0 + 2u * x + 1u) +
			     px(r1 + 2u * x) + px(r1 + 2u * x + 1u) + 2u) >> 2;
		} else {
			uint tap = stw(xt + x);
			uint v = hval(r0, tap) * (256u - b1) + (1u << 15);

			if (b1 != 0u)
				v += hval(r1, tap) * b1;
			p = min(v >> 16, 255u);
		}
		acc += p;
		o = out0 + 1u + x;
		ig[o] = acc;
		if (haar) {
			acc2 += p * p;
			ig[sq + o] = acc2;
		}
	}
}
