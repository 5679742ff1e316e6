// SPDX-License-Identifier: MIT
/*
 * Still images for the tools: PNG (libpng), JPEG (libjpeg-turbo) and
 * binary PPM/PGM in, PNG out, and the few pixel operations the detector
 * and the clip maker need.
 *
 * A file is read whole into memory first (bounded by what the largest
 * accepted image could need), then decoded from there: the decoders never
 * touch the file, so a file that changes under us cannot crash them, only
 * give a bad image.  Both libraries report fatal errors by calling a
 * function that must not return; here that function longjmp()s back to
 * the decoder's entry with the message saved, never exit()s.  Everything a
 * longjmp could skip is reachable from a context struct, so the cleanup
 * after it frees exactly what was allocated.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "image.h"

/*
 * The largest file read: an uncompressed PPM of the largest image, plus
 * room for a header with comments.  Compressed files are far smaller.
 */
#define MAX_FILE_BYTES \
	((size_t)IMAGE_MAX_SIDE * IMAGE_MAX_SIDE * 3 + (1u << 20))

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* width * height * channels, or 0 when it overflows size_t. */
static size_t pixels_size(uint32_t w, uint32_t h, uint32_t channels)
{
	size_t n;

	if (__builtin_mul_overflow((size_t)w, (size_t)h, &n) ||
	    __builtin_mul_overflow(n, (size_t)channels, &n))
		return 0;
	return n;
}

static int check_dims(const char *what, uint32_t w, uint32_t h, char *err,
		      size_t errlen)
{
	if (!w || !h) {
		set_err(err, errlen, "%s: zero size (%ux%u)", what, w, h);
		return -EINVAL;
	}
	if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
		set_err(err, errlen, "%s: %ux%u is larger than %ux%u", what,
			w, h, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
		return -E2BIG;
	}
	return 0;
}

/* ---- reading the file ---- */

static int read_file(const char *path, uint8_t **out, size_t *len,
		     char *err, size_t errlen)
{
	size_t cap, n = 0;
	struct stat st;
	uint8_t *buf;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "cannot open: %s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		set_err(err, errlen, "cannot stat: %s", strerror(-ret));
		goto err_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		set_err(err, errlen, "is a directory, not an image");
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A FIFO or device could block or never end. */
		ret = -EINVAL;
		set_err(err, errlen, "not a regular file");
		goto err_close;
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		ret = -E2BIG;
		set_err(err, errlen, "%lld bytes is more than any image up to "
			"%ux%u needs", (long long)st.st_size, IMAGE_MAX_SIDE,
			IMAGE_MAX_SIDE);
		goto err_close;
	}
	/* The size may change while we read: read to EOF, bounded. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		set_err(err, errlen, "out of memory for %zu bytes", cap);
		goto err_close;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb;

			if (cap >= MAX_FILE_BYTES) {
				ret = -E2BIG;
				set_err(err, errlen, "the file grew past %zu "
					"bytes while being read",
					(size_t)MAX_FILE_BYTES);
				goto err_free;
			}
			cap = cap > MAX_FILE_BYTES / 2 ? MAX_FILE_BYTES :
			      cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				set_err(err, errlen, "out of memory");
				goto err_free;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			set_err(err, errlen, "read failed: %s", strerror(-ret));
			goto err_free;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;

err_free:
	free(buf);
err_close:
	close(fd);
	return ret;
}

/* ---- PNG ---- */

struct png_ctx {
	const uint8_t *data;
	size_t len, off;
	char *err;
	size_t errlen;
	int ret;			/* what a png_error() means */
	uint8_t *pixels;		/* freed if a longjmp lands */
	png_bytep *rows;
};

static void png_ctx_error(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);

	set_err(c->err, c->errlen, "PNG: %s", msg);
	png_longjmp(png, 1);
}

/* libpng's warnings (odd ICC profiles and the like) are not ours to print. */
static void png_ctx_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_ctx_read(png_structp png, png_bytep out, size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);

	if (n > c->len - c->off) {
		c->ret = -EINVAL;
		png_error(png, "truncated: the file ends early");
	}
	memcpy(out, c->data + c->off, n);
	c->off += n;
}

