/* SPDX-License-Identifier: MIT */
/*
 * dmakit face detection: OpenCV cascade classifiers (the LBP and Haar
 * models Debian ships in opencv-data), run the way OpenCV's
 * CascadeClassifier::detectMultiScale() runs them, on the CPU
 * (dmk_detect_cpu(), the reference) or in Vulkan compute
 * (struct dmk_detector: pyramid, integral images, every window at every
 * scale on the GPU; grouping on the CPU).
 */
#ifndef DMAKIT_DETECT_H
#define DMAKIT_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/common.h>
#include <dmakit/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_cascade;	/* a loaded model, immutable, shareable */
struct dmk_detector;	/* a cascade on a Vulkan context, sized for frames */
struct dmk_vk;
struct dmk_vk_mem;

enum dmk_cascade_kind {
	DMK_CASCADE_HAAR = 1,
	DMK_CASCADE_LBP = 2,
};

/**
 * dmk_cascade_load() - parse an OpenCV cascade XML file (the new format
 * written by opencv_traincascade: <cascade> with <stageType>BOOST).
 *
 * Every count, index and rectangle is checked against the file's own
 * declarations and against limits (window, stages, features) before use.
 *
 * Return: 0; -ENOENT and other open errors, -EISDIR for a directory;
 * -EINVAL for a malformed file (the log callback says where), an empty
 * one, one that is not a regular file, or an XML document with a DTD;
 * -E2BIG for counts past the limits or a file over 64 MiB; -ENOTSUP for a
 * valid file of a kind this library does not run (old format, tilted
 * Haar features, HOG); -ENOMEM.
 */
DMK_API int dmk_cascade_load(const char *path, struct dmk_cascade **out);

DMK_API void dmk_cascade_free(struct dmk_cascade *cascade);

DMK_API enum dmk_cascade_kind dmk_cascade_kind(const struct dmk_cascade *c);

/* The detection window the model was trained on, in pixels. */
DMK_API void dmk_cascade_window(const struct dmk_cascade *c, uint32_t *w,
				uint32_t *h);

/* detectMultiScale()'s parameters. */
struct dmk_detect_params {
	size_t sz;
	double scale_factor;	/* > 1; 0: 1.1 */
	int min_neighbors;	/* < 0: 3 (0 means no grouping threshold) */
	uint32_t min_w, min_h;	/* smallest face; 0: no limit */
	uint32_t max_w, max_h;	/* largest face; 0: the image size */
};
#define dmk_detect_params__last_field max_h

struct dmk_rect {
	int32_t x, y, w, h;
};

/**
 * dmk_detect_cpu() - detectMultiScale() on an 8-bit gray image.
 * @gray, @width, @height, @stride: the image (stride >= width; width and
 *          height 1..16384).  One smaller than the window has no faces.
 * @params: NULL for OpenCV's defaults (1.1, 3, no size limits).
 * @rects:  room for @max boxes; *@n is how many were found, which may
 *          exceed @max (then only the first @max were written).
 *
 * The boxes are OpenCV 4.6's, the same windows and the same groups
 * (checked against cv2 in tests/test_detect.c), in an order of their own.
 *
 * Return: 0; -EINVAL (bad params or image, or a scale factor so close to
 * 1 that there would be over 4096 scales); -ENOMEM.
 */
DMK_API int dmk_detect_cpu(const struct dmk_cascade *c, const uint8_t *gray,
			   uint32_t width, uint32_t height, size_t stride,
			   const struct dmk_detect_params *params,
			   struct dmk_rect *rects, size_t max, size_t *n);

/**
 * dmk_group_rects() - OpenCV's groupRectangles(): cluster boxes whose
 * sides and corners differ by less than @eps times their mean size, drop
 * clusters of @min_neighbors or fewer boxes, and boxes inside a stronger
 * one.  In place; *@n is the count in and out.
 *
 * Return: 0; -EINVAL (negative @min_neighbors or @eps, NULL pointers);
 * -ENOMEM.
 */
