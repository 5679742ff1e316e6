/* SPDX-License-Identifier: MIT */
/*
 * dmakit DRM helpers: find a DRM device by driver name and hand a dmakit
 * buffer to it through PRIME (dma-buf import into a GEM handle).
 */
#ifndef DMAKIT_DRM_H
#define DMAKIT_DRM_H

#include <stdint.h>

#include <dmakit/buf.h>
#include <dmakit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * dmk_drm_open() - open a DRM device node whose driver is @driver.
 * @driver: kernel driver name ("vgem", "i915", "amdgpu", ...), or NULL
 *          for the first device found.
 * @flags:  none defined yet; must be 0.
 * @fd:     the node, close-on-exec.  The caller owns it and closes it.
 *
 * Render nodes (/dev/dri/renderD*) are preferred over primary nodes.
 *
 * Return: 0, -ENOENT (no such device), -EINVAL, -errno from open.
 */
DMK_API int dmk_drm_open(const char *driver, unsigned int flags, int *fd);

/** dmk_probe_drm() - 1 if a DRM device of @driver exists, 0 if not, -errno. */
DMK_API int dmk_probe_drm(const char *driver);

/**
 * dmk_buf_prime_import() - import the buffer's dma-buf into @drm_fd.
 * @handle: the GEM handle, owned by the caller: release it with
 *          dmk_drm_close_handle().  Importing the same buffer again into
 *          the same device gives the same handle (the kernel dedups).
 *
 * Return: 0, -ENOTSUP (the buffer has no dma-buf), -errno from the driver.
 */
DMK_API int dmk_buf_prime_import(const struct dmk_buf *buf, int drm_fd,
				 uint32_t *handle);

/**
 * dmk_drm_export_handle() - export a GEM handle as a dma-buf fd
 * (close-on-exec, read-write), owned by the caller.
 *
 * Return: the fd, or -errno.
 */
DMK_API int dmk_drm_export_handle(int drm_fd, uint32_t handle);

/** dmk_drm_close_handle() - release a GEM handle.  Returns 0 or -errno. */
DMK_API int dmk_drm_close_handle(int drm_fd, uint32_t handle);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_DRM_H */