/*
 * The decoding proper.  setjmp() is here and everything written after it
 * lives in *@c, outside this frame, so nothing the jump needs is an
 * indeterminate local (C11 7.13.2.1).
 */
static int png_decode(struct png_ctx *c, png_structp png, png_infop info,
		      struct image *out)
{
	png_uint_32 w, h;
	int depth, type;
	uint32_t ch, y;
	size_t size, stride;

	if (setjmp(png_jmpbuf(png)))
		return c->ret;
	png_set_read_fn(png, c, png_ctx_read);
	/* Our own limit is checked below with its own error code. */
	png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
	png_read_info(png, info);
	png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
	if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
		return check_dims("PNG", w, h, c->err, c->errlen);

	/* What OpenCV's imread() does: expand, drop alpha, 16 -> 8. */
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if ((type & ~PNG_COLOR_MASK_ALPHA) == PNG_COLOR_TYPE_GRAY &&
	    depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	/* A tRNS chunk is transparency, i.e. alpha: ignored like alpha. */
	if (depth == 16)
		png_set_strip_16(png);
	if (type & PNG_COLOR_MASK_ALPHA)
		png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);

	ch = png_get_channels(png, info);
	if (png_get_bit_depth(png, info) != 8 || (ch != 1 && ch != 3)) {
		set_err(c->err, c->errlen, "PNG: unexpected layout after "
			"conversion (%u channels, %u bits)", ch,
			png_get_bit_depth(png, info));
		return -EINVAL;
	}
	size = pixels_size(w, h, ch);
	stride = (size_t)w * ch;
	if (!size || png_get_rowbytes(png, info) != stride) {
		set_err(c->err, c->errlen, "PNG: row size mismatch");
		return -EINVAL;
	}
	c->pixels = malloc(size);
	c->rows = malloc(h * sizeof(*c->rows));
	if (!c->pixels || !c->rows) {
		set_err(c->err, c->errlen, "PNG: out of memory for %ux%u",
			w, h);
		return -ENOMEM;
	}
	for (y = 0; y < h; y++)
		c->rows[y] = c->pixels + y * stride;
	png_read_image(png, c->rows);
	/* The end chunk is not needed for the pixels: not read, so a file
	 * cut after its last IDAT still loads (as OpenCV's does). */
	out->width = w;
	out->height = h;
	out->channels = ch;
	out->data = c->pixels;
	c->pixels = NULL;
	return 0;
}

static int load_png(const uint8_t *data, size_t len, struct image *out,
		    char *err, size_t errlen)
{
	struct png_ctx c = {
		.data = data, .len = len, .err = err, .errlen = errlen,
		.ret = -EINVAL,
	};
	png_structp png;
	png_infop info;
	int ret;

	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_ctx_error,
				     png_ctx_warning);
	if (!png) {
		set_err(err, errlen, "PNG: out of memory");
		return -ENOMEM;
	}
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		set_err(err, errlen, "PNG: out of memory");
		return -ENOMEM;
	}
	ret = png_decode(&c, png, info, out);
	free(c.rows);
	free(c.pixels);
	png_destroy_read_struct(&png, &info, NULL);
	return ret;
}

/* ---- JPEG ---- */

struct jpeg_ctx {
	struct jpeg_error_mgr pub;	/* first: libjpeg casts to it */
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
	bool eof;			/* the data ended inside the image */
	bool created;			/* jpeg_create_decompress() ran */
	uint8_t *pixels;		/* freed if a longjmp lands */
};

static void jpeg_ctx_error_exit(j_common_ptr cinfo)
{
	struct jpeg_ctx *c = (struct jpeg_ctx *)cinfo->err;

	c->pub.format_message(cinfo, c->msg);
	longjmp(c->jump, 1);
}

/*
 * Warnings are not printed.  One matters: libjpeg meets the end of the
 * data inside the image, warns and pads with grey.  That is a truncated
 * file, and an error here.
 */