DMK_API int dmk_group_rects(struct dmk_rect *rects, size_t *n,
			     int min_neighbors, double eps);

/* ---- on a Vulkan device ---- */

struct dmk_vk_chain;

/**
 * dmk_detector_new() - the cascade on a Vulkan context, for @width x
 * @height gray images, with @params (NULL: OpenCV's defaults), fixed for
 * the detector's life.  Everything a frame needs is allocated here: the
 * cascade uploaded once, integral images for every pyramid level, the
 * candidate and hit lists, the CPU-side sort and grouping scratch.
 * @c is not kept: it may be freed after this returns.  Stage sums are
 * double where the device has shaderFloat64, as on the CPU; elsewhere
 * float (logged: a window within float rounding of a stage threshold may
 * then go the other way).
 *
 * An image smaller than the window has no windows: a valid detector that
 * finds nothing.
 *
 * Return: 0; -EINVAL (NULL arguments, bad params, a side outside
 * 1..16384, a scale factor that makes over 4096 scales); -E2BIG (buffers
 * past the device's maxStorageBufferRange); -ENOTSUP, -EIO (the device);
 * -ENOMEM.
 */
DMK_API int dmk_detector_new(struct dmk_vk *vk, const struct dmk_cascade *c,
			     uint32_t width, uint32_t height,
			     const struct dmk_detect_params *params,
			     struct dmk_detector **out);

/* Free the detector, its buffers and cached chains; before dmk_vk_free()
 * and after every chain it was recorded into.  NULL is a no-op. */
DMK_API void dmk_detector_free(struct dmk_detector *det);

/**
 * dmk_detector_record() - append the detector's dispatches (four; one
 * when no window fits) to @chain, e.g. after the dmk_vk_chain_convert()
 * that made the gray image.  Every replay of the chain starts from zeroed
 * counters; then dmk_detector_collect() reads its result.  Chains of one
 * detector share its buffers: one runs at a time, and collect reads the
 * last one that completed.
 * @gray:   the image, @width x @height bytes at @offset (a multiple of 16)
 *          with @pitch (>= width) bytes a row; the chain holds a
 *          reference.  The last row's end, rounded up to 4 bytes, must be
 *          within the buffer.
 *
 * Return: 0; -EINVAL (NULL, a chain of another context or already ended,
 * pitch < width, an unaligned offset); -ERANGE (@gray too small for the
 * image); -ESTALE (@gray's buffer was freed); -ENOMEM.  On failure the
 * chain may hold part of the dispatches: free it.
 */
DMK_API int dmk_detector_record(struct dmk_detector *det,
				struct dmk_vk_chain *chain,
				struct dmk_vk_mem *gray, uint64_t offset,
				uint32_t pitch);

/**
 * dmk_detector_collect() - after a chain with the detector's dispatches
 * completed (dmk_vk_chain_wait()): its boxes, as dmk_detect_cpu() gives
 * them (grouped with the params' min_neighbors and eps 0.2, clipped; with
 * min_neighbors 0 every hit), in OpenCV's order.  *@n is how many, which
 * may exceed @max (then only the first @max were written).  Allocates
 * nothing.
 *
 * Return: 0; -EINVAL; -EOVERFLOW when the frame had more candidates or
 * hits than the detector has room for (2^24 and 2^18, or the number of
 * windows); -EIO when the device reported a hit that is not a window.
 */
DMK_API int dmk_detector_collect(struct dmk_detector *det,
				 struct dmk_rect *rects, size_t max,
				 size_t *n);

/**
 * dmk_detector_run() - record (once per @gray, @offset and @pitch: the
 * detector keeps the last sixteen chains), run, wait and collect.  After
 * the first call for an image buffer it allocates nothing.
 *
 * Return: as dmk_detector_record(), dmk_vk_chain_run() and
 * dmk_detector_collect().
 */
DMK_API int dmk_detector_run(struct dmk_detector *det,
			     struct dmk_vk_mem *gray, uint64_t offset,
			     uint32_t pitch, struct dmk_rect *rects,
			     size_t max, size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_DETECT_H */
