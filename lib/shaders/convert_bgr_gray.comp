// SPDX-License-Identifier: MIT
/*
 * DRM_FORMAT_BGR888 -> GRAY8, bilinear resize (lib/vk_convert.c).
 *
 * DRM_FORMAT_BGR888 is "[23:0] B:G:R little endian": its bytes in memory
 * are R, G, B.  Gray is OpenCV's luma, 0.299 R + 0.587 G + 0.114 B, of the
 * bilinear-interpolated R, G and B (both steps are linear, so this is also
 * the interpolated gray), rounded to nearest (floor(v + 0.5)) once, at the
 * end.
 *
 * Binding 0: the source frame as bytes packed little-endian into uints,
 * read with shifts (no 8-bit storage extension needed).  Binding 1: the
 * output, out_w * out_h bytes packed with no row padding, as uints.
 *
 * Each invocation owns one output word: packed pixels 4i .. 4i + 3, which
 * may straddle two rows, so no two invocations ever write the same word.
 * The last word may hold bytes past the output: its invocation reads the
 * word and keeps those bytes (vk_convert.c binds that word for reading
 * and writing).  Invocations are numbered
 * gl_GlobalInvocationID.y * stride + gl_GlobalInvocationID.x.
 *
 * Resampling: OpenCV's INTER_LINEAR pixel centres,
 *	s = (d + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1],
 *	i0 = floor(s), i1 = min(i0 + 1, n_in - 1), f = s - i0,
 * per axis.
 */
#version 450

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) buffer Dst { uint dst[]; };

/* struct convert_push in vk_convert.c: keep the two in step. */
layout(push_constant) uniform Push {
	uint off0;	/* the packed plane, bytes from the binding's start */
	uint off1;	/* unused here */
	uint pitch0;
	uint pitch1;	/* unused here */
	uint in_w;
	uint in_h;
	uint c_w;	/* unused here */
	uint c_h;	/* unused here */
	uint out_w;
	uint out_h;
	uint stride;	/* invocations per row of the dispatch */
	uint nwords;	/* output words: ceil(out_w * out_h / 4) */
	float mean_r, mean_g, mean_b;	/* unused here */
	float scale_r, scale_g, scale_b;
} pc;

uint byte_at(uint a)
{
	return (src[a >> 2] >> ((a & 3u) * 8u)) & 0xffu;
}

/*
 * n / d and its remainder, exactly, for q = n / d < 2^22: a float estimate
 * (24-bit mantissa: off by at most one) corrected in integers.  CPU drivers
 * (llvmpipe) run integer division one lane at a time; this halves the
 * stage's time there.
 */
uint udiv(uint n, uint d, out uint rem)
{
	uint q = uint(float(n) / float(d));
	int r = int(n - q * d);

	if (r < 0) {
		q--;
		r += int(d);
	} else if (r >= int(d)) {
		q++;
		r -= int(d);
	}
	rem = uint(r);
	return q;
}

/* As in convert_nv12_rgbf.comp: s in integers, only f rounded. */
void axis(uint d, uint n_in, uint n_out, out uint i0, out uint i1,
	  out float f)
{
	uint num = (2u * d + 1u) * n_in;
	uint den = 2u * n_out;

	i0 = 0u;
	f = 0.0;
	if (num > n_out) {
		uint n = num - n_out, rem;

		i0 = udiv(n, den, rem);
		f = float(rem) / float(den);
		if (i0 >= n_in - 1u) {
			i0 = n_in - 1u;
			f = 0.0;
		}
	}
	i1 = min(i0 + 1u, n_in - 1u);
}

/* Bytes R, G, B of the pixel at byte address @a. */
vec3 rgb_at(uint a)
{
	return vec3(float(byte_at(a)), float(byte_at(a + 1u)),
		    float(byte_at(a + 2u)));
}

/*
 * Bilinear sample of the R, G, B bytes at column offset c0 / c1 of rows
 * r0 / r1 (byte addresses).  A tap whose weight is exactly 0 is not
 * loaded: mix() with 0 gives the first value exactly, so the result is the
 * same, and a CPU driver skips a branch no lane takes (integer scale
 * factors, no resize).
 */
vec3 sample3(uint r0, uint r1, uint c0, uint c1, float fx, float fy)
{
	vec3 top = rgb_at(r0 + c0), bot;

	if (fx != 0.0)
		top = mix(top, rgb_at(r0 + c1), fx);
	if (fy == 0.0)
		return top;
	bot = rgb_at(r1 + c0);
	if (fx != 0.0)
		bot = mix(bot, rgb_at(r1 + c1), fx);
	return mix(top, bot, fy);
}

/* Output pixel @dx of the row whose taps are y0, y1, fy. */
uint gray_at(uint dx, uint y0, uint y1, float fy)
{
	uint x0, x1, r0, r1;
	float fx, v;
	vec3 c;

	axis(dx, pc.in_w, pc.out_w, x0, x1, fx);
	r0 = pc.off0 + y0 * pc.pitch0;
	r1 = pc.off0 + y1 * pc.pitch0;
	c = sample3(r0, r1, 3u * x0, 3u * x1, fx, fy);
	v = dot(c, vec3(0.299, 0.587, 0.114));
	return uint(clamp(floor(v + 0.5), 0.0, 255.0));
}

void main()
{
	uint w = gl_GlobalInvocationID.y * pc.stride + gl_GlobalInvocationID.x;
	uint n = pc.out_w * pc.out_h, p = 4u * w, word = 0u, k, dx, dy;
	uint y0, y1;
	float fy;

	if (w >= pc.nwords)
		return;
	if (p + 4u > n)
		word = dst[w];	/* keep the bytes past the output */
	/* The word's first pixel; the others follow it, maybe on the next
	 * row, whose taps are then computed again. */
	dy = udiv(p, pc.out_w, dx);
	axis(dy, pc.in_h, pc.out_h, y0, y1, fy);
	for (k = 0u; k < 4u && p + k < n; k++) {
		if (dx == pc.out_w) {
			dx = 0u;
			dy++;
			axis(dy, pc.in_h, pc.out_h, y0, y1, fy);
		}
		word &= ~(0xffu << (8u * k));
		word |= gray_at(dx, y0, y1, fy) << (8u * k);
		dx++;
	}
	dst[w] = word;
}
