// SPDX-License-Identifier: MIT
// A storage buffer in descriptor set 1: stage_new wants set 0 only.
#version 450
layout(local_size_x = 1) in;
layout(set = 1, binding = 0) buffer O { uint o[]; };
void main()
{
	o[0] = 7u;
}
