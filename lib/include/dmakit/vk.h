/* SPDX-License-Identifier: MIT */
/*
 * dmakit Vulkan compute: a context on one device, dmakit buffers imported
 * into it without copies where the driver allows, compute stages from
 * SPIR-V, and chains of stages recorded once and replayed every frame.
 *
 * Import ladder (dmk_vk_import()), first that works:
 *   1. DMK_VK_PATH_DMABUF  - the buffer is a dma-buf (DMK_CAP_DMABUF) and
 *      the device has VK_EXT_external_memory_dma_buf: a dup() of the fd is
 *      imported, the device reads the very pages.
 *   2. DMK_VK_PATH_HOST    - the device has VK_EXT_external_memory_host and
 *      accepts the buffer's mapping: memfd pages (DMK_CAP_PINNABLE) on any
 *      such device; a dma-buf mapping only on a CPU device (lavapipe), which
 *      pins nothing.  A pinning driver is never offered a dma-buf or CMA
 *      mapping (DESIGN.md): the choice follows the backend, not a probe.
 *   3. DMK_VK_PATH_STAGING - a host-visible Vulkan buffer of the same size;
 *      a chain copies bound ranges in before it runs and out after it
 *      completed (dmk_vk_chain_wait()).
 *
 * Imports are cached by buffer identity (dmk_buf_identity()) and import
 * flags, and reused: importing the same buffer again is a lookup.  (Two
 * dmk_bufs of one file share the entry, which follows the first one
 * imported.)  The cache entry, and every Vulkan object behind it, goes
 * away when the imported dmk_buf is freed (its last dmk_buf_put()), after
 * the device finished with it.  References still held then stay valid as
 * objects but are dead: dmk_vk_mem_path() says DMK_VK_PATH_NONE, and a
 * chain that bound one fails dmk_vk_chain_submit() with -ESTALE.
 *
 * Threads: one context and its chains are used by one thread at a time; a
 * buffer may be freed from any thread.
 */
#ifndef DMAKIT_VK_H
#define DMAKIT_VK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/common.h>
#include <dmakit/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_buf;
struct dmk_vk;		/* instance, device, compute queue, import cache */
struct dmk_vk_mem;	/* a dmakit buffer as the device sees it */
struct dmk_vk_stage;	/* a compute pipeline from SPIR-V */
struct dmk_vk_chain;	/* stages recorded once, replayed per frame */

struct dmk_vk_opts {
	size_t sz;
	/*
	 * Which device: NULL or "" for the first discrete GPU, else the first
	 * device; a decimal index into the loader's device list; otherwise a
	 * case-insensitive substring of the device name.
	 */
	const char *device;
	/* DMK_VK_* context flags. */
	unsigned int flags;
};
#define dmk_vk_opts__last_field flags

/* Enable VK_LAYER_KHRONOS_validation when installed (debugging). */
#define DMK_VK_VALIDATION	(1u << 0)

/**
 * dmk_vk_new() - open a Vulkan device with one compute queue.
 * @opts: NULL for defaults.
 * @out:  the context, written on success only.
 *
 * Extensions (external memory host/dma-buf/fd, external semaphore fd,
 * timeline semaphores) are enabled only where the device offers them; see
 * dmk_vk_features().
 *
 * Return: 0; -ENODEV when there is no Vulkan loader, driver or device
 * (or none matches @opts->device); -ENOTSUP when the device has no compute
 * queue or no timeline semaphores; -EINVAL for bad opts; -ENOMEM.
 */
DMK_API int dmk_vk_new(const struct dmk_vk_opts *opts, struct dmk_vk **out);

/* Wait for the device to go idle, free every import still alive (their
 * buffers' free hooks are removed; references still held become dead) and
 * the built-in stages, and close the device.  Free the caller's chains and
 * stages first.  NULL is a no-op. */
DMK_API void dmk_vk_free(struct dmk_vk *vk);

