// SPDX-License-Identifier: MIT
/*
 * dmakit pipeline, stage 3: the sink.  Consumer of channel B (detections)
 * and second consumer of channel A (frames).  It writes one JSON line per
 * frame's detections and, every --png-every frames, the frame converted to
 * RGB with its boxes drawn, as a PNG.
 *
 * Frames and detections travel separately, so frames from A are held
 * until the detections for them arrive from B, at most SINK_HOLD of each.
 * Both rings are FIFO, so matching is by order: a frame older than the
 * oldest detection has lost its detections (dropped on B under
 * --realtime) and is let go; a detection whose frame is not held while a
 * newer frame is (dropped on A) is written without a picture.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "image.h"
#include "pipeline.h"
#include "util.h"

#define SINK_HOLD 4		/* frames (and detections) held at most */
#define POLL_MS 200		/* wake this often to look at pipe_stop */
/* A JSON line: the frame's fields and up to PIPE_DETS_MAX boxes of at
 * most 4 x 11 digits and the punctuation around them. */
#define LINE_MAX_BYTES (256 + PIPE_DETS_MAX * 72)

struct held {
	unsigned int id;	/* buffer id in its channel */
	uint64_t frame_id;
};

struct sink {
	struct pipe_ctx *c;
	const struct pipe_args *a;
	struct dmk_chan *in_a;		/* frames */
	struct dmk_chan *in_b;		/* detections */
	const struct dmk_frame_layout *layout;
	struct held frames[SINK_HOLD];
	unsigned int nframes;
	struct held dets[SINK_HOLD];
	unsigned int ndets;
	bool a_done, b_done;
	bool a_empty;			/* A's ring was empty just now */
	struct image rgb;		/* the PNG's pixels, made once */
	union {
		struct pipe_dets d;
		char bytes[PIPE_DETS_BUF_SIZE];
	} res;
	char line[LINE_MAX_BYTES];
	uint64_t pngs;
};

int pipe_dets_check(const void *buf, size_t size, uint64_t frame_id,
		    uint32_t width, uint32_t height, struct pipe_dets *out,
		    char *why, size_t len)
{
	const struct pipe_dets *in = buf;
	uint64_t room;
	uint32_t i, count;

	/* One copy of the header first: the peer may write meanwhile. */
	if (size < sizeof(*in)) {
		snprintf(why, len, "result buffer of %zu bytes", size);
		return -EPROTO;
	}
	memcpy(out, in, sizeof(*out));
	if (out->magic != PIPE_DETS_MAGIC ||
	    out->version != PIPE_DETS_VERSION) {
		snprintf(why, len, "bad magic 0x%08x or version %u",
			 out->magic, out->version);
		return -EPROTO;
	}
	if (out->hdr_size < sizeof(*out) || out->hdr_size > size ||
	    out->hdr_size % sizeof(int32_t)) {
		snprintf(why, len, "header size %u", out->hdr_size);
		return -EPROTO;
	}
	count = out->count;
	room = (size - out->hdr_size) / sizeof(struct pipe_box);
	if (count > PIPE_DETS_MAX || count > room || count > out->found) {
		snprintf(why, len, "%u boxes (room for %" PRIu64 ", %u found)",
			 count, room < PIPE_DETS_MAX ? room : PIPE_DETS_MAX,
			 out->found);
		return -EPROTO;
	}
	if (out->frame_id != frame_id || out->width != width ||
	    out->height != height) {
		snprintf(why, len, "frame %" PRIu64 " %ux%u where frame %"
			 PRIu64 " %ux%u was announced", out->frame_id,
			 out->width, out->height, frame_id, width, height);
		return -EPROTO;
	}
	memcpy(out->boxes, (const char *)buf + out->hdr_size,
	       (size_t)count * sizeof(struct pipe_box));
	out->count = count;
	out->hdr_size = sizeof(*out);
	for (i = 0; i < count; i++) {
		const struct pipe_box *b = &out->boxes[i];

		if (b->x < 0 || b->y < 0 || b->w <= 0 || b->h <= 0 ||
		    (int64_t)b->x + b->w > width ||
		    (int64_t)b->y + b->h > height) {
			snprintf(why, len, "box %u (%d,%d %dx%d) outside the "
				 "%ux%u frame", i, b->x, b->y, b->w, b->h,
				 width, height);
			return -EPROTO;
		}
	}
	return 0;
}

/* ---- output ---- */

