// SPDX-License-Identifier: MIT
/*
 * Detector passes 4..: one stage over the candidates that passed the ones
 * before; stage sums in float, for devices without shaderFloat64 (a window
 * whose sum lands within float rounding of a stage threshold may go the
 * other way). The code is in detect_cascade.glsl.
 */
#version 450
#extension GL_GOOGLE_include_directive : require

#define DETECT_WALK 0
#define SUM_DOUBLE 0

#include "detect_cascade.glsl"
