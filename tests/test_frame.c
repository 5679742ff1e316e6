// SPDX-License-Identifier: MIT
/* frame: plane layouts from DRM fourcc codes, overflow-checked. */
#include <errno.h>
#include <string.h>

#include <drm_fourcc.h>

#include "helpers.h"

DMK_TEST(frame, nv12_1080p)
{
	DMK_OPTS(dmk_frame_opts, o, .pitch_align = 64, .plane_align = 4096);
	struct dmk_frame_layout l;

	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 1920, 1080,
					   &o), 0);
	cr_assert_eq(l.nplanes, 2);
	cr_assert_eq(l.pitch[0], 1920);
	cr_assert_eq(l.pitch[1], 1920);
	cr_assert_eq(l.plane_height[1], 540);
	cr_assert_eq(l.offset[0], 0);
	/* 1920 * 1080 = 2073600, rounded up to a 4096 boundary. */
	cr_assert_eq(l.offset[1], 507 * 4096);
	cr_assert_eq(l.plane_size[1], 1920 * 540);
	/* The total rounds up to plane_align too (size_align default). */
	cr_assert_eq(l.size, 761 * 4096);
}

DMK_TEST(frame, odd_sizes_round_chroma_up)
{
	DMK_OPTS(dmk_frame_opts, tight, .pitch_align = 1, .plane_align = 1);
	struct dmk_frame_layout l;

	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_YUV420, 5, 3,
					   &tight), 0);
	cr_assert_eq(l.nplanes, 3);
	cr_assert_eq(l.pitch[0], 5);
	cr_assert_eq(l.pitch[1], 3);
	cr_assert_eq(l.plane_height[1], 2);
	cr_assert_eq(l.offset[1], 15);
	cr_assert_eq(l.offset[2], 21);
	cr_assert_eq(l.size, 27);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 3, 3,
					   &tight), 0);
	cr_assert_eq(l.pitch[1], 4);	/* two CbCr pairs of 2 bytes */
	cr_assert_eq(l.size, 9 + 8);
}

DMK_TEST(frame, packed_formats)
{
	static const struct {
		uint32_t fourcc;
		uint32_t cpp;
	} f[] = {
		{ DRM_FORMAT_R8, 1 },	    { DRM_FORMAT_RGB888, 3 },
		{ DRM_FORMAT_BGR888, 3 },   { DRM_FORMAT_XRGB8888, 4 },
		{ DRM_FORMAT_ARGB8888, 4 }, { DRM_FORMAT_RGB565, 2 },
	};
	struct dmk_frame_layout l;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		cr_assert_eq(dmk_frame_layout_init(&l, f[i].fourcc, 100, 10,
						   NULL), 0);
		cr_assert_eq(l.nplanes, 1);
		/* Default pitch alignment: 64 bytes. */
		cr_assert_eq(l.pitch[0], (100 * f[i].cpp + 63) / 64 * 64);
		cr_assert_eq(l.size % 64, 0);
		cr_assert_geq(l.size, (uint64_t)l.pitch[0] * 10);
		cr_assert(dmk_frame_format_supported(f[i].fourcc));
	}
}

DMK_TEST(frame, rejects_bad_input)
{
	DMK_OPTS(dmk_frame_opts, npot, .pitch_align = 48);
	DMK_OPTS(dmk_frame_opts, npot2, .plane_align = 3);
	struct {
		struct dmk_frame_opts o;
		uint32_t tail;
	} big;
	struct dmk_frame_layout l, before;

	memset(&l, 0xee, sizeof(l));
	before = l;
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 0, 10, NULL),
		     -EINVAL);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 10, 0, NULL),
		     -EINVAL);
	cr_assert_eq(dmk_frame_layout_init(NULL, DRM_FORMAT_NV12, 2, 2, NULL),
		     -EINVAL);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 64, 64,
					   &npot), -EINVAL);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 64, 64,
					   &npot2), -EINVAL);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_P010, 64, 64, NULL),
		     -ENOTSUP);
	cr_assert_eq(dmk_frame_layout_init(&l, 0, 64, 64, NULL), -ENOTSUP);
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.tail = 1;
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 64, 64,
					   &big.o), -EINVAL);
	cr_assert_eq(memcmp(&l, &before, sizeof(l)), 0,
		     "layout written on failure");
}

DMK_TEST(frame, overflow)
{
	struct dmk_frame_layout l;

	/* A pitch past 32 bits. */
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_XRGB8888,
					   UINT32_MAX, 1, NULL), -EOVERFLOW);
	/* Huge but representable: 2^30 bytes by 2^32 - 1 rows. */
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_R8, 1u << 30,
					   UINT32_MAX, NULL), 0);
	cr_assert_eq(l.size, (uint64_t)(1u << 30) * UINT32_MAX);
	/* Each plane fits in 64 bits, the luma plus chroma does not. */
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12,
					   UINT32_MAX - 63, UINT32_MAX, NULL),
		     -EOVERFLOW);
	/* The alignment round-up itself must not wrap. */
	{
		DMK_OPTS(dmk_frame_opts, o, .pitch_align = 1u << 31);

		cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_R8,
						   (1u << 31) + 1, 1, &o),
			     -EOVERFLOW);
	}
}

DMK_TEST(frame, fourcc_strings)
{
	char s[11];
	uint32_t f;

	cr_assert_str_eq(dmk_fourcc_to_str(DRM_FORMAT_NV12, s), "NV12");
	cr_assert_str_eq(dmk_fourcc_to_str(DRM_FORMAT_R8, s), "R8");
	cr_assert_str_eq(dmk_fourcc_to_str(0x01020304, s), "0x01020304");
	cr_assert_eq(dmk_fourcc_from_str("NV12", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_NV12);
	cr_assert_eq(dmk_fourcc_from_str("gray8", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_R8);
	cr_assert_eq(dmk_fourcc_from_str("I420", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_YUV420);
	/* ffmpeg's names: bytes in memory, the reverse of DRM's. */
	cr_assert_eq(dmk_fourcc_from_str("BGR24", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_RGB888);
	cr_assert_eq(dmk_fourcc_from_str("RGB24", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_BGR888);
	cr_assert_eq(dmk_fourcc_from_str("XR24", &f), 0);
	cr_assert_eq(f, DRM_FORMAT_XRGB8888);
	cr_assert_eq(dmk_fourcc_from_str("P010", &f), -ENOTSUP);
	cr_assert_eq(dmk_fourcc_from_str("", &f), -ENOTSUP);
	cr_assert_eq(dmk_fourcc_from_str("TOOLONG", &f), -ENOTSUP);
	cr_assert_eq(dmk_fourcc_from_str(NULL, &f), -EINVAL);
}

DMK_TEST(frame, layout_fits_allocation)
{
	struct dmk_frame_layout l;
	struct dmk_buf *b;
	unsigned char *p;
	void *addr;

	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, 3840, 2160,
					   NULL), 0);
	b = dmk_test_alloc("memfd", l.size, "4k-nv12");
	cr_assert_geq(dmk_buf_size(b), l.size);
	cr_assert_eq(dmk_buf_map(b, &addr), 0);
	p = addr;
	/* Last byte of the chroma plane is inside the buffer. */
	p[l.offset[1] + l.plane_size[1] - 1] = 0x80;
	dmk_buf_put(b);
}
