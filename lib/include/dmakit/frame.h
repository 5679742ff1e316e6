/* SPDX-License-Identifier: MIT */
/*
 * dmakit frame layouts from DRM fourcc codes (libdrm's drm_fourcc.h).
 *
 * struct dmk_frame_layout is a plain value, exposed on purpose: it is
 * copied into every frame descriptor and read on the frame path, and it
 * carries reserved space so fields can be added without breaking ABI.
 */
#ifndef DMAKIT_FRAME_H
#define DMAKIT_FRAME_H

#include <stdint.h>

#include <dmakit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DMK_MAX_PLANES 4

struct dmk_frame_layout {
	uint32_t fourcc;		/* DRM_FORMAT_* */
	uint32_t width;			/* pixels */
	uint32_t height;		/* pixels */
	uint32_t nplanes;
	uint32_t pitch[DMK_MAX_PLANES];	/* bytes per row of each plane */
	uint32_t plane_width[DMK_MAX_PLANES];	/* samples per row */
	uint32_t plane_height[DMK_MAX_PLANES];	/* rows */
	uint32_t reserved0;
	uint64_t offset[DMK_MAX_PLANES];	/* from the buffer start */
	uint64_t plane_size[DMK_MAX_PLANES];	/* pitch * rows */
	uint64_t size;			/* bytes the whole frame needs */
	uint64_t reserved[6];
};

struct dmk_frame_opts {
	size_t sz;
	/* Row pitch alignment in bytes, a power of two; 0: 64. */
	uint32_t pitch_align;
	/* Plane offset alignment in bytes, a power of two; 0: 64. */
	uint32_t plane_align;
	/* Total size alignment in bytes, a power of two; 0: plane_align. */
	uint32_t size_align;
};
#define dmk_frame_opts__last_field size_align

/**
 * dmk_frame_layout_init() - compute the planes of a frame.
 * @out:    filled on success only.
 * @fourcc: one of the formats dmk_frame_format_supported() accepts: NV12,
 *          NV21, NV16, YUV420, YVU420, R8 (GRAY8), RGB888, BGR888,
 *          XRGB8888, ARGB8888, XBGR8888, ABGR8888, RGB565.
 * @width, @height: in pixels, non-zero.  Subsampled planes round up, so
 *          odd sizes are allowed.
 *
 * Return: 0, -EINVAL (zero size, alignment not a power of two, bad opts),
 * -ENOTSUP (a fourcc this library does not lay out), -EOVERFLOW (a pitch,
 * plane or total size that does not fit).
 */
DMK_API int dmk_frame_layout_init(struct dmk_frame_layout *out,
				  uint32_t fourcc, uint32_t width,
				  uint32_t height,
				  const struct dmk_frame_opts *opts);

/** dmk_frame_format_supported() - 1 if @fourcc is laid out here, else 0. */
DMK_API int dmk_frame_format_supported(uint32_t fourcc);

/**
 * dmk_fourcc_to_str() - "NV12" and the like, or "0x%08x" for unprintable
 * codes, written to @buf (at least 11 bytes).  Returns @buf.
 */
DMK_API char *dmk_fourcc_to_str(uint32_t fourcc, char buf[11]);

/**
 * dmk_fourcc_from_str() - parse a format name: a fourcc ("NV12", "R8  "),
 * or an alias ("GRAY8", "YUV420", "I420", "RGB24", "BGR24").
 *
 * Return: 0 and *fourcc, or -ENOTSUP for an unknown name, -EINVAL for NULL.
 */
DMK_API int dmk_fourcc_from_str(const char *name, uint32_t *fourcc);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_FRAME_H */
