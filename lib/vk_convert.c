// SPDX-License-Identifier: MIT
/*
 * Built-in preprocessing stages: NV12 or BGR888 frames to planar float RGB
 * or to GRAY8, bilinear-resized, appended to a chain as one dispatch of a
 * stage from lib/shaders/convert_*.comp (created once per context by
 * dmk__vk_builtin()).
 *
 * What the stages compute, exactly (tests/test_vkconvert.c holds a CPU
 * reference of the same):
 *
 * - Resampling is OpenCV's INTER_LINEAR pixel-centre convention, per axis:
 *	s = (d + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1],
 *	i0 = floor(s), i1 = min(i0 + 1, n_in - 1), f = s - i0,
 *   and the four taps are blended with weights (1 - f) and f.  NV12's Y is
 *   sampled on the luma grid; U and V on the chroma plane's own grid
 *   (ceil(w / 2) x ceil(h / 2)) with the same formula, n_in being the
 *   chroma plane's size.
 * - NV12 to RGB: Y, U and V are interpolated first, then BT.601 limited
 *   range: R = 1.164 (Y - 16) + 1.596 (V - 128), G = 1.164 (Y - 16) -
 *   0.392 (U - 128) - 0.813 (V - 128), B = 1.164 (Y - 16) + 2.017 (U - 128),
 *   each clamped to [0, 255].
 * - Float output: (v / 255 - mean[c]) * scale[c], planes R, G, B.
 * - GRAY8 from NV12 is its Y plane as stored (limited-range luma is not
 *   expanded); from BGR888 it is 0.299 R + 0.587 G + 0.114 B of the
 *   interpolated channels.  Either is rounded to nearest once, at the end.
 *
 * DRM_FORMAT_BGR888 is "[23:0] B:G:R little endian" (drm_fourcc.h): R in
 * bits 7..0, so its bytes in memory are R, G, B, which is OpenCV's RGB
 * order and ffmpeg's rgb24, not their BGR.  lib/frame.c lays it out as one
 * plane of 3 bytes per pixel; these stages read it that way.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <drm_fourcc.h>

#include "internal.h"
#include "vk_internal.h"

static const uint32_t spv_nv12_rgbf[] =
#include "convert_nv12_rgbf.spv.h"
;
static const uint32_t spv_bgr_rgbf[] =
#include "convert_bgr_rgbf.spv.h"
;
static const uint32_t spv_nv12_gray[] =
#include "convert_nv12_gray.spv.h"
;
static const uint32_t spv_bgr_gray[] =
#include "convert_bgr_gray.spv.h"
;

/* Largest output side (the public contract) and input side: the shaders
 * compute (2 d + 1) * n_in in 32 bits, d < 16384. */
#define CONVERT_MAX_OUT 16384u
#define CONVERT_MAX_IN 65536u
/* The lowest maxComputeWorkGroupCount[] Vulkan allows. */
#define CONVERT_MAX_GROUPS 65535u

/* The shaders' push-constant block, member for member (std430). */
struct convert_push {
	uint32_t off0, off1;	/* plane offsets from the binding's start */
	uint32_t pitch0, pitch1;
	uint32_t in_w, in_h;	/* plane 0 size */
	uint32_t c_w, c_h;	/* NV12 chroma plane size */
	uint32_t out_w, out_h;
	uint32_t stride;	/* GRAY8: invocations per dispatch row */
	uint32_t nwords;	/* GRAY8: output words */
	float mean[3];
	float scale[3];
};
_Static_assert(sizeof(struct convert_push) == 72, "push block layout");

struct builtin {
	const uint32_t *spirv;
	size_t size;
};

