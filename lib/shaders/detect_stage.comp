// SPDX-License-Identifier: MIT
/*
 * Detector passes 4..: one stage over the candidates that passed the ones
 * before; stage sums in double, as OpenCV's (the device has shaderFloat64).
 * The code is in detect_cascade.glsl.
 */
#version 450
#extension GL_GOOGLE_include_directive : require

#define DETECT_WALK 0
#define SUM_DOUBLE 1

#include "detect_cascade.glsl"
