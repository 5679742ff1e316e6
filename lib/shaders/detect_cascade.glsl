// SPDX-License-Identifier: MIT
/*
 * The cascade passes (detect_walk*.comp and detect_stage*.comp define
 * DETECT_WALK 1 or 0 and SUM_DOUBLE, then include this).
 *
 * Walk: one invocation per window row of every level (numbered one level
 * after the other, L_WROW) walks the row in order the way OpenCV does: a
 * window whose stage 0 fails makes it skip the next one; a Haar window
 * too flat to normalise is rejected without skipping.  Every window that
 * OpenCV evaluates and that passes stage 0 goes into candidate list 0.
 * So stage 0 runs on exactly OpenCV's windows, and only they go on.
 *
 * Stage pass (one dispatch a stage from 1 on): every candidate of the
 * list the previous pass filled is tested against stage pc.stage; those
 * that pass go into the other list, or, after the last stage, into the
 * hit list as their integral offset (which lib/detect_vk.c turns back
 * into a level and a position: offsets grow with level, row and column,
 * so sorting them gives OpenCV's order).  A pass runs one stage on every
 * lane, so the lanes of a subgroup never wait for each other's windows;
 * a loop over a candidate's stages would wait for its slowest lane at
 * every step.  The counts are found by the device, not known when the
 * chain is recorded: a fixed grid of pc.nthreads invocations strides
 * over the list.
 *
 * A candidate is (integral offset of its top-left corner, row stride,
 * Haar's variance factor as float bits, 0).
 *
 * Bindings: 0 the static buffer, 1 the integral images, 2 the list read
 * (stage passes only), then the list written, then the hit buffer: word s
 * counts the windows that passed stage s (they may pass the caps, which
 * lib/detect_vk.c reports as an overflow), the hits from word
 * pc.hits_first.
 */
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_vote : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

#define B_STATIC 0
#define B_INTEG 1

#if DETECT_WALK
#define B_OUT 2
#define B_HITS 3
#else
#define B_IN 2
#define B_OUT 3
#define B_HITS 4

layout(std430, set = 0, binding = B_IN) readonly buffer In {
	uvec4 cand_in[];
};
#endif

layout(std430, set = 0, binding = B_OUT) writeonly buffer Out {
	uvec4 cand_out[];
};

layout(std430, set = 0, binding = B_HITS) buffer Hits {
	uint hits[];
};

#include "detect_common.glsl"

/*
 * Window @base passed stage @s (@pass): on to the next list, or a hit
 * after the last stage.  Called by every invocation of the subgroup in
 * step: one atomic for the subgroup's survivors, not one each (an atomic
 * on a shared counter is expensive, most of all on a CPU device, where
 * its line moves between cores).
 */
void survive(bool pass, uint s, uint base, uint stride, float vnf)
{
	uvec4 ballot = subgroupBallot(pass);
	uint n = subgroupBallotBitCount(ballot), first = 0u, i;

	if (n == 0u)
		return;
	if (subgroupElect())
		first = atomicAdd(hits[s], n);
	first = subgroupBroadcastFirst(first);
	if (!pass)
		return;
	i = first + subgroupBallotExclusiveBitCount(ballot);
	if (s + 1u == pc.nstages) {
		if (i < pc.hit_cap)
			hits[pc.hits_first + i] = base;
	} else if (i < pc.cand_cap) {
		cand_out[i] = uvec4(base, stride, floatBitsToUint(vnf), 0u);
	}
}

#if DETECT_WALK

void main()
{
	uint id = flat_id(), lb, step, cols, stride, base, c;
	bool haar = (pc.flags & F_HAAR) != 0u;
	uvec4 l0, l1, l2;
	float vnf;

	if (id >= pc.total)
		return;
	lb = pc.lev_off / 4u + 4u * find_level(id, L_WROW);
	l0 = st4[lb];
	l1 = st4[lb + 1u];
	l2 = st4[lb + 2u];
	stride = l0[L_STRIDE];
	cols = l1[L_COLS - 4u];
	step = l2[L_STEP - 8u];
	base = l0[L_INT] + (id - l1[L_WROW - 4u]) * step * stride;
	/* Every invocation of the subgroup goes round until the longest
	 * row ends, so that survive() runs in step. */
	for (c = 0u; subgroupAny(c < cols);) {
		bool pass = false, skip = false;

		vnf = 1.0;
		if (c < cols && (!haar || haar_norm(base + c * step, stride,
						    vnf))) {
			pass = stage_pass(0u, base + c * step, stride, vnf);
			skip = !pass;
		}
		survive(pass, 0u, base + c * step, stride, vnf);
		c += skip ? 2u : 1u;
	}
}

#else

void main()
{
	uint s = pc.stage, n = min(hits[s - 1u], pc.cand_cap), i;
	uvec4 w;

	for (i = flat_id(); subgroupAny(i < n); i += pc.nthreads) {
		bool pass = false;

		w = uvec4(0u);
		if (i < n) {
			w = cand_in[i];
			pass = stage_pass(s, w.x, w.y, uintBitsToFloat(w.z));
		}
		survive(pass, s, w.x, w.y, uintBitsToFloat(w.z));
	}
}

#endif
