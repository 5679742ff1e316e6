// SPDX-License-Identifier: MIT
// A uniform buffer (not a storage buffer): stage_new must refuse it.
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) uniform U { uint v; } u;
layout(set = 0, binding = 1) buffer O { uint o[]; };
void main()
{
	o[0] = u.v;
}
