// SPDX-License-Identifier: MIT
// c[i] = a[i] + b[i] + k for i < n: the vk suite's zero-copy check.
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(set = 0, binding = 1) readonly buffer B { uint b[]; };
layout(set = 0, binding = 2) writeonly buffer C { uint c[]; };
layout(push_constant) uniform P { uint n; uint k; } p;
void main()
{
	uint i = gl_GlobalInvocationID.x;
	if (i < p.n)
		c[i] = a[i] + b[i] + p.k;
}
