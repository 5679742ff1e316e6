// SPDX-License-Identifier: MIT
/*
 * NV12 -> planar float RGB, bilinear resize (lib/vk_convert.c).
 *
 * Binding 0: the source frame as bytes packed little-endian into uints,
 * read with shifts so no 8/16-bit storage extension is needed.  Binding 1:
 * out_w * out_h floats of R, then of G, then of B.  One invocation per
 * output pixel.
 *
 * Resampling (the convention vk_convert.c and tests/test_vkconvert.c
 * state): OpenCV's INTER_LINEAR pixel centres,
 *	s = (d + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1],
 *	i0 = floor(s), i1 = min(i0 + 1, n_in - 1), f = s - i0,
 * per axis.  Y is sampled on the luma grid (in_w x in_h); U and V on the
 * chroma plane's own grid (c_w x c_h = ceil(in / 2)) with the same formula
 * and n_in = c_w / c_h.  Y, U and V are interpolated first, then converted
 * (BT.601 limited range), clamped to [0, 255] and normalised:
 *	out = (v / 255 - mean[c]) * scale[c].
 */
#version 450

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { float dst[]; };

/* struct convert_push in vk_convert.c: keep the two in step. */
layout(push_constant) uniform Push {
	uint off0;	/* plane 0 (Y), bytes from the binding's start */
	uint off1;	/* plane 1 (UV) */
	uint pitch0;
	uint pitch1;
	uint in_w;	/* luma size */
	uint in_h;
	uint c_w;	/* chroma plane size, in UV pairs and rows */
	uint c_h;
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

/*
 * The source taps and weight of output index @d on one axis.  s is
 * ((2d + 1) n_in - n_out) / (2 n_out): computed in integers, so only the
 * final fraction is rounded (to float).  vk_convert.c keeps n_in <= 65536
 * and n_out <= 16384, so (2d + 1) n_in fits in 32 bits.
 */
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

/*
 * Bilinear sample of the byte at column offset c0 / c1 of rows r0 / r1
 * (byte addresses).  A tap whose weight is exactly 0 is not loaded: mix()
 * with 0 gives the first value exactly, so the result is the same, and a
 * CPU driver skips a branch no lane takes (integer scale factors, no
 * resize).
 */
float sample1(uint r0, uint r1, uint c0, uint c1, float fx, float fy)
{
	float top = float(byte_at(r0 + c0)), bot;

	if (fx != 0.0)
		top = mix(top, float(byte_at(r0 + c1)), fx);
	if (fy == 0.0)
		return top;
	bot = float(byte_at(r1 + c0));
	if (fx != 0.0)
		bot = mix(bot, float(byte_at(r1 + c1)), fx);
	return mix(top, bot, fy);
}

void main()
{
	uint dx = gl_GlobalInvocationID.x, dy = gl_GlobalInvocationID.y;
	uint x0, x1, y0, y1, r0, r1;
	float fx, fy, y, u, v, r, g, b;

	if (dx >= pc.out_w || dy >= pc.out_h)
		return;

	axis(dx, pc.in_w, pc.out_w, x0, x1, fx);
	axis(dy, pc.in_h, pc.out_h, y0, y1, fy);
	r0 = pc.off0 + y0 * pc.pitch0;
	r1 = pc.off0 + y1 * pc.pitch0;
	y = sample1(r0, r1, x0, x1, fx, fy);

	axis(dx, pc.c_w, pc.out_w, x0, x1, fx);
	axis(dy, pc.c_h, pc.out_h, y0, y1, fy);
	r0 = pc.off1 + y0 * pc.pitch1;
	r1 = pc.off1 + y1 * pc.pitch1;
	u = sample1(r0, r1, 2u * x0, 2u * x1, fx, fy);
	v = sample1(r0 + 1u, r1 + 1u, 2u * x0, 2u * x1, fx, fy);

	/* BT.601 limited range. */
	y = 1.164 * (y - 16.0);
	u -= 128.0;
	v -= 128.0;
	r = clamp(y + 1.596 * v, 0.0, 255.0);
	g = clamp(y - 0.392 * u - 0.813 * v, 0.0, 255.0);
	b = clamp(y + 2.017 * u, 0.0, 255.0);

	uint i = dy * pc.out_w + dx, plane = pc.out_w * pc.out_h;

	dst[i] = (r / 255.0 - pc.mean_r) * pc.scale_r;
	dst[plane + i] = (g / 255.0 - pc.mean_g) * pc.scale_g;
	dst[2u * plane + i] = (b / 255.0 - pc.mean_b) * pc.scale_b;
}