static void jpeg_ctx_emit(j_common_ptr cinfo, int level)
{
	struct jpeg_ctx *c = (struct jpeg_ctx *)cinfo->err;

	if (level < 0) {
		c->pub.num_warnings++;
		if (c->pub.msg_code == JWRN_JPEG_EOF)
			c->eof = true;
	}
}

/* As png_decode(): setjmp() here, state in *@ci and *@c. */
static int jpeg_decode(struct jpeg_decompress_struct *ci, struct jpeg_ctx *c,
		       const uint8_t *data, size_t len, struct image *out,
		       char *err, size_t errlen)
{
	uint32_t w, h, ch;
	size_t size, stride;
	int ret;

	if (setjmp(c->jump)) {
		set_err(err, errlen, "JPEG: %s", c->msg);
		return -EINVAL;
	}
	jpeg_create_decompress(ci);
	c->created = true;
	jpeg_mem_src(ci, data, (unsigned long)len);
	jpeg_read_header(ci, TRUE);
	if (c->eof) {
		set_err(err, errlen, "JPEG: truncated: the file ends in its "
			"header");
		return -EINVAL;
	}
	ret = check_dims("JPEG", ci->image_width, ci->image_height, err,
			 errlen);
	if (ret)
		return ret;
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		ci->out_color_space = JCS_GRAYSCALE;
		break;
	case JCS_YCbCr:
	case JCS_RGB:
		ci->out_color_space = JCS_RGB;
		break;
	default:
		/* libjpeg cannot turn CMYK/YCCK into RGB itself. */
		set_err(err, errlen, "JPEG: colour space %d (CMYK or YCCK) "
			"is not supported", (int)ci->jpeg_color_space);
		return -ENOTSUP;
	}
	jpeg_start_decompress(ci);
	w = ci->output_width;
	h = ci->output_height;
	ch = (uint32_t)ci->output_components;
	size = pixels_size(w, h, ch);
	if ((ch != 1 && ch != 3) || !size) {
		set_err(err, errlen, "JPEG: unexpected output (%u channels)",
			ch);
		return -EINVAL;
	}
	stride = (size_t)w * ch;
	c->pixels = malloc(size);
	if (!c->pixels) {
		set_err(err, errlen, "JPEG: out of memory for %ux%u", w, h);
		return -ENOMEM;
	}
	while (ci->output_scanline < h) {
		JSAMPROW row = c->pixels +
			       (size_t)ci->output_scanline * stride;

		jpeg_read_scanlines(ci, &row, 1);
		if (c->eof) {
			set_err(err, errlen, "JPEG: truncated: the data ends "
				"at row %u of %u", ci->output_scanline, h);
			return -EINVAL;
		}
	}
	/* Not jpeg_finish_decompress(): trailing junk after the image is no
	 * reason to refuse the pixels. */
	out->width = w;
	out->height = h;
	out->channels = ch;
	out->data = c->pixels;
	c->pixels = NULL;
	return 0;
}

static int load_jpeg(const uint8_t *data, size_t len, struct image *out,
		     char *err, size_t errlen)
{
	struct jpeg_decompress_struct ci;
	struct jpeg_ctx c;
	int ret;

	memset(&ci, 0, sizeof(ci));
	memset(&c, 0, sizeof(c));
	ci.err = jpeg_std_error(&c.pub);
	c.pub.error_exit = jpeg_ctx_error_exit;
	c.pub.emit_message = jpeg_ctx_emit;
	ret = jpeg_decode(&ci, &c, data, len, out, err, errlen);
	if (c.created)
		jpeg_destroy_decompress(&ci);
	free(c.pixels);
	return ret;
}

/* ---- PPM / PGM ---- */

/*
 * Netpbm's header: magic, then width, height and maxval as decimal
 * numbers separated by whitespace and '#' comments, then exactly one
 * whitespace byte, then the raster.
 */
