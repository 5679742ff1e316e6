// SPDX-License-Identifier: MIT
/* DRM device lookup and PRIME import, on top of libdrm. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <xf86drm.h>

#include "internal.h"
#include "sys.h"

/* 1 if @fd's driver is @driver (or @driver is NULL), 0 if not. */
static int drm_driver_is(int fd, const char *driver)
{
	drmVersionPtr v;
	int match;

	if (!driver)
		return 1;
	v = drmGetVersion(fd);
	if (!v)
		return 0;
	match = v->name && !strcmp(v->name, driver);
	drmFreeVersion(v);
	return match;
}

DMK_API int dmk_drm_open(const char *driver, unsigned int flags, int *out)
{
	/* Render nodes first: they need no DRM master and no auth. */
	static const struct {
		const char *prefix;
		int first;
	} kinds[] = { { "/dev/dri/renderD", 128 }, { "/dev/dri/card", 0 } };
	char path[64];
	unsigned int k;
	int i, fd, err = -ENOENT;

	if (flags || !out)
		return -EINVAL;
	for (k = 0; k < DMK_ARRAY_SIZE(kinds); k++) {
		for (i = kinds[k].first; i < kinds[k].first + 64; i++) {
			snprintf(path, sizeof(path), "%s%d", kinds[k].prefix,
				 i);
			fd = dmk__open(path, O_RDWR);
			if (fd == -ENOENT || fd == -ENXIO || fd == -ENODEV)
				continue;
			if (fd < 0) {
				err = fd;	/* e.g. -EACCES: say so */
				continue;
			}
			if (drm_driver_is(fd, driver)) {
				*out = fd;
				return 0;
			}
			dmk__close(fd);
		}
	}
	return err;
}

DMK_API int dmk_probe_drm(const char *driver)
{
	int fd, ret = dmk_drm_open(driver, 0, &fd);

	if (ret == 0) {
		dmk__close(fd);
		return 1;
	}
	return ret == -ENOENT ? 0 : ret;
}

DMK_API int dmk_buf_prime_import(const struct dmk_buf *buf, int drm_fd,
				 uint32_t *handle)
{
	uint32_t h;

	if (!handle)
		return -EINVAL;
	if (!(buf->caps & DMK_CAP_DMABUF))
		return -ENOTSUP;
	if (drmPrimeFDToHandle(drm_fd, buf->fd, &h))
		return dmk__neg_errno();
	*handle = h;
	return 0;
}

DMK_API int dmk_drm_export_handle(int drm_fd, uint32_t handle)
{
	int fd;

	if (drmPrimeHandleToFD(drm_fd, handle, DRM_CLOEXEC | DRM_RDWR, &fd))
		return dmk__neg_errno();
	return fd;
}

DMK_API int dmk_drm_close_handle(int drm_fd, uint32_t handle)
{
	return drmCloseBufferHandle(drm_fd, handle) ? dmk__neg_errno() : 0;
}
