/* SPDX-License-Identifier: MIT */
/* Stream and Y4M internals shared by stream.c, y4m.c and the tests. */
#ifndef DMK_STREAM_INTERNAL_H
#define DMK_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/stream.h>

/* Largest width or height accepted: 16384 * 16384 * 1.5 fits anywhere. */
#define DMK_Y4M_MAX_DIM 16384
/* Bytes of the stream header read at most (tags, X comments). */
#define DMK_Y4M_HEADER_MAX 4096
/* Bytes of one FRAME line ("FRAME" + parameters + '\n') at most. */
#define DMK_Y4M_FRAME_HDR_MAX 256

/* A parsed Y4M stream header. */
struct dmk__y4m {
	uint32_t width, height;
	uint32_t fps_num, fps_den;	/* F; 0/0 when absent */
	uint32_t par_num, par_den;	/* A; 0/0 when absent */
	char interlace;			/* I: p t b m ?; 0 when absent */
	char colorspace[32];		/* C as written; "" when absent */
	uint32_t fourcc;		/* DRM_FORMAT_YUV420 or DRM_FORMAT_R8 */
	size_t header_len;		/* bytes up to and including '\n' */
};

/*
 * Parse the stream header at the start of @data (@len bytes, all the file
 * has when @len < DMK_Y4M_HEADER_MAX).  @err gets one line on failure.
 *
 * Return: 0, -EBADMSG (not Y4M, malformed, truncated), -ENOTSUP (colour
 * space), -EFBIG (dimensions).
 */
int dmk__y4m_parse(const char *data, size_t len, struct dmk__y4m *h,
		   char *err, size_t errlen);

/*
 * Check a FRAME line at the start of @data (@len bytes; fewer than
 * DMK_Y4M_FRAME_HDR_MAX only when the file ends there) and give its length
 * with the newline.
 *
 * Return: 0, -EBADMSG (no "FRAME" marker, or a line over the maximum),
 * -ENODATA (the file ends inside the line).
 */
int dmk__y4m_frame_header(const char *data, size_t len, size_t *hdr_len);

/* Write a stream header for @h (W, H, F, I, A when set, C) into @buf.
 * Return: its length, or -ENOSPC. */
int dmk__y4m_format(const struct dmk__y4m *h, char *buf, size_t len);

/* The tight layout of frames in a file: pitch = row bytes, planes back to
 * back.  0, or dmk_frame_layout_init()'s -errno. */
int dmk__frame_tight_layout(struct dmk_frame_layout *l, uint32_t fourcc,
			    uint32_t width, uint32_t height);

#endif /* DMK_STREAM_INTERNAL_H */