static int pnm_number(const uint8_t *d, size_t len, size_t *off,
		      const char *what, uint32_t *out, char *err,
		      size_t errlen)
{
	size_t i = *off;
	uint32_t v = 0;
	bool any = false;

	for (;;) {
		if (i >= len) {
			set_err(err, errlen, "PNM: truncated: the header ends "
				"before its %s", what);
			return -EINVAL;
		}
		if (d[i] == '#') {
			while (i < len && d[i] != '\n' && d[i] != '\r')
				i++;
			continue;
		}
		if (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' ||
		    d[i] == '\r' || d[i] == '\v' || d[i] == '\f') {
			i++;
			continue;
		}
		break;
	}
	while (i < len && d[i] >= '0' && d[i] <= '9') {
		if (__builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, (uint32_t)(d[i] - '0'), &v)) {
			set_err(err, errlen, "PNM: %s does not fit in 32 bits",
				what);
			/* Width or height: too big; maxval: invalid. */
			return strcmp(what, "maxval") ? -E2BIG : -EINVAL;
		}
		any = true;
		i++;
	}
	if (!any) {
		set_err(err, errlen, "PNM: %s is not a number", what);
		return -EINVAL;
	}
	if (i >= len) {
		set_err(err, errlen, "PNM: truncated: the header ends after "
			"its %s", what);
		return -EINVAL;
	}
	if (d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r' &&
	    d[i] != '\v' && d[i] != '\f' && d[i] != '#') {
		set_err(err, errlen, "PNM: %s is followed by '%c', not "
			"whitespace", what, d[i] >= 0x20 && d[i] < 0x7f ?
			d[i] : '?');
		return -EINVAL;
	}
	*off = i;
	*out = v;
	return 0;
}

static int load_pnm(const uint8_t *d, size_t len, struct image *out,
		    char *err, size_t errlen)
{
	uint32_t w, h, maxval, ch = d[1] == '6' ? 3 : 1;
	size_t off = 2, size;
	int ret;

	/* The magic is two bytes, then whitespace. */
	if (len < 3 || (d[2] != ' ' && d[2] != '\t' && d[2] != '\n' &&
			d[2] != '\r' && d[2] != '#')) {
		set_err(err, errlen, "PNM: P%c is not followed by whitespace",
			d[1]);
		return -EINVAL;
	}
	ret = pnm_number(d, len, &off, "width", &w, err, errlen);
	if (!ret)
		ret = pnm_number(d, len, &off, "height", &h, err, errlen);
	if (!ret)
		ret = pnm_number(d, len, &off, "maxval", &maxval, err, errlen);
	if (ret)
		return ret;
	ret = check_dims("PNM", w, h, err, errlen);
	if (ret)
		return ret;
	if (!maxval || maxval > 65535) {
		set_err(err, errlen, "PNM: maxval %u is not from 1 to 65535",
			maxval);
		return -EINVAL;
	}
	if (maxval != 255) {
		/* Valid netpbm, but 16-bit and rescaled samples are not
		 * worth a code path here. */
		set_err(err, errlen, "PNM: maxval %u is not supported (only "
			"255: 8-bit samples)", maxval);
		return -ENOTSUP;
	}
	/* Exactly one whitespace byte ends the header (a comment there
	 * would be part of the raster, so it is not skipped). */
	if (d[off] == '#') {
		set_err(err, errlen, "PNM: a comment after maxval");
		return -EINVAL;
	}
	off++;
	size = pixels_size(w, h, ch);
	if (len - off < size) {
		set_err(err, errlen, "PNM: truncated: %zu of %zu raster bytes",
			len - off, size);
		return -EINVAL;
	}
	out->data = malloc(size);
	if (!out->data) {
		set_err(err, errlen, "PNM: out of memory for %ux%u", w, h);
		return -ENOMEM;
	}
	memcpy(out->data, d + off, size);
	out->width = w;
	out->height = h;
	out->channels = ch;
	return 0;
}

/* ---- public ---- */

static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
				      0x1a, '\n' };