/* What the device offers, as used by the library. */
enum dmk_vk_feature {
	DMK_VK_FEAT_DMABUF_IMPORT = 1u << 0,	/* VK_EXT_external_memory_dma_buf */
	DMK_VK_FEAT_HOST_IMPORT = 1u << 1,	/* VK_EXT_external_memory_host */
	DMK_VK_FEAT_SYNC_FD = 1u << 2,		/* semaphores export sync_file */
	DMK_VK_FEAT_UNIFIED = 1u << 3,		/* CPU or integrated device */
};

DMK_API unsigned int dmk_vk_features(const struct dmk_vk *vk);

/* The device's name, as the driver reports it. */
DMK_API const char *dmk_vk_device_name(const struct dmk_vk *vk);

/* The driver's name and version ("llvmpipe", "NVIDIA 580.95.05"). */
DMK_API const char *dmk_vk_driver_name(const struct dmk_vk *vk);

/* How a buffer reached the device. */
enum dmk_vk_path {
	DMK_VK_PATH_NONE = 0,
	DMK_VK_PATH_DMABUF = 1,
	DMK_VK_PATH_HOST = 2,
	DMK_VK_PATH_STAGING = 3,
};

/* "dmabuf", "host", "staging" ("none" for anything else). */
DMK_API const char *dmk_vk_path_name(enum dmk_vk_path path);

struct dmk_vk_import_opts {
	size_t sz;
	/* DMK_VK_IMPORT_* flags. */
	unsigned int flags;
};
#define dmk_vk_import_opts__last_field flags

/* Skip the dma-buf rung of the ladder. */
#define DMK_VK_IMPORT_NO_DMABUF	(1u << 0)
/* Skip the host-pointer rung. */
#define DMK_VK_IMPORT_NO_HOST	(1u << 1)
/* Go straight to staging (NO_DMABUF | NO_HOST). */
#define DMK_VK_IMPORT_STAGING	(DMK_VK_IMPORT_NO_DMABUF | DMK_VK_IMPORT_NO_HOST)
/*
 * Also keep a device-local mirror of the buffer, filled by a GPU copy at
 * the start of every chain replay that binds it: for inputs that stages
 * read many times.  A mirrored buffer is read-only to stages.
 */
#define DMK_VK_IMPORT_MIRROR	(1u << 2)
/*
 * Do not look up or fill the cache: a fresh import the caller owns alone,
 * gone at dmk_vk_mem_put() (for measuring what an import costs).
 */
#define DMK_VK_IMPORT_UNCACHED	(1u << 3)

/**
 * dmk_vk_import() - make a dmakit buffer usable by the device.
 * @vk:   the context.
 * @buf:  the buffer, not owned: it must outlive every use of *@out; its
 *        last dmk_buf_put() frees the import.
 * @opts: NULL for defaults.
 * @out:  a reference to the import, written on success only: drop it with
 *        dmk_vk_mem_put().  A cached import is shared: the same buffer
 *        imported with the same flags gives the same object.
 *
 * Return: 0; -EINVAL (bad flags, MIRROR with UNCACHED); -ENOTSUP when no
 * rung of the ladder could take the buffer; -ENOMEM; -EIO for a device
 * error.
 */
DMK_API int dmk_vk_import(struct dmk_vk *vk, struct dmk_buf *buf,
			  const struct dmk_vk_import_opts *opts,
			  struct dmk_vk_mem **out);

/* Drop a reference from dmk_vk_import().  NULL is a no-op.  A dead
 * import's last put frees only the object; it may come after
 * dmk_vk_free(). */
DMK_API void dmk_vk_mem_put(struct dmk_vk_mem *mem);

DMK_API enum dmk_vk_path dmk_vk_mem_path(const struct dmk_vk_mem *mem);
DMK_API uint64_t dmk_vk_mem_size(const struct dmk_vk_mem *mem);
DMK_API bool dmk_vk_mem_mirrored(const struct dmk_vk_mem *mem);

/* Why the ladder ended where it did, one line ("host: dma-buf mapping on a
 * pinning driver; staging"), for reports. */
DMK_API const char *dmk_vk_mem_reason(const struct dmk_vk_mem *mem);

