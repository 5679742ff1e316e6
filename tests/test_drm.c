// SPDX-License-Identifier: MIT
/*
 * drm: PRIME import of dmakit buffers into a real DRM driver (vgem), the
 * way a display or GPU driver would take them.  vgem exists only in the VM
 * tier; here these tests skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static int open_vgem(void)
{
	int fd = -1;

	dmk_test_require(dmk_probe_drm("vgem"),
			 "no vgem DRM device (kernel without CONFIG_DRM_VGEM)");
	cr_assert_eq(dmk_drm_open("vgem", 0, &fd), 0);
	return fd;
}

static void prime_roundtrip(const char *heap)
{
	struct dmk_buf *b = dmk_test_alloc(heap, 1 << 20, "prime");
	uint32_t h1, h2;
	struct stat st;
	int drm = open_vgem(), fd;
	ino_t ino;

	cr_assert_eq(dmk_buf_prime_import(b, drm, &h1), 0);
	cr_assert_eq(dmk_buf_prime_import(b, drm, &h2), 0);
	cr_assert_eq(h1, h2, "the kernel gives one handle per dma-buf");
	/* Exporting the imported handle hands back the very same dma-buf. */
	fd = dmk_drm_export_handle(drm, h1);
	cr_assert_geq(fd, 0, "export: %s", strerror(-fd));
	cr_assert_eq(fstat(fd, &st), 0);
	dmk_buf_identity(b, NULL, &ino);
	cr_assert_eq(st.st_ino, ino);
	close(fd);
	/* One close per handle reference the kernel counted. */
	cr_assert_eq(dmk_drm_close_handle(drm, h1), 0);
	cr_assert_eq(dmk_drm_close_handle(drm, h1), -EINVAL);
	dmk_buf_put(b);
	close(drm);
}

DMK_TEST(drm, prime_import_system_heap)
{
	prime_roundtrip(dmk_test_require_backend("system"));
}

DMK_TEST(drm, prime_import_cma_heap)
{
	prime_roundtrip(dmk_test_require_backend("cma"));
}

DMK_TEST(drm, prime_import_udmabuf)
{
	prime_roundtrip(dmk_test_require_backend("udmabuf"));
}

DMK_TEST(drm, prime_import_memfd_is_refused)
{
	struct dmk_buf *b = dmk_test_alloc("memfd", 4096, "no-dmabuf");
	uint32_t h = 0;
	int drm = open_vgem();

	cr_assert_eq(dmk_buf_prime_import(b, drm, &h), -ENOTSUP);
	dmk_buf_put(b);
	close(drm);
}

DMK_TEST(drm, open_unknown_driver)
{
	int fd = -1;

	cr_assert_eq(dmk_drm_open("no-such-driver", 0, &fd), -ENOENT);
	cr_assert_eq(dmk_probe_drm("no-such-driver"), 0);
	cr_assert_eq(dmk_drm_open(NULL, 1, &fd), -EINVAL);
	cr_assert_eq(dmk_drm_open(NULL, 0, NULL), -EINVAL);
	cr_assert_eq(fd, -1);
}

DMK_TEST(drm, probe_matches_dev_dri)
{
	int any = dmk_probe_drm(NULL);

	cr_assert_eq(any, access("/dev/dri", F_OK) ? 0 : 1);
}