/* All of @len bytes, in one write() when the kernel takes them: a line
 * is never left half written by a stop between lines. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int json_line(struct sink *s, const struct pipe_dets *r,
		     const char *png)
{
	size_t off = 0, cap = sizeof(s->line);
	uint32_t i;
	int n;

	n = snprintf(s->line, cap, "{\"frame\":%" PRIu64 ",\"ts_ns\":%" PRIu64
		     ",\"width\":%u,\"height\":%u,\"faces\":[", r->frame_id,
		     r->ts_ns, r->width, r->height);
	off = (size_t)n;
	for (i = 0; i < r->count && off < cap; i++) {
		const struct pipe_box *b = &r->boxes[i];

		n = snprintf(s->line + off, cap - off, "%s{\"x\":%d,\"y\":%d,"
			     "\"w\":%d,\"h\":%d}", i ? "," : "", b->x, b->y,
			     b->w, b->h);
		off += (size_t)n;
	}
	if (off < cap) {
		n = snprintf(s->line + off, cap - off, "],\"found\":%u,"
			     "\"detect_us\":%.1f%s%s%s}\n", r->found,
			     r->detect_ns / 1e3, png ? ",\"png\":\"" : "",
			     png ? png : "", png ? "\"" : "");
		off += (size_t)n;
	}
	if (off >= cap) {
		/* Cannot happen with LINE_MAX_BYTES; never write a cut
		 * line. */
		pipe_err(PIPE_SINK, "frame %" PRIu64 ": JSON line too long",
			 r->frame_id);
		return -EOVERFLOW;
	}
	n = write_all(s->c->json_fd, s->line, off);
	if (n)
		pipe_err(PIPE_SINK, "%s: %s", s->a->json_path, strerror(-n));
	return n;
}