static const struct builtin builtins[DMK__VK_BUILTIN_CONVERT_END] = {
	[DMK__VK_CONVERT_NV12_RGBF] = { spv_nv12_rgbf, sizeof(spv_nv12_rgbf) },
	[DMK__VK_CONVERT_BGR_RGBF] = { spv_bgr_rgbf, sizeof(spv_bgr_rgbf) },
	[DMK__VK_CONVERT_NV12_GRAY] = { spv_nv12_gray, sizeof(spv_nv12_gray) },
	[DMK__VK_CONVERT_BGR_GRAY] = { spv_bgr_gray, sizeof(spv_bgr_gray) },
};

/*
 * Check @l's planes against what the stage reads and find the byte range
 * of @src to bind: from the first plane's offset rounded down to 16 (a
 * binding's alignment) to the end of the furthest plane, rounded up to
 * the 4-byte words the shader loads.  Plane ends are offset + pitch *
 * rows, the layout's own plane_size, recomputed rather than trusted.
 */
static int src_range(const struct dmk_frame_layout *l, uint64_t mem_size,
		     bool nv12, unsigned int np, uint64_t *base, uint64_t *len)
{
	unsigned int p;
	uint64_t lo = UINT64_MAX, hi = 0, end, row;

	if (l->nplanes < np) {
		pr_warn("vk convert: layout has %u planes, needs %u\n",
			l->nplanes, np);
		return -EINVAL;
	}
	for (p = 0; p < np; p++) {
		uint64_t rows = p ? (l->height + 1ull) / 2 : l->height;

		/* Bytes a row holds: Y, UV pairs, or R,G,B triples. */
		row = nv12 ? (p ? ((l->width + 1ull) / 2) * 2 : l->width) :
			     l->width * 3ull;
		if (l->pitch[p] < row) {
			pr_warn("vk convert: plane %u pitch %u < %llu bytes "
				"of a row\n", p, l->pitch[p],
				(unsigned long long)row);
			return -EINVAL;
		}
		if (__builtin_mul_overflow(rows, (uint64_t)l->pitch[p], &end) ||
		    __builtin_add_overflow(end, l->offset[p], &end) ||
		    end > mem_size) {
			pr_warn("vk convert: plane %u (offset %llu, pitch %u, "
				"%llu rows) ends past the source's %llu "
				"bytes\n", p,
				(unsigned long long)l->offset[p], l->pitch[p],
				(unsigned long long)rows,
				(unsigned long long)mem_size);
			return -ERANGE;
		}
		if (l->offset[p] < lo)
			lo = l->offset[p];
		if (end > hi)
			hi = end;
	}
	if (l->size > mem_size) {
		pr_warn("vk convert: frame of %llu bytes in a source of "
			"%llu\n", (unsigned long long)l->size,
			(unsigned long long)mem_size);
		return -ERANGE;
	}
	lo &= ~15ull;
	hi = (hi + 3) & ~3ull;	/* hi <= mem_size < 2^64 - 3 */
	if (hi > mem_size) {
		/* Only a source whose size is not a multiple of 4, with the
		 * frame in its last partial word. */
		pr_warn("vk convert: the frame ends in the source's last "
			"partial 32-bit word (source of %llu bytes)\n",
			(unsigned long long)mem_size);
		return -ERANGE;
	}
	if (hi - lo > UINT32_MAX) {
		/* The shaders address bytes with 32-bit integers. */
		pr_warn("vk convert: frame spans %llu bytes, more than 4 GiB\n",
			(unsigned long long)(hi - lo));
		return -EINVAL;
	}
	*base = lo;
	*len = hi - lo;
	return 0;
}