/* Import-cache counters, for tests and reports. */
struct dmk_vk_cache_stats {
	size_t sz;
	uint64_t hits;		/* dmk_vk_import() served from the cache */
	uint64_t misses;	/* a new import was made */
	uint64_t evictions;	/* entries freed with their buffer */
	uint64_t entries;	/* live entries now */
};

DMK_API int dmk_vk_cache_stats(const struct dmk_vk *vk,
			       struct dmk_vk_cache_stats *stats);

struct dmk_vk_stage_opts {
	size_t sz;
	/* SPIR-V words; copied, the caller keeps its array. */
	const uint32_t *spirv;
	size_t spirv_size;		/* in bytes, a multiple of 4 */
	/* Entry point; NULL for "main". */
	const char *entry;
	/*
	 * Storage-buffer bindings the caller will bind (set 0, bindings
	 * 0..n-1) and the push-constant bytes it will push.  Checked against
	 * what the SPIR-V declares: a mismatch is -EINVAL.
	 */
	uint32_t nbindings;
	uint32_t push_size;
};
#define dmk_vk_stage_opts__last_field push_size

/**
 * dmk_vk_stage_new() - a compute pipeline from SPIR-V.
 *
 * The module is checked before the driver sees it: magic, version, a
 * GLCompute entry point of that name, storage buffers only in set 0 and
 * numbered 0..nbindings-1, push constants no larger than push_size.
 *
 * Return: 0; -EINVAL for bad SPIR-V or a mismatch with @opts (the log
 * callback says which); -ENOMEM; -EIO when the driver refused it.
 */
DMK_API int dmk_vk_stage_new(struct dmk_vk *vk,
			     const struct dmk_vk_stage_opts *opts,
			     struct dmk_vk_stage **out);

/* Free a stage; chains that dispatch it must be freed first. */
DMK_API void dmk_vk_stage_free(struct dmk_vk_stage *stage);

/* The workgroup size the shader declares. */
DMK_API void dmk_vk_stage_local_size(const struct dmk_vk_stage *stage,
				     uint32_t size[3]);

/* A range of an import bound to one storage-buffer binding. */
struct dmk_vk_binding {
	struct dmk_vk_mem *mem;		/* not owned; a chain takes a ref */
	uint64_t offset;		/* a multiple of 16 */
	uint64_t size;			/* 0: to the end of mem */
	/*
	 * DMK_VK_READ | DMK_VK_WRITE; 0: both, or only READ where the
	 * import is read-only (mirrored, or a read-only mapping), to which
	 * WRITE is refused.  Staging imports copy READ ranges in before a
	 * run and WRITE ranges out after it, whole: a stage that writes only
	 * part of a WRITE range should bind it READ | WRITE.
	 */
	unsigned int access;
};

#define DMK_VK_READ	(1u << 0)
#define DMK_VK_WRITE	(1u << 1)

/**
 * dmk_vk_chain_new() - an empty chain.  Add dispatches, then
 * dmk_vk_chain_end() records the command buffer once; every
 * dmk_vk_chain_submit() replays it.  Each dispatch sees every write of the
 * ones before it (a compute barrier is recorded between them).
 */
DMK_API int dmk_vk_chain_new(struct dmk_vk *vk, struct dmk_vk_chain **out);

/* Wait for the chain's last submission and free it.  NULL is a no-op. */
DMK_API void dmk_vk_chain_free(struct dmk_vk_chain *chain);

/**
 * dmk_vk_chain_dispatch() - append one dispatch of @stage.
 * @binds:  @nbinds bindings, exactly the stage's count.
 * @push:   @push_size bytes of push constants (copied), at most the
 *          stage's size.
 * @groups: workgroup counts, each non-zero.
 *
 * Return: 0; -EINVAL (wrong binding count, push size, zero groups, an
 * unaligned offset, a chain already ended, WRITE to a read-only import);
 * -ERANGE (a range outside its import, or over the device's
 * maxStorageBufferRange); -ESTALE (an import whose buffer was freed);
 * -ENOMEM.
 */
