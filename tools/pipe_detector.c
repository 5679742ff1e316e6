// SPDX-License-Identifier: MIT
/*
 * dmakit pipeline, stage 2: the detector.  Consumer of channel A (frames),
 * producer of channel B (detections).
 *
 * Per frame: the frame's buffer is imported into Vulkan (dmk_vk_import(),
 * cached by buffer identity, so each pool buffer is imported once), a
 * chain converts its luma plane to a GRAY8 image of the detection size
 * (bilinear; one chain per pool buffer, recorded on first use and
 * replayed), the cascade runs on the gray image (detect(): the one place
 * the detector is called), boxes are scaled back to frame coordinates and
 * written into a small buffer from this stage's own pool, published on
 * channel B.  --cpu does the same on the CPU, reading the luma plane
 * through the buffer's mapping (no copy when no resize is needed).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>

#include <dmakit/detect.h>
#include <dmakit/dmakit.h>
#include <dmakit/vk.h>

#include "pipeline.h"
#include "util.h"

#define DISPATCH_WAIT_MS 10
#define RECV_SLICE_NS 100000000ll	/* wake this often to serve B */

/* A channel A buffer as the device sees it. */
struct vk_slot {
	struct dmk_vk_mem *src;		/* cached import, our ref */
	/* luma -> gray -> detection, recorded once */
	struct dmk_vk_chain *chain;
};

struct detector {
	struct pipe_ctx *c;
	const struct pipe_args *a;
	struct dmk_cascade *cascade;
	struct dmk_detect_params params;
	struct dmk_chan *in;		/* channel A, consumer */
	struct dmk_chan *out;		/* channel B, producer */
	struct dmk_pool *results;
	const struct dmk_frame_layout *layout;
	uint32_t det_w, det_h;
	/* Vulkan (not --cpu) */
	struct dmk_vk *vk;
	struct dmk_detector *det;	/* the cascade on the device */
	struct vk_slot *slots;		/* one per channel A buffer */
	unsigned int nslots;
	struct dmk_buf *gray_buf;	/* the chains' output (memfd) */
	struct dmk_vk_mem *gray_mem;
	/* --cpu with a resize: the gray image and the resize taps */
	uint8_t *scratch;
	uint32_t *x0, *x1;
	float *fx;
	struct dmk_rect rects[PIPE_DETS_MAX];
	bool info_done;
};

/* ---- the detector proper ---- */

/*
 * Face detection on the CPU (--cpu): the reference cascade,
 * dmk_detect_cpu(), on one gray image (@gray: det_w x det_h, @stride bytes
 * a row) read through its mapping, the frame's own luma plane when no
 * resize is needed.  On Vulkan the detector's dispatches are recorded in
 * each frame buffer's chain after the conversion (vk_slot_get()) and
 * dmk_detector_collect() gives the same boxes.
 */
static int detect(struct detector *d, const uint8_t *gray, size_t stride,
		  size_t *n)
{
	return dmk_detect_cpu(d->cascade, gray, d->det_w, d->det_h, stride,
			      &d->params, d->rects, PIPE_DETS_MAX, n);
}

/* ---- preprocessing ---- */

static void set_info(struct detector *d, const char *import,
		     const char *device)
{
	struct pipe_shared *sh = d->c->sh;

	if (d->info_done)
		return;
	snprintf(sh->import, sizeof(sh->import), "%s", import);
	snprintf(sh->device, sizeof(sh->device), "%s", device);
	sh->det_w = d->det_w;
	sh->det_h = d->det_h;
	atomic_fetch_or_explicit(&sh->info, PIPE_INFO_DETECTOR,
				 memory_order_release);
	d->info_done = true;
}

