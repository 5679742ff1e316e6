// SPDX-License-Identifier: MIT
/*
 * image: the tools' still-image loader and pixel helpers (tools/image.c).
 * Round trips through PNG, real JPEG photographs, OpenCV's own decode and
 * gray conversion as the reference, and every malformed-file case giving
 * its error code and a message without a leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>

#include "helpers.h"
#include "../tools/image.h"

#define GRACE "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
#define PY "/usr/bin/python3"

/* ---- a scratch directory per test ---- */

static char tmpdir[64];

static const char *tmp_path(const char *name, char *buf, size_t len)
{
	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/dmk-image-XXXXXX");
		cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s",
				   strerror(errno));
	}
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* Remove the scratch directory and what is in it (flat). */
static void tmp_clean(void)
{
	char cmd[128];

	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
	tmpdir[0] = '\0';
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
	struct stat st;
	unsigned char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(p);
	cr_assert_eq(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* Load @path expecting failure @want, with a message. */
static void expect_fail(const char *path, int want, const char *what)
{
	struct image img = { 0 };
	char err[256] = "";
	int ret = image_load(path, &img, err, sizeof(err));

	cr_assert_eq(ret, want, "%s: got %d (%s), want %d (%s); message "
		     "\"%s\"", what, ret, strerror(-ret), want,
		     strerror(-want), err);
	cr_assert_neq(err[0], '\0', "%s: no message", what);
	cr_assert_null(img.data, "%s: the image was written", what);
}

static void expect_fail_bytes(const void *p, size_t n, int want,
			      const char *what)
{
	char path[128];

	tmp_path("bad", path, sizeof(path));
	write_bytes(path, p, n);
	expect_fail(path, want, what);
}

/* A deterministic RGB or gray test picture. */
static void make_picture(struct image *img, uint32_t w, uint32_t h,
			 uint32_t ch)
{
	size_t i;

	cr_assert_eq(image_alloc(img, w, h, ch), 0);
	for (i = 0; i < (size_t)w * h * ch; i++)
		img->data[i] = (uint8_t)(i * 2654435761u >> 13);
}

/* A JPEG of @img written with libjpeg at quality 90. */
static void write_jpeg(const char *path, const struct image *img)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	FILE *f = fopen(path, "wbe");
	uint32_t y;

	cr_assert_not_null(f);
	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_stdio_dest(&ci, f);
	ci.image_width = img->width;
	ci.image_height = img->height;
	ci.input_components = (int)img->channels;
	ci.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, 90, TRUE);
	jpeg_start_compress(&ci, TRUE);
	for (y = 0; y < img->height; y++) {
		JSAMPROW row = img->data +
			       (size_t)y * img->width * img->channels;

		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	fclose(f);
}

/* ---- PNG ---- */

DMK_TEST(image, png_round_trip)
{
	static const uint32_t chans[] = { 3, 1 };
	char path[128];
	size_t i;

	for (i = 0; i < 2; i++) {
		struct image a, b = { 0 };
		char err[256];

		make_picture(&a, 37, 23, chans[i]);
		tmp_path("rt.png", path, sizeof(path));
		cr_assert_eq(image_save_png(path, &a), 0);
		cr_assert_eq(image_load(path, &b, err, sizeof(err)), 0,
			     "%s", err);
		cr_assert_eq(b.width, 37);
		cr_assert_eq(b.height, 23);
		cr_assert_eq(b.channels, chans[i]);
		cr_assert_eq(memcmp(a.data, b.data, 37 * 23 * chans[i]), 0,
			     "pixels differ after a PNG round trip");
		image_free(&a);
		image_free(&b);
		cr_assert_null(b.data);
	}
	tmp_clean();
}

DMK_TEST(image, png_save_errors)
{
	struct image a;

	make_picture(&a, 4, 4, 3);
	cr_assert_eq(image_save_png("/nonexistent-dir/x.png", &a), -ENOENT);
	cr_assert_eq(image_save_png("/tmp", &a), -EISDIR);
	a.channels = 2;
	cr_assert_eq(image_save_png("/tmp/never.png", &a), -EINVAL);
	a.channels = 3;
	image_free(&a);
	cr_assert_eq(image_alloc(&a, 4, 4, 4), -EINVAL);
	cr_assert_eq(image_alloc(&a, 0, 4, 3), -EINVAL);
	cr_assert_eq(image_alloc(&a, IMAGE_MAX_SIDE + 1, 4, 3), -EINVAL);
}

/* Big-endian CRC-32 as PNG chunks carry it. */
static uint32_t crc32_png(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

DMK_TEST(image, png_malformed)
{
	unsigned char *png, *copy;
	struct image a;
	char path[128];
	size_t n, cut;

	make_picture(&a, 64, 48, 3);
	tmp_path("ok.png", path, sizeof(path));
	cr_assert_eq(image_save_png(path, &a), 0);
	image_free(&a);
	png = read_bytes(path, &n);
	copy = malloc(n);
	cr_assert_not_null(copy);

	/* Cut anywhere before the last image data: truncated. */
	for (cut = 8; cut < n - 12; cut += (n - 20) / 7)
		expect_fail_bytes(png, cut, -EINVAL, "truncated PNG");
	expect_fail_bytes(png, 5, -EINVAL, "PNG cut inside its magic");

	/* IHDR starts at 8: length, "IHDR", width, height, ..., CRC. */
	memcpy(copy, png, n);
	put_be32(copy + 16, 20000);
	put_be32(copy + 29, crc32_png(copy + 12, 17));
	expect_fail_bytes(copy, n, -E2BIG, "PNG 20000 pixels wide");

	memcpy(copy, png, n);
	put_be32(copy + 20, 0);
	put_be32(copy + 29, crc32_png(copy + 12, 17));
	expect_fail_bytes(copy, n, -EINVAL, "PNG 0 pixels high");

	/* A flipped bit in the image data breaks its CRC. */
	memcpy(copy, png, n);
	copy[n / 2] ^= 0x10;
	expect_fail_bytes(copy, n, -EINVAL, "PNG with a bad CRC");

	free(copy);
	free(png);
	tmp_clean();
}

/* ---- JPEG ---- */

DMK_TEST(image, jpeg_photo)
{
	struct image img = { 0 };
	char err[256];

	if (access(GRACE, R_OK))
		dmk_test_require(0, GRACE " (python-matplotlib-data)");
	cr_assert_eq(image_load(GRACE, &img, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(img.width, 512);
	cr_assert_eq(img.height, 600);
	cr_assert_eq(img.channels, 3);
	image_free(&img);
}

DMK_TEST(image, jpeg_written_and_truncated)
{
	static const uint32_t chans[] = { 3, 1 };
	unsigned char *jpg;
	char path[128];
	size_t i, n, cut;

	for (i = 0; i < 2; i++) {
		struct image a, b = { 0 };
		char err[256];
		size_t k, far = 0;

		make_picture(&a, 40, 30, chans[i]);
		/* Smooth it, so a lossy round trip stays close. */
		for (k = 0; k < (size_t)40 * 30 * chans[i]; k++)
			a.data[k] = (uint8_t)(k / chans[i] % 40 * 6);
		tmp_path("w.jpg", path, sizeof(path));
		write_jpeg(path, &a);
		cr_assert_eq(image_load(path, &b, err, sizeof(err)), 0,
			     "%s", err);
		cr_assert_eq(b.width, 40);
		cr_assert_eq(b.height, 30);
		cr_assert_eq(b.channels, chans[i]);
		for (k = 0; k < (size_t)40 * 30 * chans[i]; k++)
			far += abs(a.data[k] - b.data[k]) > 12;
		cr_assert_lt(far, 40, "%zu samples far off", far);
		image_free(&a);
		image_free(&b);

		jpg = read_bytes(path, &n);
		/* Every cut before the end marker, headers included. */
		for (cut = 3; cut < n - 2; cut++)
			expect_fail_bytes(jpg, cut, -EINVAL,
					  "truncated JPEG");
		expect_fail_bytes(jpg, 2, -EINVAL, "JPEG of two bytes");
		free(jpg);
	}
	tmp_clean();
}

/* ---- PPM / PGM ---- */

DMK_TEST(image, pnm_good)
{
	static const char p6[] = "P6\n# a comment\n3 2 # another\n255\n"
		"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"
		"\x0d\x0e\x0f\x10\x11\x12";
	static const char p5[] = "P5 3 1 255 \n\x0a\x14";
	struct image img = { 0 };
	char path[128], err[256];
	int i;

	tmp_path("a.ppm", path, sizeof(path));
	write_bytes(path, p6, sizeof(p6) - 1);
	cr_assert_eq(image_load(path, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(img.width, 3);
	cr_assert_eq(img.height, 2);
	cr_assert_eq(img.channels, 3);
	for (i = 0; i < 18; i++)
		cr_assert_eq(img.data[i], i + 1);
	image_free(&img);

	/* The byte after maxval is the one whitespace: here '\n' is data. */
	write_bytes(path, p5, sizeof(p5) - 1);
	cr_assert_eq(image_load(path, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(img.width, 3);
	cr_assert_eq(img.channels, 1);
	cr_assert_eq(img.data[0], '\n');
	cr_assert_eq(img.data[1], 0x0a);
	cr_assert_eq(img.data[2], 0x14);
	image_free(&img);
	tmp_clean();
}

DMK_TEST(image, pnm_malformed)
{
	static const struct {
		const char *bytes;
		int want;
		const char *what;
	} cases[] = {
		{ "P6\n4 4\n255\n0123456789", -EINVAL, "truncated raster" },
		{ "P6\n4 4\n", -EINVAL, "no maxval" },
		{ "P6\n4", -EINVAL, "header ends in width" },
		{ "P6", -EINVAL, "magic only" },
		{ "P6x 1 1 255\n", -EINVAL, "magic not followed by space" },
		{ "P6 4 a 255\n", -EINVAL, "height not a number" },
		{ "P6 4x 4 255\n", -EINVAL, "junk after width" },
		{ "P6 -4 4 255\n", -EINVAL, "negative width" },
		{ "P6\n100000 100000\n255\n", -E2BIG, "huge dimensions" },
		{ "P5 99999999999 1 255\n", -E2BIG, "width over 32 bits" },
		{ "P6 16385 1 255\n", -E2BIG, "one past the limit" },
		{ "P6 0 4 255\n", -EINVAL, "zero width" },
		{ "P6 1 1 65535\nabcdef", -ENOTSUP, "maxval 65535" },
		{ "P5 1 1 15\na", -ENOTSUP, "maxval 15" },
		{ "P6 1 1 0\nabc", -EINVAL, "maxval 0" },
		{ "P6 1 1 70000\nabcdef", -EINVAL, "maxval 70000" },
		{ "P6 1 1 255#c\nabc", -EINVAL, "comment after maxval" },
		{ "P3 1 1 255\n1 2 3\n", -ENOTSUP, "plain-text PPM" },
		{ "GIF89a\x01\x00\x01\x00", -ENOTSUP, "a GIF" },
		{ "hello, world", -ENOTSUP, "text" },
		{ "\xff\xd8", -EINVAL, "JPEG magic cut" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fail_bytes(cases[i].bytes, strlen(cases[i].bytes),
				  cases[i].want, cases[i].what);
	tmp_clean();
}

DMK_TEST(image, not_a_file)
{
	char path[128];

	expect_fail_bytes("", 0, -EINVAL, "zero-length file");
	expect_fail(tmp_path("missing.png", path, sizeof(path)), -ENOENT,
		    "missing file");
	expect_fail(tmpdir, -EISDIR, "a directory");
	expect_fail("/dev/null", -EINVAL, "a character device");
	tmp_clean();
}

/* ---- pixels ---- */

DMK_TEST(image, gray_weights)
{
	struct image img;
	uint8_t g[5];

	cr_assert_eq(image_alloc(&img, 5, 1, 3), 0);
	memcpy(img.data, "\xff\xff\xff" "\xff\x00\x00" "\x00\xff\x00"
	       "\x00\x00\xff" "\x00\x00\x00", 15);
	image_to_gray(&img, g);
	cr_assert_eq(g[0], 255);
	cr_assert_eq(g[1], 76);		/* OpenCV's gray of pure red */
	cr_assert_eq(g[2], 150);
	cr_assert_eq(g[3], 29);
	cr_assert_eq(g[4], 0);
	image_free(&img);
}

/*
 * OpenCV decodes grace_hopper.jpg (with the same libjpeg-turbo) and
 * converts it to gray; ours must be identical, and so must the RGB.
 */
DMK_TEST(image, gray_matches_opencv)
{
	struct image img = { 0 }, ref = { 0 }, refrgb = { 0 };
	char pgm[128], ppm[128], cmd[1024], err[256];
	uint8_t *gray;
	size_t i, n, diff = 0;
	int maxd = 0, st;

	if (access(GRACE, R_OK))
		dmk_test_require(0, GRACE " (python-matplotlib-data)");
	if (access(PY, X_OK) ||
	    system(PY " -c 'import cv2' >/dev/null 2>&1"))
		dmk_test_require(0, PY " with cv2 (python3-opencv)");
	tmp_path("ref.pgm", pgm, sizeof(pgm));
	tmp_path("ref.ppm", ppm, sizeof(ppm));
	snprintf(cmd, sizeof(cmd), PY " -c '"
		 "import cv2, sys\n"
		 "im = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)\n"
		 "assert cv2.imwrite(sys.argv[2], "
		 "cv2.cvtColor(im, cv2.COLOR_BGR2GRAY))\n"
		 "assert cv2.imwrite(sys.argv[3], im)\n"
		 "' '%s' '%s' '%s'", GRACE, pgm, ppm);
	st = system(cmd);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st), "OpenCV script failed");

	cr_assert_eq(image_load(GRACE, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(image_load(pgm, &ref, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(image_load(ppm, &refrgb, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(ref.channels, 1);
	cr_assert_eq(ref.width, img.width);
	cr_assert_eq(ref.height, img.height);
	n = (size_t)img.width * img.height;

	/* cv2.imwrite() turns its B, G, R into P6's R, G, B. */
	for (i = 0; i < 3 * n; i++)
		diff += img.data[i] != refrgb.data[i];
	cr_assert_eq(diff, 0, "%zu samples decode differently from OpenCV",
		     diff);

	gray = malloc(n);
	cr_assert_not_null(gray);
	image_to_gray(&img, gray);
	for (i = 0; i < n; i++) {
		int d = abs(gray[i] - ref.data[i]);

		if (d > maxd)
			maxd = d;
	}
	cr_assert_eq(maxd, 0, "gray differs from OpenCV's by up to %d", maxd);
	free(gray);
	image_free(&img);
	image_free(&ref);
	image_free(&refrgb);
	tmp_clean();
}

DMK_TEST(image, yuv420)
{
	struct image img;
	uint8_t y[9], u[4], v[4], uv[8];
	int i;

	/* 3x3: column 0-1 white, column 2 red; odd edges average less. */
	cr_assert_eq(image_alloc(&img, 3, 3, 3), 0);
	for (i = 0; i < 9; i++)
		memcpy(img.data + 3 * i, i % 3 == 2 ? "\xff\x00\x00" :
		       "\xff\xff\xff", 3);
	image_rgb_to_i420(&img, y, 3, u, 2, v, 2);
	cr_assert_eq(y[0], 235);
	cr_assert_eq(y[2], 82);
	cr_assert_eq(u[0], 128);
	cr_assert_eq(v[0], 128);
	cr_assert_eq(u[1], 90);		/* the right column: red alone */
	cr_assert_eq(v[1], 240);
	cr_assert_eq(u[3], 90);
	image_rgb_to_nv12(&img, y, 3, uv, 4);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(uv[(i % 2) * 2 + (i / 2) * 4], u[i]);
		cr_assert_eq(uv[(i % 2) * 2 + (i / 2) * 4 + 1], v[i]);
	}
	memset(img.data, 0, 27);
	image_rgb_to_i420(&img, y, 3, u, 2, v, 2);
	cr_assert_eq(y[4], 16);
	cr_assert_eq(u[0], 128);
	image_free(&img);
}

DMK_TEST(image, draw_rect_clipped)
{
	static const uint8_t green[3] = { 0, 255, 0 };
	struct image img, g;
	uint32_t x, y;

	cr_assert_eq(image_alloc(&img, 20, 10, 3), 0);
	image_draw_rect(&img, 2, 2, 6, 5, 1, green);
	for (y = 0; y < 10; y++)
		for (x = 0; x < 20; x++) {
			const uint8_t *p = img.data + (y * 20 + x) * 3;
			int edge = x >= 2 && x <= 7 && y >= 2 && y <= 6 &&
				   (x == 2 || x == 7 || y == 2 || y == 6);

			cr_assert_eq(p[1], edge ? 255 : 0, "(%u, %u)", x, y);
		}
	/* Mostly or wholly outside, huge, negative: clipped, no crash. */
	image_draw_rect(&img, -5, -5, 10, 10, 3, green);
	image_draw_rect(&img, 15, 5, 1000, 1000, 2, green);
	image_draw_rect(&img, -2147483647, -2147483647, 2147483647,
			2147483647, 100, green);
	image_draw_rect(&img, 2147483647, 2147483647, 2147483647,
			2147483647, 1, green);
	image_draw_rect(&img, 1000, 1000, 5, 5, 1, green);
	/* The left edge of the second-last rectangle. */
	cr_assert_eq(img.data[(9 * 20 + 16) * 3 + 1], 255);
	cr_assert_eq(img.data[(9 * 20 + 17) * 3 + 1], 0);
	image_free(&img);

	cr_assert_eq(image_alloc(&g, 4, 4, 1), 0);
	image_draw_rect(&g, 0, 0, 4, 4, 1, green);
	cr_assert_eq(g.data[0], 150);	/* green's luma */
	cr_assert_eq(g.data[5], 0);
	image_free(&g);
}
