// SPDX-License-Identifier: MIT
/* Frame layouts from DRM fourcc codes, every size overflow-checked. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <drm_fourcc.h>

#include "internal.h"

struct fmt_info {
	uint32_t fourcc;
	uint8_t nplanes;
	uint8_t cpp[DMK_MAX_PLANES];	/* bytes per sample of each plane */
	uint8_t hsub, vsub;		/* chroma subsampling of planes 1.. */
};

static const struct fmt_info formats[] = {
	{ DRM_FORMAT_NV12, 2, { 1, 2 }, 2, 2 },
	{ DRM_FORMAT_NV21, 2, { 1, 2 }, 2, 2 },
	{ DRM_FORMAT_NV16, 2, { 1, 2 }, 2, 1 },
	{ DRM_FORMAT_YUV420, 3, { 1, 1, 1 }, 2, 2 },
	{ DRM_FORMAT_YVU420, 3, { 1, 1, 1 }, 2, 2 },
	{ DRM_FORMAT_R8, 1, { 1 }, 1, 1 },
	{ DRM_FORMAT_RGB888, 1, { 3 }, 1, 1 },
	{ DRM_FORMAT_BGR888, 1, { 3 }, 1, 1 },
	{ DRM_FORMAT_RGB565, 1, { 2 }, 1, 1 },
	{ DRM_FORMAT_XRGB8888, 1, { 4 }, 1, 1 },
	{ DRM_FORMAT_ARGB8888, 1, { 4 }, 1, 1 },
	{ DRM_FORMAT_XBGR8888, 1, { 4 }, 1, 1 },
	{ DRM_FORMAT_ABGR8888, 1, { 4 }, 1, 1 },
};

static const struct {
	const char *name;
	uint32_t fourcc;
} aliases[] = {
	{ "GRAY8", DRM_FORMAT_R8 },
	{ "GREY", DRM_FORMAT_R8 },
	{ "Y8", DRM_FORMAT_R8 },
	{ "R8", DRM_FORMAT_R8 },
	{ "I420", DRM_FORMAT_YUV420 },
	{ "YUV420", DRM_FORMAT_YUV420 },
	{ "YV12", DRM_FORMAT_YVU420 },
	{ "YVU420", DRM_FORMAT_YVU420 },
	/*
	 * ffmpeg's and GStreamer's names say the byte order in memory: rgb24
	 * is R, G, B bytes, which DRM calls BGR888 ("[23:0] B:G:R little
	 * endian"), and bgr24 is DRM's RGB888.  The DRM names keep DRM's
	 * meaning.
	 */
	{ "RGB24", DRM_FORMAT_BGR888 },
	{ "RGB888", DRM_FORMAT_RGB888 },
	{ "BGR24", DRM_FORMAT_RGB888 },
	{ "BGR888", DRM_FORMAT_BGR888 },
	{ "XRGB8888", DRM_FORMAT_XRGB8888 },
	{ "ARGB8888", DRM_FORMAT_ARGB8888 },
	{ "XBGR8888", DRM_FORMAT_XBGR8888 },
	{ "ABGR8888", DRM_FORMAT_ABGR8888 },
	{ "RGB565", DRM_FORMAT_RGB565 },
};

static const struct fmt_info *fmt_find(uint32_t fourcc)
{
	size_t i;

	for (i = 0; i < DMK_ARRAY_SIZE(formats); i++)
		if (formats[i].fourcc == fourcc)
			return &formats[i];
	return NULL;
}

DMK_API int dmk_frame_format_supported(uint32_t fourcc)
{
	return fmt_find(fourcc) ? 1 : 0;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Round @v up to @align (a power of two); false on overflow. */
static bool align_up(uint64_t v, uint64_t align, uint64_t *out)
{
	if (__builtin_add_overflow(v, align - 1, out))
		return false;
	*out &= ~(align - 1);
	return true;
}

DMK_API int dmk_frame_layout_init(struct dmk_frame_layout *out,
				  uint32_t fourcc, uint32_t width,
				  uint32_t height,
				  const struct dmk_frame_opts *uopts)
{
	struct dmk_frame_layout l;
	struct dmk_frame_opts opts;
	const struct fmt_info *fi;
	uint64_t off = 0, v;
	unsigned int p;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_frame_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!out || !width || !height)
		return -EINVAL;
	if (!opts.pitch_align)
		opts.pitch_align = 64;
	if (!opts.plane_align)
		opts.plane_align = 64;
	if (!opts.size_align)
		opts.size_align = opts.plane_align;
	if (!is_pow2(opts.pitch_align) || !is_pow2(opts.plane_align) ||
	    !is_pow2(opts.size_align))
		return -EINVAL;
	fi = fmt_find(fourcc);
	if (!fi)
		return -ENOTSUP;

	memset(&l, 0, sizeof(l));
	l.fourcc = fourcc;
	l.width = width;
	l.height = height;
	l.nplanes = fi->nplanes;
	for (p = 0; p < fi->nplanes; p++) {
		uint32_t pw = width, ph = height;

		if (p > 0) {
			/* Subsampled planes cover odd sizes by rounding up. */
			pw = width / fi->hsub + (width % fi->hsub != 0);
			ph = height / fi->vsub + (height % fi->vsub != 0);
		}
		if (__builtin_mul_overflow((uint64_t)pw, fi->cpp[p], &v) ||
		    !align_up(v, opts.pitch_align, &v) || v > UINT32_MAX)
			return -EOVERFLOW;
		l.pitch[p] = (uint32_t)v;
		l.plane_width[p] = pw;
		l.plane_height[p] = ph;
		if (!align_up(off, opts.plane_align, &off))
			return -EOVERFLOW;
		l.offset[p] = off;
		if (__builtin_mul_overflow(v, (uint64_t)ph, &l.plane_size[p]) ||
		    __builtin_add_overflow(off, l.plane_size[p], &off))
			return -EOVERFLOW;
	}
	if (!align_up(off, opts.size_align, &l.size))
		return -EOVERFLOW;
	*out = l;
	return 0;
}

DMK_API char *dmk_fourcc_to_str(uint32_t fourcc, char buf[11])
{
	int i;

	for (i = 0; i < 4; i++) {
		char c = (char)((fourcc >> (8 * i)) & 0xff);

		if (c < 0x20 || c > 0x7e) {
			snprintf(buf, 11, "0x%08x", fourcc);
			return buf;
		}
		buf[i] = c;
	}
	/* Trailing blanks ("R8  ") are padding, not part of the name. */
	while (i > 1 && buf[i - 1] == ' ')
		i--;
	buf[i] = '\0';
	return buf;
}

DMK_API int dmk_fourcc_from_str(const char *name, uint32_t *fourcc)
{
	char pad[4] = { ' ', ' ', ' ', ' ' };
	size_t i, len;
	uint32_t code;

	if (!name || !fourcc)
		return -EINVAL;
	for (i = 0; i < DMK_ARRAY_SIZE(aliases); i++) {
		if (!strcasecmp(name, aliases[i].name)) {
			*fourcc = aliases[i].fourcc;
			return 0;
		}
	}
	len = strlen(name);
	if (len == 0 || len > 4)
		return -ENOTSUP;
	memcpy(pad, name, len);
	code = fourcc_code(pad[0], pad[1], pad[2], pad[3]);
	if (!fmt_find(code))
		return -ENOTSUP;
	*fourcc = code;
	return 0;
}