static uint8_t clamp8(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* The frame at @base to RGB: BT.601 limited range for YUV, gray as is. */
static void frame_to_rgb(const struct dmk_frame_layout *l,
			 const uint8_t *base, struct image *img)
{
	uint32_t x, y;

	for (y = 0; y < l->height; y++) {
		size_t cy = y / 2;
		const uint8_t *yr = base + l->offset[0] +
				    (size_t)y * l->pitch[0];
		const uint8_t *ur = NULL, *vr = NULL;
		uint8_t *o = img->data + (size_t)y * l->width * 3;

		if (l->fourcc == DRM_FORMAT_YUV420) {
			ur = base + l->offset[1] + cy * l->pitch[1];
			vr = base + l->offset[2] + cy * l->pitch[2];
		} else if (l->fourcc == DRM_FORMAT_NV12) {
			ur = base + l->offset[1] + cy * l->pitch[1];
		}
		for (x = 0; x < l->width; x++, o += 3) {
			int c = 298 * (yr[x] - 16), d, e;

			if (!ur) {
				o[0] = o[1] = o[2] = yr[x];
				continue;
			}
			if (vr) {
				d = ur[x / 2] - 128;
				e = vr[x / 2] - 128;
			} else {
				d = ur[(x / 2) * 2] - 128;
				e = ur[(x / 2) * 2 + 1] - 128;
			}
			o[0] = clamp8((c + 409 * e + 128) >> 8);
			o[1] = clamp8((c - 100 * d - 208 * e + 128) >> 8);
			o[2] = clamp8((c + 516 * d + 128) >> 8);
		}
	}
}

/* The annotated frame as OUTDIR/frame-NNNNNN.png; its name in @name.
 * Written under a temporary name and renamed, so a reader (or a stop)
 * never sees half a picture. */
static int write_png(struct sink *s, const struct pipe_dets *r,
		     const uint8_t *base, char *name, size_t len)
{
	static const uint8_t green[3] = { 0, 255, 0 };
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	uint32_t i;
	int thick = s->layout->width >= 640 ? 3 : 2, ret;

	frame_to_rgb(s->layout, base, &s->rgb);
	for (i = 0; i < r->count; i++)
		image_draw_rect(&s->rgb, r->boxes[i].x, r->boxes[i].y,
				r->boxes[i].w, r->boxes[i].h, thick, green);
	snprintf(name, len, "frame-%06" PRIu64 ".png", r->frame_id);
	snprintf(path, sizeof(path), "%s/%s", s->a->out_dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", s->a->out_dir, name);
	ret = image_save_png(tmp, &s->rgb);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		pipe_err(PIPE_SINK, "%s: %s", path, dmk_strerror(ret));
		return ret;
	}
	s->pngs++;
	atomic_store(&s->c->sh->st[PIPE_SINK].extra, s->pngs);
	return 0;
}

/* ---- matching ---- */

static void release_frame(struct sink *s)
{
	/* -EPIPE: the reader is gone, nothing to give back to. */
	dmk_chan_release(s->in_a, s->frames[0].id);
	memmove(s->frames, s->frames + 1,
		--s->nframes * sizeof(s->frames[0]));
}

/* Write the oldest detections, with the held frame when @with_frame. */
static int emit(struct sink *s, bool with_frame)
{
	const struct held *h = &s->dets[0];
	struct pipe_dets *r = &s->res.d;
	char why[160], name[64];
	uint64_t t0 = now_ns();
	bool png;
	int ret;

	ret = pipe_dets_check(dmk_chan_addr(s->in_b, h->id),
			      dmk_buf_size(dmk_chan_buf(s->in_b, h->id)),
			      h->frame_id, s->layout->width, s->layout->height,
			      r, why, sizeof(why));
	if (ret) {
		pipe_err(PIPE_SINK, "the detector sent bad detections for "
			 "frame %" PRIu64 ": %s", h->frame_id, why);
		return ret;
	}
	png = with_frame && s->a->png_every &&
	      r->frame_id % s->a->png_every == 0;
	if (png) {
		ret = write_png(s, r, dmk_chan_addr(s->in_a, s->frames[0].id),
				name, sizeof(name));
		if (ret)
			return ret;
	}
	ret = json_line(s, r, png ? name : NULL);
	if (ret)
		return ret;
	atomic_fetch_add(&s->c->sh->st[PIPE_SINK].faces, r->count);
	pipe_count_frame(s->c, PIPE_SINK, now_ns() - t0);
	dmk_chan_release(s->in_b, h->id);
	memmove(s->dets, s->dets + 1, --s->ndets * sizeof(s->dets[0]));
	if (with_frame)
		release_frame(s);
	return 0;
}

/* Pair detections with frames; see the top of the file. */
static int match(struct sink *s, bool *progress)
{
	int ret;

	while (s->ndets) {
		uint64_t want = s->dets[0].frame_id;

		while (s->nframes && s->frames[0].frame_id < want) {
			release_frame(s);	/* its detections were lost */
			*progress = true;
		}
		if (s->nframes && s->frames[0].frame_id == want)
			ret = emit(s, true);
		else if (s->nframes || s->a_done)
			ret = emit(s, false);	/* its frame was dropped */
		else
			break;	/* the frame is on its way: wait for it */
		if (ret)
			return ret;
		*progress = true;
	}
	if (s->b_done && !s->ndets) {
		/* No detections will come for what is still held. */
		while (s->nframes) {
			release_frame(s);
			*progress = true;
		}
	}
	return 0;
}

/* dmk_chan_recv() with no wait; 1 frame, 0 none, -EPIPE end, -errno. */
static int take(struct dmk_chan *ch, struct dmk_frame_info *fi)
{
	int id = dmk_chan_recv(ch, fi, 0);

	if (id == -EAGAIN || id == -EINTR)
		return 0;
	return id < 0 ? id : 1;
}

static int intake(struct sink *s, bool *progress)
{
	struct dmk_frame_info fi;
	struct pipe_dets_meta meta;
	int ret;

	s->a_empty = false;
	while (!s->a_done && s->nframes < SINK_HOLD) {
		ret = take(s->in_a, &fi);
		if (ret == 0) {
			s->a_empty = true;
			break;
		}
		if (ret == -EPIPE) {
			s->a_done = true;
			break;
		}
		if (ret < 0) {
			pipe_err(PIPE_SINK, "receiving frames: %s",
				 ret == -EPROTO ? "the reader broke the "
				 "protocol" : dmk_strerror(ret));
			return ret;
		}
		if (s->b_done) {
			/* Nothing will be drawn on it: let it go now. */
			dmk_chan_release(s->in_a, fi.buf_id);
		} else {
			s->frames[s->nframes].id = fi.buf_id;
			s->frames[s->nframes++].frame_id = fi.frame_id;
		}
		*progress = true;
	}
	while (!s->b_done && s->ndets < SINK_HOLD) {
		ret = take(s->in_b, &fi);
		if (ret == 0)
			break;
		if (ret == -EPIPE) {
			s->b_done = true;
			break;
		}
		if (ret < 0) {
			pipe_err(PIPE_SINK, "receiving detections: %s",
				 ret == -EPROTO ? "the detector broke the "
				 "protocol" : dmk_strerror(ret));
			return ret;
		}
		memcpy(&meta, fi.meta, sizeof(meta));
		if (fi.meta_len != sizeof(meta) ||
		    meta.frame_id != fi.frame_id ||
		    meta.version != PIPE_DETS_VERSION ||
		    meta.count > PIPE_DETS_MAX ||
		    (s->ndets &&
		     fi.frame_id <= s->dets[s->ndets - 1].frame_id)) {
			pipe_err(PIPE_SINK, "the detector sent bad metadata "
				 "for frame %" PRIu64, fi.frame_id);
			dmk_chan_release(s->in_b, fi.buf_id);
			return -EPROTO;
		}
		s->dets[s->ndets].id = fi.buf_id;
		s->dets[s->ndets++].frame_id = fi.frame_id;
		*progress = true;
	}
	return 0;
}

static void update_stats(struct sink *s)
{
	struct pipe_stage_stats *st = &s->c->sh->st[PIPE_SINK];
	struct dmk_chan_stats cb = { .sz = sizeof(cb) };

	/*
	 * Frames lost here are detections reclaimed from our ring on B (no
	 * line for them).  A frame lost on A still gets its line, without
	 * a picture; a frame whose detections never came was counted by
	 * the detector (or on B) already.
	 */
	dmk_chan_stats(s->in_b, &cb);
	atomic_store(&st->drops, cb.dropped);
	atomic_store(&st->held, s->nframes + s->ndets);
}

static int run(struct sink *s)
{
	struct pollfd pfd[2];
	bool progress;
	int ret;
	nfds_t n;

	for (;;) {
		if (pipe_stop)
			return 0;
		progress = false;
		ret = intake(s, &progress);
		if (!ret)
			ret = match(s, &progress);
		if (ret)
			return ret;
		update_stats(s);
		if (s->a_done && s->b_done && !s->ndets && !s->nframes)
			return 0;
		if (progress)
			continue;
		/* Sleep on what we are ready to take: a full queue waits
		 * for the other channel (match() guarantees one of them
		 * is open, see the top of the file). */
		n = 0;
		if (!s->a_done && s->nframes < SINK_HOLD)
			pfd[n++] = (struct pollfd){ .fd = dmk_chan_fd(s->in_a),
						    .events = POLLIN };
		if (!s->b_done && s->ndets < SINK_HOLD)
			pfd[n++] = (struct pollfd){ .fd = dmk_chan_fd(s->in_b),
						    .events = POLLIN };
		if (poll(pfd, n, POLL_MS) < 0 && errno != EINTR) {
			pipe_err(PIPE_SINK, "poll: %s", strerror(errno));
			return -errno;
		}
	}
}

static int setup(struct sink *s)
{
	const struct dmk_frame_layout *l;
	int ret;

	pipe_set_state(s->c, PIPE_SINK, PIPE_ST_WAITING);
	/* B first: the detector waits for us there before it takes frames
	 * from A, and the reader waits for both of its consumers. */
	ret = pipe_connect(s->c->sock_b, "sink", &s->in_b);
	if (!ret)
		ret = pipe_connect(s->c->sock_a, "sink", &s->in_a);
	if (ret) {
		if (ret != -ECANCELED)
			pipe_err(PIPE_SINK, "connecting to the %s: %s",
				 s->in_b ? "reader" : "detector",
				 dmk_strerror(ret));
		return ret;
	}
	l = dmk_chan_layout(s->in_a);
	if (!l || !pipe_format_ok(l->fourcc) ||
	    l->width != s->c->sh->width || l->height != s->c->sh->height) {
		pipe_err(PIPE_SINK, "the reader serves frames of another "
			 "layout than the input's");
		return -EPROTO;
	}
	s->layout = l;
	if (s->a->png_every) {
		s->rgb.width = l->width;
		s->rgb.height = l->height;
		s->rgb.channels = 3;
		s->rgb.data = malloc((size_t)l->width * l->height * 3);
		if (!s->rgb.data) {
			pipe_err(PIPE_SINK, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

int pipe_sink_main(struct pipe_ctx *c)
{
	struct sink *s;
	int ret;

	/* Big (the line buffer): on the heap, not the stack. */
	s = calloc(1, sizeof(*s));
	if (!s) {
		pipe_err(PIPE_SINK, "out of memory");
		close(c->json_fd);
		return PIPE_EXIT_REPORTED;
	}
	s->c = c;
	s->a = c->a;
	ret = setup(s);
	if (!ret) {
		pipe_set_state(c, PIPE_SINK, PIPE_ST_RUNNING);
		ret = run(s);
	}
	if (s->in_a && s->in_b)
		update_stats(s);
	pipe_set_state(c, PIPE_SINK, ret && ret != -ECANCELED ?
		       PIPE_ST_FAILED : PIPE_ST_DONE);
	if (close(c->json_fd) && !ret) {
		pipe_err(PIPE_SINK, "%s: %s", s->a->json_path, strerror(errno));
		ret = -EIO;
	}
	/* Held buffers go back with the goodbyes. */
	dmk_chan_close(s->in_a);
	dmk_chan_close(s->in_b);
	free(s->rgb.data);
	free(s);
	return ret && ret != -ECANCELED ? PIPE_EXIT_REPORTED : 0;
}