/* The Vulkan context and the chains' output buffer. */
static int vk_setup(struct detector *d)
{
	DMK_OPTS(dmk_vk_opts, vo, .device = d->a->device);
	struct dmk_heap *heap;
	uint64_t size = ((uint64_t)d->det_w * d->det_h + 3) & ~3ull;
	int ret;

	/* Even a failed dmk_vk_new() may have loaded a driver. */
	pipe_vulkan_loaded = true;
	ret = dmk_vk_new(&vo, &d->vk);
	if (ret == -ENODEV) {
		if (d->a->device)
			pipe_err(PIPE_DETECTOR, "no Vulkan device matches "
				 "--device %s (--cpu runs the detector on the "
				 "CPU)", d->a->device);
		else
			pipe_err(PIPE_DETECTOR, "no Vulkan device (install "
				 "a driver, e.g. mesa-vulkan-drivers, or use "
				 "--cpu)");
		return ret;
	}
	if (ret) {
		pipe_err(PIPE_DETECTOR, "opening the Vulkan device: %s "
			 "(--cpu runs the detector on the CPU)",
			 dmk_strerror(ret));
		return ret;
	}
	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &heap);
	if (!ret) {
		DMK_OPTS(dmk_alloc_opts, ao, .name = "pipeline-gray",
			 .flags = DMK_ALLOC_POPULATE);

		ret = dmk_heap_alloc(heap, size, &ao, &d->gray_buf);
		dmk_heap_close(heap);
	}
	if (ret) {
		pipe_err(PIPE_DETECTOR, "allocating the gray image: %s",
			 dmk_strerror(ret));
		return ret;
	}
	ret = dmk_vk_import(d->vk, d->gray_buf, NULL, &d->gray_mem);
	if (ret) {
		pipe_err(PIPE_DETECTOR, "importing the gray image into "
			 "Vulkan: %s", dmk_strerror(ret));
		return ret;
	}
	ret = dmk_detector_new(d->vk, d->cascade, d->det_w, d->det_h,
			       &d->params, &d->det);
	if (ret) {
		pipe_err(PIPE_DETECTOR, "setting up the detector on %s: %s",
			 dmk_vk_device_name(d->vk), dmk_strerror(ret));
		return ret;
	}
	return 0;
}

/* Import channel A's buffer @id and record its chain (first use only). */
static int vk_slot_get(struct detector *d, unsigned int id,
		       struct vk_slot **out)
{
	struct vk_slot *s = &d->slots[id];
	struct dmk_buf *buf = dmk_chan_buf(d->in, id);
	int ret;

	if (s->chain) {
		*out = s;
		return 0;
	}
	ret = dmk_vk_import(d->vk, buf, NULL, &s->src);
	if (ret) {
		pipe_err(PIPE_DETECTOR, "importing frame buffer %u into "
			 "Vulkan: %s", id, dmk_strerror(ret));
		return ret;
	}
	ret = dmk_vk_chain_new(d->vk, &s->chain);
	if (!ret) {
		DMK_OPTS(dmk_vk_convert, cv, .kind = DMK_VK_CONVERT_GRAY8,
			 .src = s->src, .src_layout = *d->layout,
			 .dst = d->gray_mem, .dst_offset = 0,
			 .out_w = d->det_w, .out_h = d->det_h);

		ret = dmk_vk_chain_convert(s->chain, &cv);
		if (!ret)
			ret = dmk_detector_record(d->det, s->chain,
						  d->gray_mem, 0, d->det_w);
		if (!ret)
			ret = dmk_vk_chain_end(s->chain);
	}
	if (ret) {
		pipe_err(PIPE_DETECTOR, "recording preprocessing and "
			 "detection for frame buffer %u: %s", id,
			 dmk_strerror(ret));
		dmk_vk_chain_free(s->chain);
		s->chain = NULL;
		dmk_vk_mem_put(s->src);
		s->src = NULL;
		return ret;
	}
	set_info(d, dmk_vk_path_name(dmk_vk_mem_path(s->src)),
		 dmk_vk_device_name(d->vk));
	*out = s;
	return 0;
}

static void vk_teardown(struct detector *d)
{
	unsigned int i;

	/* Chains first (they hold references on the imports), then our
	 * references; the cache entries go with the buffers. */
	for (i = 0; d->slots && i < d->nslots; i++) {
		dmk_vk_chain_free(d->slots[i].chain);
		dmk_vk_mem_put(d->slots[i].src);
	}
	free(d->slots);
	d->slots = NULL;
	dmk_detector_free(d->det);
	d->det = NULL;
	dmk_vk_mem_put(d->gray_mem);
	d->gray_mem = NULL;
}

/*
 * --cpu with a resize: the same bilinear resampling as the GPU's
 * conversion (lib/shaders/convert_nv12_gray.comp: OpenCV's INTER_LINEAR
 * pixel centres, the source coordinate in integers, rounded once), with
 * the taps of every column computed once.
 */
