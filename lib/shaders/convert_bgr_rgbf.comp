// SPDX-License-Identifier: MIT
/*
 * DRM_FORMAT_BGR888 -> planar float RGB, bilinear resize
 * (lib/vk_convert.c).
 *
 * DRM_FORMAT_BGR888 is "[23:0] B:G:R little endian": B in bits 23..16, R in
 * bits 7..0 of each 24-bit pixel, so its bytes in memory are R, G, B (what
 * OpenCV calls RGB; ffmpeg's rgb24).
 *
 * Binding 0: the source frame as bytes packed little-endian into uints,
 * read with shifts (no 8-bit storage extension needed).  Binding 1:
 * out_w * out_h floats of R, then G, then B.  One invocation per output
 * pixel.  Resampling: OpenCV's INTER_LINEAR pixel centres,
 *	s = (d + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1],
 *	i0 = floor(s), i1 = min(i0 + 1, n_in - 1), f = s - i0,
 * per axis and per channel, then out = (v / 255 - mean[c]) * scale[c].
 */
#version 450

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { float dst[]; };

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
	uint stride;	/* unused here (GRAY8 stages) */
	uint nwords;	/* unused here (GRAY8 stages) */
	float mean_r, mean_g, mean_b;
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

void main()
{
	uint dx = gl_GlobalInvocationID.x, dy = gl_GlobalInvocationID.y;
	uint x0, x1, y0, y1, r0, r1;
	float fx, fy;
	vec3 c;

	if (dx >= pc.out_w || dy >= pc.out_h)
		return;

	axis(dx, pc.in_w, pc.out_w, x0, x1, fx);
	axis(dy, pc.in_h, pc.out_h, y0, y1, fy);
	r0 = pc.off0 + y0 * pc.pitch0;
	r1 = pc.off0 + y1 * pc.pitch0;
	c = sample3(r0, r1, 3u * x0, 3u * x1, fx, fy);

	uint i = dy * pc.out_w + dx, plane = pc.out_w * pc.out_h;

	dst[i] = (c.r / 255.0 - pc.mean_r) * pc.scale_r;
	dst[plane + i] = (c.g / 255.0 - pc.mean_g) * pc.scale_g;
	dst[2u * plane + i] = (c.b / 255.0 - pc.mean_b) * pc.scale_b;
}
