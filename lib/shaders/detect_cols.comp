// SPDX-License-Identifier: MIT
/*
 * Detector stage 2 of 4: the column sums that turn detect_rows.comp's row
 * prefixes into integral images, in place (uint32, wrapping: see
 * detect_common.glsl).  One invocation per integral column of every level
 * (a level w pixels wide has w + 1), numbered one level after the other
 * (L_COL); neighbouring invocations walk neighbouring columns, so each
 * step down reads and writes one contiguous run.
 *
 * Binding 0: the static buffer.  1: the integral images.
 */
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

#define B_STATIC 0
#define B_INTEG 1
#define SUM_DOUBLE 0

#include "detect_common.glsl"

void main()
{
	uint id = flat_id(), lb, h, stride, c, a, r, acc, acc2;
	bool haar = (pc.flags & F_HAAR) != 0u;

	if (id >= pc.total)
		return;
	lb = pc.lev_off + 16u * find_level(id, L_COL);
	h = stw(lb + L_H);
	stride = stw(lb + L_STRIDE);
	c = id - stw(lb + L_COL);
	a = stw(lb + L_INT) + c;
	acc = 0u;
	acc2 = 0u;
	for (r = 1u; r <= h; r++) {
		a += stride;
		acc += ig[a];
		ig[a] = acc;
		if (haar) {
			acc2 += ig[pc.sq_base + a];
			ig[pc.sq_base + a] = acc2;
		}
	}
}