int image_load(const char *path, struct image *out, char *err, size_t errlen)
{
	struct image img = { 0 };
	uint8_t *data = NULL;
	size_t len = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	ret = read_file(path, &data, &len, err, errlen);
	if (ret)
		return ret;
	if (!len) {
		set_err(err, errlen, "empty file");
		ret = -EINVAL;
	} else if (len >= 8 && !memcmp(data, png_magic, 8)) {
		ret = load_png(data, len, &img, err, errlen);
	} else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 &&
		   data[2] == 0xff) {
		ret = load_jpeg(data, len, &img, err, errlen);
	} else if (len >= 2 && data[0] == 'P' &&
		   (data[1] == '5' || data[1] == '6')) {
		ret = load_pnm(data, len, &img, err, errlen);
	} else if (len >= 2 && data[0] == 'P' && data[1] >= '1' &&
		   data[1] <= '4') {
		set_err(err, errlen, "PNM P%c (plain text or bitmap) is not "
			"supported: only binary P5 and P6", data[1]);
		ret = -ENOTSUP;
	} else if ((len < 8 && !memcmp(data, png_magic, len)) ||
		   (len < 3 && data[0] == 0xff)) {
		set_err(err, errlen, "truncated: %zu bytes", len);
		ret = -EINVAL;
	} else {
		set_err(err, errlen, "unknown format (not PNG, JPEG, or "
			"binary PPM/PGM)");
		ret = -ENOTSUP;
	}
	free(data);
	if (ret)
		return ret;
	*out = img;
	return 0;
}

void image_free(struct image *img)
{
	if (!img)
		return;
	free(img->data);
	img->data = NULL;
}

int image_alloc(struct image *img, uint32_t width, uint32_t height,
		uint32_t channels)
{
	size_t size;

	if ((channels != 1 && channels != 3) || !width || !height ||
	    width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE)
		return -EINVAL;
	size = pixels_size(width, height, channels);
	img->data = calloc(1, size);
	if (!img->data)
		return -ENOMEM;
	img->width = width;
	img->height = height;
	img->channels = channels;
	return 0;
}

int image_save_png(const char *path, const struct image *img)
{
	png_image pi;
	FILE *f;
	int fd, ret;

	if (!img->data || (img->channels != 1 && img->channels != 3) ||
	    !img->width || !img->height || img->width > IMAGE_MAX_SIDE ||
	    img->height > IMAGE_MAX_SIDE)
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "wb");
	if (!f) {
		ret = -errno;
		close(fd);
		return ret;
	}
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = img->width;
	pi.height = img->height;
	pi.format = img->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
	ret = 0;
	errno = 0;
	if (!png_image_write_to_stdio(&pi, f, 0, img->data,
				      (png_int_32)(img->width * img->channels),
				      NULL))
		ret = errno ? -errno : -EIO;	/* a failed write sets it */
	png_image_free(&pi);
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

void image_to_gray(const struct image *img, uint8_t *gray)
{
	size_t n = (size_t)img->width * img->height, i;
	const uint8_t *p = img->data;

	if (img->channels == 1) {
		memcpy(gray, p, n);
		return;
	}
	/*
	 * OpenCV 4's RGB2GRAY for 8 bits: BT.601 weights in 15-bit fixed
	 * point, rounded; they sum to 1 << 15 so 255 stays 255.  (Its
	 * documented yuv_shift 14 weights differ by 1 on about 0.3% of
	 * colours; these match OpenCV 4.6 on all 2^24.)
	 */
	for (i = 0; i < n; i++, p += 3)
		gray[i] = (uint8_t)((p[0] * 9798u + p[1] * 19235u +
				     p[2] * 3735u + 16384u) >> 15);
}

