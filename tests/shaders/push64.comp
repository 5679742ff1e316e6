// SPDX-License-Identifier: MIT
// 64 bytes of push constants (vec4 array + scalars + uvec2): the checker
// sizes them from Offset and ArrayStride; o[i] sums what was pushed.
#version 450
layout(local_size_x = 4, local_size_y = 2, local_size_z = 3) in;
layout(set = 0, binding = 0) buffer O { float o[]; };
layout(push_constant) uniform P {
	vec4 v[3];
	float s;
	uint pad;
	uvec2 tail;
} p;
void main()
{
	uint i = gl_LocalInvocationIndex;
	o[i] = p.v[0].x + p.v[1].y + p.v[2].w + p.s + float(p.tail.y);
}