static void axis(uint32_t dpos, uint32_t n_in, uint32_t n_out, uint32_t *i0,
		 uint32_t *i1, float *f)
{
	uint64_t num = (2ull * dpos + 1) * n_in, den = 2ull * n_out;

	*i0 = 0;
	*f = 0;
	if (num > n_out) {
		uint64_t n = num - n_out;

		*i0 = (uint32_t)(n / den);
		*f = (float)(n - *i0 * den) / (float)den;
		if (*i0 >= n_in - 1) {
			*i0 = n_in - 1;
			*f = 0;
		}
	}
	*i1 = *i0 + 1 < n_in ? *i0 + 1 : n_in - 1;
}

static int cpu_setup(struct detector *d)
{
	uint32_t x;

	if (d->det_w == d->layout->width && d->det_h == d->layout->height)
		return 0;	/* detection reads the luma plane in place */
	d->scratch = malloc((size_t)d->det_w * d->det_h);
	d->x0 = calloc(d->det_w, sizeof(*d->x0));
	d->x1 = calloc(d->det_w, sizeof(*d->x1));
	d->fx = calloc(d->det_w, sizeof(*d->fx));
	if (!d->scratch || !d->x0 || !d->x1 || !d->fx) {
		pipe_err(PIPE_DETECTOR, "out of memory");
		return -ENOMEM;
	}
	for (x = 0; x < d->det_w; x++)
		axis(x, d->layout->width, d->det_w, &d->x0[x], &d->x1[x],
		     &d->fx[x]);
	return 0;
}

