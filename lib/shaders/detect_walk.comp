// SPDX-License-Identifier: MIT
/*
 * Detector pass 3: each window row in OpenCV's order, stage 0 and the
 * skip rule; stage sums in double, as OpenCV's (the device has
 * shaderFloat64).  The code is in detect_cascade.glsl.
 */
#version 450
#extension GL_GOOGLE_include_directive : require

#define DETECT_WALK 1
#define SUM_DOUBLE 1

#include "detect_cascade.glsl"
