// SPDX-License-Identifier: MIT
// dmakit bench vk-read: read every uvec4 of the input exactly once (a
// grid-stride loop, consecutive invocations on consecutive uvec4s) and
// write each invocation's XOR and sum of the words it read, so the reads
// cannot be dropped and the CPU can check that the real data was read:
// the XOR and the sum (mod 2^32) of all outputs are those of the input.
#version 450
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer In { uvec4 src[]; };
layout(set = 0, binding = 1) writeonly buffer Out { uvec2 dst[]; };
// n: uvec4s to read (0 reads nothing: the bench's copy-only chain).
layout(push_constant) uniform P { uint n; } p;
void main()
{
	uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
	uvec4 x = uvec4(0u), s = uvec4(0u);

	for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
		uvec4 v = src[i];

		x ^= v;
		s += v;
	}
	dst[gl_GlobalInvocationID.x] = uvec2(x.x ^ x.y ^ x.z ^ x.w,
					     s.x + s.y + s.z + s.w);
}
