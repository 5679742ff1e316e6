/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the Vulkan modules: vk.c (context, import ladder and
 * cache, stages, chains), vk_convert.c (built-in conversions), detect_vk.c
 * (the cascade detector's stages).
 */
#ifndef DMK_VK_INTERNAL_H
#define DMK_VK_INTERNAL_H

#include <stdbool.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include <dmakit/vk.h>

/*
 * Built-in stages: compiled from lib/shaders/<name>.comp at build time
 * (glslc -mfmt=c into $(BUILD)/shaders/<name>.spv.h, an initializer list
 * of uint32_t words) and created at most once per context, on first use.
 */
enum dmk__vk_builtin {
	DMK__VK_CONVERT_NV12_RGBF,
	DMK__VK_CONVERT_BGR_RGBF,
	DMK__VK_CONVERT_NV12_GRAY,
	DMK__VK_CONVERT_BGR_GRAY,
	DMK__VK_BUILTIN_CONVERT_END,
	/* Detector stages (detect_vk.c) follow. */
	DMK__VK_DETECT_ROWS = DMK__VK_BUILTIN_CONVERT_END,
	DMK__VK_DETECT_COLS,
	DMK__VK_DETECT_WALK,
	DMK__VK_DETECT_WALK_F32,
	DMK__VK_DETECT_STAGE,
	DMK__VK_DETECT_STAGE_F32,
	DMK__VK_BUILTIN_MAX = 32,
};

/*
 * The context's stage for @id, created from @spirv on first call with
 * dmk_vk_stage_new() and cached in the context (freed by dmk_vk_free());
 * later calls ignore the other arguments.  Not owned by the caller.
 */
int dmk__vk_builtin(struct dmk_vk *vk, enum dmk__vk_builtin id,
		    const uint32_t *spirv, size_t spirv_size,
		    uint32_t nbindings, uint32_t push_size,
		    struct dmk_vk_stage **out);

/*
 * A buffer of the context's own (no dmakit buffer behind it), for a
 * module's intermediate data: device-local when @host_visible is false,
 * else host-visible and coherent (mapped: dmk__vk_mem_map()).  Usable in
 * bindings like an import; path DMK_VK_PATH_NONE; freed at the last
 * dmk_vk_mem_put(), which must come before dmk_vk_free().
 * Return: 0, -EINVAL (size 0), -ENOTSUP (no such memory), -ENOMEM, -EIO.
 */
int dmk__vk_mem_new(struct dmk_vk *vk, uint64_t size, bool host_visible,
		    struct dmk_vk_mem **out);

/* The CPU address of a host-visible dmk__vk_mem_new() buffer, else NULL. */
void *dmk__vk_mem_map(struct dmk_vk_mem *mem);

/* The context a chain belongs to. */
struct dmk_vk *dmk__vk_chain_ctx(const struct dmk_vk_chain *chain);

/* Raw handles, for modules that record their own commands. */
VkDevice dmk__vk_device(const struct dmk_vk *vk);
VkPhysicalDevice dmk__vk_physical(const struct dmk_vk *vk);

/* ---- the cascade detector (detect_vk.c) ---- */
struct dmk_cascade;
struct dmk_detect_params;
struct dmk_detector;
struct dmk__scale;

/* Sum stages in float even where the device has shaderFloat64. */
#define DMK__DETECTOR_FLOAT	(1u << 0)
/* Work buffers host-visible, for dmk__detector_integral(). */
#define DMK__DETECTOR_HOST	(1u << 1)

/* dmk_detector_new() with DMK__DETECTOR_* @flags (tests force paths). */
int dmk__detector_new(struct dmk_vk *vk, const struct dmk_cascade *c,
		      uint32_t width, uint32_t height,
		      const struct dmk_detect_params *params,
		      unsigned int flags, struct dmk_detector **out);

/*
 * dmk_detector_record() of the first @npasses passes only (rows, cols,
 * walk, then a pass a stage from 1 on), to time them one by one.
 */
int dmk__detector_record_upto(struct dmk_detector *det,
			      struct dmk_vk_chain *chain,
			      struct dmk_vk_mem *gray, uint64_t offset,
			      uint32_t pitch, uint32_t npasses);

/* The scale of level @i (of those with windows); -ENOENT past the last. */
int dmk__detector_level(const struct dmk_detector *det, uint32_t i,
			struct dmk__scale *s);

/*
 * Integral image value (@x, @y) of level @i after the last frame, or of
 * its squared one (Haar).  Return: 0; -ENOENT past the last level;
 * -ERANGE outside the integral (or squares of an LBP cascade); -ENOTSUP
 * without DMK__DETECTOR_HOST.
 */
int dmk__detector_integral(const struct dmk_detector *det, uint32_t i,
			   uint32_t x, uint32_t y, bool squares,
			   uint32_t *value);

/* Windows of the last collected frame that passed stage 0. */
uint32_t dmk__detector_candidates(const struct dmk_detector *det);

/*
 * The device's count of windows that passed @stage in the last run that
 * completed (the last stage's: the hits), before any check against the
 * caps.  Return: 0; -ENOENT past the last stage.
 */
int dmk__detector_survivors(const struct dmk_detector *det, uint32_t stage,
			    uint32_t *n);

/* The dispatches dmk_detector_record() appends (rows, cols, walk, one a
 * stage from 1 on; rows alone when no window fits). */
uint32_t dmk__detector_passes(const struct dmk_detector *det);

/* Whether the detector sums stages in double. */
bool dmk__detector_f64(const struct dmk_detector *det);

/* What dmk__spirv_check() found in a module (vk_spirv.c). */
struct dmk__spirv_info {
	uint32_t version;	/* header word: 0x00MMmm00 */
	uint32_t local[3];	/* workgroup size */
	uint32_t nbindings;	/* storage buffers, set 0, 0..n-1 */
	uint32_t push_size;	/* bytes of push constants declared */
	bool push_known;	/* false: push_size could not be computed */
};

/*
 * Check a SPIR-V module (@size bytes, untrusted) for a GLCompute entry
 * point @entry: the header, every instruction's word count, ids within
 * the bound, storage-buffer-only descriptors in set 0 numbered 0..n-1.
 * Return: 0 and *@info; -EINVAL (logged: what was wrong); -ENOMEM.
 */
int dmk__spirv_check(const uint32_t *words, size_t size, const char *entry,
		     struct dmk__spirv_info *info);

#endif /* DMK_VK_INTERNAL_H */