static void cpu_resize(struct detector *d, const uint8_t *y, size_t pitch)
{
	const struct dmk_frame_layout *l = d->layout;
	uint32_t dx, dy, y0, y1;
	float fy;

	for (dy = 0; dy < d->det_h; dy++) {
		const uint8_t *r0, *r1;
		uint8_t *o = d->scratch + (size_t)dy * d->det_w;

		axis(dy, l->height, d->det_h, &y0, &y1, &fy);
		r0 = y + (size_t)y0 * pitch;
		r1 = y + (size_t)y1 * pitch;
		for (dx = 0; dx < d->det_w; dx++) {
			float fx = d->fx[dx];
			float a = r0[d->x0[dx]] * (1 - fx) + r0[d->x1[dx]] * fx;
			float b = r1[d->x0[dx]] * (1 - fx) + r1[d->x1[dx]] * fx;
			float v = floorf(a * (1 - fy) + b * fy + 0.5f);

			o[dx] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
}

/* ---- per frame ---- */

/* Preprocess and detect frame buffer @id: boxes in d->rects, *@n. */
static int process(struct detector *d, unsigned int id, size_t *n)
{
	const struct dmk_frame_layout *l = d->layout;
	const uint8_t *base = dmk_chan_addr(d->in, id);
	struct vk_slot *s;
	int ret;

	if (d->vk) {
		ret = vk_slot_get(d, id, &s);
		if (ret)
			return ret;
		ret = dmk_vk_chain_run(s->chain);
		if (ret) {
			pipe_err(PIPE_DETECTOR, "running preprocessing and "
				 "detection: %s", dmk_strerror(ret));
			return ret;
		}
		ret = dmk_detector_collect(d->det, d->rects, PIPE_DETS_MAX, n);
	} else if (!d->scratch) {
		ret = detect(d, base + l->offset[0], l->pitch[0], n);
	} else {
		cpu_resize(d, base + l->offset[0], l->pitch[0]);
		ret = detect(d, d->scratch, d->det_w, n);
	}
	if (ret)
		pipe_err(PIPE_DETECTOR, "detection: %s", dmk_strerror(ret));
	return ret;
}

/* Detection coordinates to frame coordinates, clamped to the frame. */
static void to_frame(const struct detector *d, const struct dmk_rect *r,
		     struct pipe_box *b)
{
	double sx = (double)d->layout->width / d->det_w;
	double sy = (double)d->layout->height / d->det_h;
	int64_t x0 = llround(r->x * sx), y0 = llround(r->y * sy);
	int64_t x1 = llround(((int64_t)r->x + r->w) * sx);
	int64_t y1 = llround(((int64_t)r->y + r->h) * sy);

	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > d->layout->width)
		x1 = d->layout->width;
	if (y1 > d->layout->height)
		y1 = d->layout->height;
	b->x = (int32_t)x0;
	b->y = (int32_t)y0;
	b->w = (int32_t)(x1 > x0 ? x1 - x0 : 0);
	b->h = (int32_t)(y1 > y0 ? y1 - y0 : 0);
}

static int dispatch(struct detector *d, int timeout_ms)
{
	int ret = dmk_chan_dispatch(d->out, timeout_ms);

	if (ret == -EINTR)
		return 0;
	if (ret < 0)
		pipe_err(PIPE_DETECTOR, "channel B: %s", dmk_strerror(ret));
	return ret < 0 ? ret : 0;
}

/* Publish @n boxes for the frame @fi on channel B. */
static int publish(struct detector *d, const struct dmk_frame_info *fi,
		   size_t found, uint64_t detect_ns)
{
	struct pipe_dets_meta meta;
	struct dmk_frame_info bi;
	struct pipe_dets *r;
	size_t i, n = found < PIPE_DETS_MAX ? found : PIPE_DETS_MAX;
	int id, ret;

	for (;;) {
		id = dmk_pool_acquire(d->results, 0);
		if (id >= 0)
			break;
		if (pipe_stop)
			return -ECANCELED;
		/* Every result buffer is with the sink: collect releases. */
		ret = dispatch(d, DISPATCH_WAIT_MS);
		if (ret)
			return ret;
	}
	r = dmk_pool_addr(d->results, (unsigned int)id);
	memset(r, 0, sizeof(*r));
	r->magic = PIPE_DETS_MAGIC;
	r->version = PIPE_DETS_VERSION;
	r->hdr_size = sizeof(*r);
	r->frame_id = fi->frame_id;
	r->ts_ns = fi->ts_ns;
	r->width = d->layout->width;
	r->height = d->layout->height;
	r->count = (uint32_t)n;
	r->found = found > UINT32_MAX ? UINT32_MAX : (uint32_t)found;
	r->detect_ns = detect_ns;
	for (i = 0; i < n; i++)
		to_frame(d, &d->rects[i], &r->boxes[i]);

	memset(&bi, 0, sizeof(bi));
	bi.frame_id = fi->frame_id;
	bi.ts_ns = fi->ts_ns;
	meta.frame_id = fi->frame_id;
	meta.count = (uint32_t)n;
	meta.version = PIPE_DETS_VERSION;
	memcpy(bi.meta, &meta, sizeof(meta));
	bi.meta_len = sizeof(meta);
	ret = dmk_chan_publish(d->out, (unsigned int)id, &bi);
	dmk_pool_release(d->results, (unsigned int)id);
	if (ret < 0) {
		pipe_err(PIPE_DETECTOR, "publishing the detections of frame %"
			 PRIu64 ": %s", fi->frame_id, dmk_strerror(ret));
		return ret;
	}
	atomic_fetch_add(&d->c->sh->st[PIPE_DETECTOR].faces, n);
	return dispatch(d, 0);
}

static int run(struct detector *d)
{
	struct pipe_stage_stats *st = &d->c->sh->st[PIPE_DETECTOR];
	struct dmk_chan_stats cs = { .sz = sizeof(cs) };
	struct dmk_frame_info fi;
	uint64_t t0, t1;
	size_t n;
	int id, ret;

	for (;;) {
		if (pipe_stop)
			return 0;
		id = dmk_chan_recv(d->in, &fi, RECV_SLICE_NS);
		if (id == -ETIMEDOUT || id == -EAGAIN || id == -EINTR) {
			ret = dispatch(d, 0);
			if (ret)
				return ret;
			continue;
		}
		if (id == -EPIPE)
			return 0;	/* the reader is done (or gone) */
		if (id < 0) {
			pipe_err(PIPE_DETECTOR, "receiving frames: %s",
				 id == -EPROTO ? "the reader broke the "
				 "protocol" : dmk_strerror(id));
			return id;
		}
		atomic_store(&st->held, 1);
		t0 = now_ns();
		ret = process(d, (unsigned int)id, &n);
		t1 = now_ns();
		dmk_chan_release(d->in, (unsigned int)id);
		atomic_store(&st->held, 0);
		if (ret)
			return ret;	/* process() said why */
		ret = publish(d, &fi, n, t1 - t0);
		if (ret)
			return ret == -ECANCELED ? 0 : ret;
		pipe_count_frame(d->c, PIPE_DETECTOR, t1 - t0);
		dmk_chan_stats(d->in, &cs);
		atomic_store(&st->drops, cs.dropped);
	}
}

static int setup(struct detector *d)
{
	const struct pipe_args *a = d->a;
	struct dmk_chan_opts co;
	struct dmk_heap *heap;
	uint32_t fw, fh;
	int ret;

	ret = dmk_cascade_load(a->cascade, &d->cascade);
	if (ret) {
		pipe_err(PIPE_DETECTOR, "%s: cannot load the cascade: %s",
			 a->cascade, dmk_strerror(ret));
		return ret;
	}
	/* The frame size is known from the input before anything flows. */
	fw = d->c->sh->width;
	fh = d->c->sh->height;
	pipe_detect_size(fw, fh, a->detect_width, &d->det_w, &d->det_h);
	d->params = a->params;
	if (a->min_size) {
		/* --min-size is in frame pixels. */
		d->params.min_w = (uint32_t)(((uint64_t)a->min_size *
					      d->det_w + fw - 1) / fw);
		d->params.min_h = (uint32_t)(((uint64_t)a->min_size *
					      d->det_h + fh - 1) / fh);
	}
	if (!a->cpu) {
		/* Vulkan lives in this process only. */
		ret = vk_setup(d);
		if (ret)
			return ret;
	}

	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &heap);
	if (!ret) {
		DMK_OPTS(dmk_pool_opts, po, .name = "pipeline-dets",
			 .buf_size = PIPE_DETS_BUF_SIZE);

		ret = dmk_pool_new(heap, PIPE_RESULT_BUFS, &po, &d->results);
		dmk_heap_close(heap);
	}
	if (ret) {
		pipe_err(PIPE_DETECTOR, "allocating result buffers: %s",
			 dmk_strerror(ret));
		return ret;
	}
	pipe_chan_opts(&co, PIPE_RESULT_BUFS, a->realtime);
	ret = dmk_chan_serve(d->c->sock_b, d->results, &co, &d->out);
	if (ret) {
		pipe_err(PIPE_DETECTOR, "%s: cannot serve detections there: "
			 "%s", d->c->sock_b, dmk_strerror(ret));
		return ret;
	}

	pipe_set_state(d->c, PIPE_DETECTOR, PIPE_ST_WAITING);
	ret = pipe_connect(d->c->sock_a, "detector", &d->in);
	if (ret) {
		if (ret != -ECANCELED)
			pipe_err(PIPE_DETECTOR, "connecting to the reader: "
				 "%s", dmk_strerror(ret));
		return ret;
	}
	d->layout = dmk_chan_layout(d->in);
	if (!d->layout || !pipe_format_ok(d->layout->fourcc) ||
	    d->layout->width != fw || d->layout->height != fh) {
		pipe_err(PIPE_DETECTOR, "the reader serves frames of another "
			 "layout than the input's");
		return -EPROTO;
	}
	d->nslots = dmk_chan_nbufs(d->in);
	if (d->vk) {
		d->slots = calloc(d->nslots, sizeof(*d->slots));
		if (!d->slots) {
			pipe_err(PIPE_DETECTOR, "out of memory");
			return -ENOMEM;
		}
	} else {
		ret = cpu_setup(d);
		if (ret)
			return ret;
		set_info(d, "cpu", "cpu");
	}
	/* The sink must be listening before the first result. */
	ret = pipe_wait_consumers(d->out, 1);
	if (ret && ret != -ECANCELED)
		pipe_err(PIPE_DETECTOR, "waiting for the sink: %s",
			 dmk_strerror(ret));
	return ret;
}

int pipe_detector_main(struct pipe_ctx *c)
{
	struct detector d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.c = c;
	d.a = c->a;
	ret = setup(&d);
	if (!ret) {
		pipe_set_state(c, PIPE_DETECTOR, PIPE_ST_RUNNING);
		ret = run(&d);
	}
	pipe_set_state(c, PIPE_DETECTOR, ret && ret != -ECANCELED ?
		       PIPE_ST_FAILED : PIPE_ST_DONE);
	/*
	 * Order matters: chains and imports before the channel that owns
	 * the imported buffers (their last put frees the cache entries on
	 * the device), the device last.
	 */
	vk_teardown(&d);
	dmk_chan_close(d.in);
	dmk_buf_put(d.gray_buf);
	dmk_vk_free(d.vk);
	/* Goodbye to the sink: it drains its ring, then sees -EPIPE. */
	dmk_chan_close(d.out);
	dmk_pool_free(d.results);
	dmk_cascade_free(d.cascade);
	free(d.scratch);
	free(d.x0);
	free(d.x1);
	free(d.fx);
	return ret && ret != -ECANCELED ? PIPE_EXIT_REPORTED : 0;
}