DMK_API int dmk_vk_chain_convert(struct dmk_vk_chain *chain,
				 const struct dmk_vk_convert *ucv)
{
	struct dmk_vk_binding binds[2];
	struct convert_push push;
	struct dmk_vk_convert cv;
	const struct dmk_frame_layout *l;
	enum dmk__vk_builtin id;
	struct dmk_vk_stage *stage;
	uint32_t local[3], groups[3];
	uint64_t base, len, out_bytes, dst_end, pixels;
	char fcc[11];
	bool nv12, gray;
	unsigned int c;
	int ret;

	if (!chain || !ucv) {
		pr_warn("vk convert: no %s\n", chain ? "conversion" : "chain");
		return -EINVAL;
	}
	ret = DMK_OPTS_LOAD(dmk_vk_convert, &cv, ucv);
	if (ret) {
		pr_warn("vk convert: unknown fields in struct dmk_vk_convert "
			"(sz %zu)\n", ucv->sz);
		return ret;
	}
	if (cv.kind != DMK_VK_CONVERT_RGB_PLANAR_F32 &&
	    cv.kind != DMK_VK_CONVERT_GRAY8) {
		pr_warn("vk convert: unknown kind %d\n", (int)cv.kind);
		return -EINVAL;
	}
	if (!cv.src || !cv.dst) {
		pr_warn("vk convert: no %s\n", cv.src ? "dst" : "src");
		return -EINVAL;
	}
	if (!cv.out_w || !cv.out_h || cv.out_w > CONVERT_MAX_OUT ||
	    cv.out_h > CONVERT_MAX_OUT) {
		pr_warn("vk convert: output %ux%u not within 1..%u a side\n",
			cv.out_w, cv.out_h, CONVERT_MAX_OUT);
		return -EINVAL;
	}
	l = &cv.src_layout;
	gray = cv.kind == DMK_VK_CONVERT_GRAY8;
	/*
	 * GRAY8 reads only the luma plane, which every 8-bit YUV layout
	 * (and R8 itself) has first, 1 byte a pixel: those go through the
	 * NV12 stage with the chroma plane left unbound.
	 */
	nv12 = l->fourcc == DRM_FORMAT_NV12 ||
	       (gray && (l->fourcc == DRM_FORMAT_NV21 ||
			 l->fourcc == DRM_FORMAT_YUV420 ||
			 l->fourcc == DRM_FORMAT_YVU420 ||
			 l->fourcc == DRM_FORMAT_R8));
	if (!nv12 && l->fourcc != DRM_FORMAT_BGR888) {
		pr_warn("vk convert: source format %s: RGB from NV12 and "
			"BGR888, GRAY8 also from NV21, YUV420, YVU420, R8\n",
			dmk_fourcc_to_str(l->fourcc, fcc));
		return -EINVAL;
	}
	if (!l->width || !l->height || l->width > CONVERT_MAX_IN ||
	    l->height > CONVERT_MAX_IN) {
		pr_warn("vk convert: source %ux%u not within 1..%u a side\n",
			l->width, l->height, CONVERT_MAX_IN);
		return -EINVAL;
	}
	if (!gray) {
		for (c = 0; c < 3; c++) {
			if (!isfinite(cv.mean[c]) || !isfinite(cv.scale[c])) {
				pr_warn("vk convert: mean/scale of channel %u "
					"not finite\n", c);
				return -EINVAL;
			}
		}
	}
	if (cv.dst_offset % 16) {
		pr_warn("vk convert: dst_offset %llu not a multiple of 16\n",
			(unsigned long long)cv.dst_offset);
		return -EINVAL;
	}

	ret = src_range(l, dmk_vk_mem_size(cv.src), nv12,
			nv12 && !gray ? 2 : 1, &base, &len);
	if (ret)
		return ret;

	/*
	 * Output bytes.  GRAY8 is written a 32-bit word at a time, so its
	 * last word must be in @dst too; the bytes of that word past the
	 * output are read and written back unchanged.
	 */
	pixels = (uint64_t)cv.out_w * cv.out_h;	/* <= 2^28 */
	out_bytes = gray ? (pixels + 3) & ~3ull : pixels * 3 * sizeof(float);
	if (__builtin_add_overflow(cv.dst_offset, out_bytes, &dst_end) ||
	    dst_end > dmk_vk_mem_size(cv.dst)) {
		pr_warn("vk convert: %llu output bytes at offset %llu, past "
			"the destination's %llu bytes\n",
			(unsigned long long)out_bytes,
			(unsigned long long)cv.dst_offset,
			(unsigned long long)dmk_vk_mem_size(cv.dst));
		return -ERANGE;
	}

	/* A stage reading what it writes would race with itself. */
	if (cv.src == cv.dst && cv.dst_offset < base + len &&
	    base < dst_end) {
		pr_warn("vk convert: the output (bytes %llu..%llu) overlaps "
			"the source frame (%llu..%llu)\n",
			(unsigned long long)cv.dst_offset,
			(unsigned long long)dst_end,
			(unsigned long long)base,
			(unsigned long long)(base + len));
		return -EINVAL;
	}

	memset(&push, 0, sizeof(push));
	push.off0 = (uint32_t)(l->offset[0] - base);
	push.pitch0 = l->pitch[0];
	push.in_w = l->width;
	push.in_h = l->height;
	if (nv12 && !gray) {
		push.off1 = (uint32_t)(l->offset[1] - base);
		push.pitch1 = l->pitch[1];
		/* The chroma plane's size, as lib/frame.c rounds it. */
		push.c_w = (l->width + 1) / 2;
		push.c_h = (l->height + 1) / 2;
	}
	push.out_w = cv.out_w;
	push.out_h = cv.out_h;
	for (c = 0; c < 3; c++) {
		push.mean[c] = cv.mean[c];
		push.scale[c] = cv.scale[c];
	}

	if (gray)
		id = nv12 ? DMK__VK_CONVERT_NV12_GRAY :
			    DMK__VK_CONVERT_BGR_GRAY;
	else
		id = nv12 ? DMK__VK_CONVERT_NV12_RGBF :
			    DMK__VK_CONVERT_BGR_RGBF;
	ret = dmk__vk_builtin(dmk__vk_chain_ctx(chain), id, builtins[id].spirv,
			      builtins[id].size, 2, sizeof(push), &stage);
	if (ret)
		return ret;
	dmk_vk_stage_local_size(stage, local);
	if (!local[0] || !local[1] || !local[2]) {
		pr_warn("vk convert: stage %d has no workgroup size\n", id);
		return -EIO;
	}

	if (gray) {
		/*
		 * One invocation per output word, numbered row-major over a
		 * 2-D dispatch: 16384^2 / 4 words need more groups than one
		 * dimension is guaranteed to take.
		 */
		uint64_t nwords = out_bytes / 4, total, gx;

		total = (nwords + local[0] - 1) / local[0];
		gx = total < CONVERT_MAX_GROUPS ? total : CONVERT_MAX_GROUPS;
		push.nwords = (uint32_t)nwords;
		push.stride = (uint32_t)(gx * local[0]);
		groups[0] = (uint32_t)gx;
		groups[1] = (uint32_t)((total + gx - 1) / gx);
		groups[2] = 1;
	} else {
		groups[0] = (cv.out_w + local[0] - 1) / local[0];
		groups[1] = (cv.out_h + local[1] - 1) / local[1];
		groups[2] = 1;
	}

	memset(binds, 0, sizeof(binds));
	binds[0].mem = cv.src;
	binds[0].offset = base;
	binds[0].size = len;
	binds[0].access = DMK_VK_READ;
	binds[1].mem = cv.dst;
	binds[1].offset = cv.dst_offset;
	binds[1].size = out_bytes;
	/*
	 * A GRAY8 output whose last word is partly past the output is read
	 * too, so a staging import copies that word in before the run and
	 * the bytes kept by the shader are the buffer's, not stale ones.
	 */
	binds[1].access = DMK_VK_WRITE;
	if (gray && out_bytes != pixels)
		binds[1].access |= DMK_VK_READ;
	return dmk_vk_chain_dispatch(chain, stage, binds, 2, &push,
				     sizeof(push), groups);
}