DMK_API int dmk_vk_chain_dispatch(struct dmk_vk_chain *chain,
				  struct dmk_vk_stage *stage,
				  const struct dmk_vk_binding *binds,
				  uint32_t nbinds, const void *push,
				  uint32_t push_size, const uint32_t groups[3]);

/* Built-in conversions (dmk_vk_chain_convert()). */
enum dmk_vk_convert_kind {
	/* NV12 or BGR888 in; planar float RGB out: 3 planes of out_w *
	 * out_h floats, R then G then B, each (v / 255 - mean) * scale. */
	DMK_VK_CONVERT_RGB_PLANAR_F32 = 1,
	/* BGR888, or the luma plane of NV12, NV21, YUV420, YVU420 or R8
	 * in; GRAY8 out, out_w * out_h bytes packed (no row padding). */
	DMK_VK_CONVERT_GRAY8 = 2,
};

struct dmk_vk_convert {
	size_t sz;
	enum dmk_vk_convert_kind kind;
	/* Input frame: its layout inside @src (formats: see the kinds). */
	struct dmk_vk_mem *src;
	struct dmk_frame_layout src_layout;
	/* Output, bilinear-resized to out_w x out_h, at @dst_offset. */
	struct dmk_vk_mem *dst;
	uint64_t dst_offset;		/* a multiple of 16 */
	uint32_t out_w, out_h;
	/* RGB_PLANAR_F32: per-channel mean and scale (R, G, B). */
	float mean[3];
	float scale[3];
};
#define dmk_vk_convert__last_field scale

/**
 * dmk_vk_chain_convert() - append a built-in conversion.  Resizing samples
 * pixel centres (OpenCV's INTER_LINEAR convention: src = (dst + 0.5) *
 * in/out - 0.5, clamped at the edges); NV12 is BT.601 limited range.
 *
 * Return: 0; -EINVAL (bad kind, zero or oversized output, a source format
 * the kind does not take); -ERANGE (@src smaller than its layout, @dst
 * smaller than the output); -ENOMEM; -EIO.
 */
DMK_API int dmk_vk_chain_convert(struct dmk_vk_chain *chain,
				 const struct dmk_vk_convert *cv);

/* Record the command buffer.  Return: 0, -EINVAL (empty or ended), -EIO. */
DMK_API int dmk_vk_chain_end(struct dmk_vk_chain *chain);

/**
 * dmk_vk_chain_submit() - replay a recorded chain.
 * @point:   the context timeline value that signals its completion.
 * @sync_fd: NULL, or where to put a sync_file fd (owned by the caller)
 *           that signals with it; -ENOTSUP without DMK_VK_FEAT_SYNC_FD
 *           (checked before anything is submitted).
 *
 * Staging imports bound for reading are copied in before the submission;
 * those bound for writing are copied back by dmk_vk_chain_wait() only (a
 * wait on @sync_fd or dmk_vk_wait() does not copy).  A chain runs once at
 * a time: a submit waits for the chain's previous one.
 *
 * Return: 0; -EINVAL (not ended); -ENOTSUP; -ESTALE (a bound buffer was
 * freed); -EIO (device lost, submit failed); -ETIMEDOUT from the wait for
 * the previous run.
 */
DMK_API int dmk_vk_chain_submit(struct dmk_vk_chain *chain, uint64_t *point,
				int *sync_fd);

/**
 * dmk_vk_chain_wait() - wait for the chain's last submission and copy
 * staging imports bound for writing back into their buffers.
 * @timeout_ns: UINT64_MAX to wait for ever.
 *
 * Return: 0 (also when nothing was submitted); -ETIMEDOUT; -EIO.
 */
DMK_API int dmk_vk_chain_wait(struct dmk_vk_chain *chain, uint64_t timeout_ns);

/* submit + wait. */
DMK_API int dmk_vk_chain_run(struct dmk_vk_chain *chain);

/* Wait until the context timeline reaches @point.
 * Return: 0, -EINVAL (@point was never submitted), -ETIMEDOUT, -EIO. */
DMK_API int dmk_vk_wait(struct dmk_vk *vk, uint64_t point,
			uint64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_VK_H */