/* BT.601 limited range, 8-bit integer (the common libyuv/FFmpeg form). */
static inline uint8_t rgb_y(int r, int g, int b)
{
	return (uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
}

static inline uint8_t rgb_u(int r, int g, int b)
{
	return (uint8_t)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
}

static inline uint8_t rgb_v(int r, int g, int b)
{
	return (uint8_t)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
}

/* R, G, B of pixel (x, y); gray images give R = G = B. */
static inline void px(const struct image *img, uint32_t x, uint32_t y,
		      int *r, int *g, int *b)
{
	const uint8_t *p = img->data +
		((size_t)y * img->width + x) * img->channels;

	*r = p[0];
	*g = img->channels == 3 ? p[1] : p[0];
	*b = img->channels == 3 ? p[2] : p[0];
}

/*
 * Luma, then chroma from the mean of each 2x2 block (fewer pixels at an
 * odd edge), written @ustep bytes apart: 1 for I420 planes, 2 for NV12's
 * interleaved plane.
 */
static void rgb_to_yuv420(const struct image *img, uint8_t *yp,
			  size_t ypitch, uint8_t *up, size_t upitch,
			  uint8_t *vp, size_t vpitch, size_t ustep)
{
	uint32_t x, y, cw = (img->width + 1) / 2, ch = (img->height + 1) / 2;
	int r, g, b;

	for (y = 0; y < img->height; y++) {
		uint8_t *row = yp + (size_t)y * ypitch;

		for (x = 0; x < img->width; x++) {
			px(img, x, y, &r, &g, &b);
			row[x] = rgb_y(r, g, b);
		}
	}
	for (y = 0; y < ch; y++) {
		uint8_t *urow = up + (size_t)y * upitch;
		uint8_t *vrow = vp + (size_t)y * vpitch;

		for (x = 0; x < cw; x++) {
			int sr = 0, sg = 0, sb = 0, n = 0;
			uint32_t dx, dy;

			for (dy = 0; dy < 2; dy++) {
				if (2 * y + dy >= img->height)
					break;
				for (dx = 0; dx < 2; dx++) {
					if (2 * x + dx >= img->width)
						break;
					px(img, 2 * x + dx, 2 * y + dy,
					   &r, &g, &b);
					sr += r;
					sg += g;
					sb += b;
					n++;
				}
			}
			sr = (sr + n / 2) / n;
			sg = (sg + n / 2) / n;
			sb = (sb + n / 2) / n;
			urow[x * ustep] = rgb_u(sr, sg, sb);
			vrow[x * ustep] = rgb_v(sr, sg, sb);
		}
	}
}

void image_rgb_to_nv12(const struct image *img, uint8_t *y, size_t ypitch,
		       uint8_t *uv, size_t uvpitch)
{
	rgb_to_yuv420(img, y, ypitch, uv, uvpitch, uv + 1, uvpitch, 2);
}

void image_rgb_to_i420(const struct image *img, uint8_t *y, size_t ypitch,
		       uint8_t *u, size_t upitch, uint8_t *v, size_t vpitch)
{
	rgb_to_yuv420(img, y, ypitch, u, upitch, v, vpitch, 1);
}

static void fill_span(struct image *img, int64_t x0, int64_t y0, int64_t x1,
		      int64_t y1, const uint8_t rgb[3])
{
	int64_t x, y;
	uint8_t gray;

	/* Clip [x0, x1) x [y0, y1) to the image. */
	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > img->width)
		x1 = img->width;
	if (y1 > img->height)
		y1 = img->height;
	if (x0 >= x1 || y0 >= y1)
		return;
	gray = (uint8_t)((rgb[0] * 9798u + rgb[1] * 19235u + rgb[2] * 3735u +
			  16384u) >> 15);
	for (y = y0; y < y1; y++) {
		uint8_t *p = img->data +
			((size_t)y * img->width + (size_t)x0) * img->channels;

		for (x = x0; x < x1; x++) {
			if (img->channels == 3) {
				memcpy(p, rgb, 3);
				p += 3;
			} else {
				*p++ = gray;
			}
		}
	}
}

void image_draw_rect(struct image *img, int x, int y, int w, int h,
		     int thick, const uint8_t rgb[3])
{
	/* 64-bit so x + w cannot overflow; the outline grows inward. */
	int64_t x0 = x, y0 = y, x1 = (int64_t)x + w, y1 = (int64_t)y + h;
	int64_t t = thick;

	if (w <= 0 || h <= 0 || thick <= 0)
		return;
	if (t > w / 2 + 1)
		t = w / 2 + 1;
	if (t > h / 2 + 1)
		t = h / 2 + 1;
	fill_span(img, x0, y0, x1, y0 + t, rgb);		/* top */
	fill_span(img, x0, y1 - t, x1, y1, rgb);		/* bottom */
	fill_span(img, x0, y0 + t, x0 + t, y1 - t, rgb);	/* left */
	fill_span(img, x1 - t, y0 + t, x1, y1 - t, rgb);	/* right */
}
