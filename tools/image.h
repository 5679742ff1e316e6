/* SPDX-License-Identifier: MIT */
/*
 * Still images for the tools: PNG (libpng), JPEG (libjpeg-turbo) and
 * binary PPM/PGM in; PNG out; boxes drawn on a copy.
 */
#ifndef DMAKIT_TOOLS_IMAGE_H
#define DMAKIT_TOOLS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 8-bit interleaved pixels, rows packed (stride = width * channels). */
struct image {
	uint32_t width, height;
	uint32_t channels;		/* 1 (gray) or 3 (R, G, B) */
	uint8_t *data;
};

/* Largest image accepted, per side: bigger headers are refused (-E2BIG). */
#define IMAGE_MAX_SIDE 16384u

/*
 * Load a PNG, JPEG or PPM/PGM (P5/P6, maxval 255) file, told apart by its
 * first bytes, not its name.  Gray stays 1 channel, everything else becomes
 * 3-channel RGB (alpha dropped, 16-bit reduced to 8, palettes expanded).
 * Return: 0; -ENOENT and other open errors, -EISDIR for a directory;
 * -EINVAL for an empty, malformed or truncated file; -ENOTSUP for an
 * unknown format or a variant not handled (plain-text PNM, maxval other
 * than 255, CMYK JPEG); -E2BIG for a side over IMAGE_MAX_SIDE; -ENOMEM.
 * On failure @err (if not NULL) gets one line saying why.
 */
int image_load(const char *path, struct image *out, char *err, size_t errlen);

/* Free the pixels (the struct itself is the caller's). */
void image_free(struct image *img);

/*
 * Zeroed pixels for a @width x @height image of @channels (1 or 3).
 * Return: 0; -EINVAL (bad channels, zero or over IMAGE_MAX_SIDE); -ENOMEM.
 */
int image_alloc(struct image *img, uint32_t width, uint32_t height,
		uint32_t channels);

/* Write a PNG.  Return: 0 or -errno. */
int image_save_png(const char *path, const struct image *img);

/*
 * Luma the way OpenCV 4's cvtColor(COLOR_RGB2GRAY) computes it for 8 bits:
 * (R * 9798 + G * 19235 + B * 3735 + 16384) >> 15 (identical to OpenCV
 * 4.6 on every colour; the 14-bit weights 4899/9617/1868 OpenCV documents
 * differ by 1 on some).  @gray has width * height bytes.  A 1-channel
 * image is copied.
 */
void image_to_gray(const struct image *img, uint8_t *gray);

/*
 * An RGB (or gray: R = G = B) image to NV12 / to I420: BT.601 limited
 * range, chroma from the mean of each 2x2 block (centred siting, as Y4M's
 * 420jpeg says), into planes of the given pitches.  Odd sizes round the
 * chroma planes up.
 */
void image_rgb_to_nv12(const struct image *img, uint8_t *y, size_t ypitch,
		       uint8_t *uv, size_t uvpitch);
void image_rgb_to_i420(const struct image *img, uint8_t *y, size_t ypitch,
		       uint8_t *u, size_t upitch, uint8_t *v, size_t vpitch);

/*
 * Draw a @thick-pixel rectangle outline of colour @rgb (its luma on a gray
 * image), inside the rectangle (x, y, w, h), clipped to the image.
 */
void image_draw_rect(struct image *img, int x, int y, int w, int h,
		     int thick, const uint8_t rgb[3]);

#endif /* DMAKIT_TOOLS_IMAGE_H */
