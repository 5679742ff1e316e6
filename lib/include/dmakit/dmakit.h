/* SPDX-License-Identifier: MIT */
/* dmakit: zero-copy buffers for vision pipelines.  Umbrella header. */
#ifndef DMAKIT_DMAKIT_H
#define DMAKIT_DMAKIT_H

#include <dmakit/common.h>
#include <dmakit/buf.h>
#include <dmakit/heap.h>
#include <dmakit/frame.h>
#include <dmakit/drm.h>
#include <dmakit/pool.h>
#include <dmakit/chan.h>
#include <dmakit/stream.h>
#include <dmakit/stats.h>
#include <dmakit/vk.h>
#include <dmakit/detect.h>

#endif /* DMAKIT_DMAKIT_H */
