// SPDX-License-Identifier: MIT
/*
 * dmakit pipeline, stage 1: the reader.  A pool of frame buffers laid out
 * as the input's frames, served on channel A; frames are streamed from the
 * file into pool buffers through io_uring (dmk_frame_source, read-ahead
 * overlapping the consumers' work) and published with frame_id = the frame
 * number (counting on across --loop restarts).
 *
 * Flow control: by default the ring is as deep as the pool, so when the
 * consumers lag the pool runs dry and the reader waits (lossless: every
 * frame reaches both consumers).  With --realtime frames are paced at the
 * file's rate and the default ring lets a lagging consumer lose its oldest
 * frames instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <dmakit/dmakit.h>

#include "pipeline.h"
#include "util.h"

#define DISPATCH_WAIT_MS 10	/* waiting for a consumer to release */

struct reader {
	struct pipe_ctx *c;
	const struct pipe_args *a;
	struct dmk_pool *pool;
	struct dmk_chan *ch;
	struct dmk_frame_source *src;
	char err[256];
	uint64_t period_ns;	/* --realtime; 0: as fast as consumed */
	uint64_t next_ns;
	uint64_t n;		/* frames published */
	uint64_t loops;
};

static int open_source(struct reader *r, struct dmk_frame_source **out)
{
	const struct pipe_args *a = r->a;
	/*
	 * A 1 ns acquire timeout: when every buffer is out, next() says
	 * -ETIMEDOUT (not sticky, unlike the default -ENOBUFS) and we go
	 * collect releases with dmk_chan_dispatch(), which is the only
	 * thing that frees buffers here.
	 */
	DMK_OPTS(dmk_frame_source_opts, fo, .fourcc = a->fourcc,
		 .width = a->width, .height = a->height,
		 .readahead = PIPE_READAHEAD, .acquire_timeout_ns = 1,
		 .errmsg = r->err, .errmsg_len = sizeof(r->err));
	int ret;

	r->err[0] = '\0';
	ret = dmk_frame_source_open(a->input, 0, &fo, out);
	if (ret && !strncmp(r->err, a->input, strlen(a->input)))
		pipe_err(PIPE_READER, "%s", r->err);
	else if (ret)
		pipe_err(PIPE_READER, "%s: %s", a->input,
			 r->err[0] ? r->err : dmk_strerror(ret));
	return ret;
}

/*
 * A heap for the pool: pinnable pages are what the pipeline needs (io_uring
 * fixed buffers and O_DIRECT reads into them, host-pointer import into
 * Vulkan), which "auto" serves from memfd.  A dma-buf is not asked for:
 * neither lavapipe nor NVIDIA imports one, and on Linux 6.1 consumers that
 * mapped a udmabuf's dma-buf made the kernel report "Bad page map" at
 * unmap (drivers-notes/udmabuf.md); --heap udmabuf still asks for it.
 */
static int open_heap(struct reader *r, struct dmk_heap **out)
{
	DMK_OPTS(dmk_heap_opts, ho, .needs = DMK_CAP_PINNABLE);
	const char *name = r->a->heap;
	int ret;

	if (!strcmp(name, DMK_HEAP_AUTO)) {
		ret = dmk_heap_open(name, &ho, out);
		if (ret != -ENOTSUP)
			return ret;
	}
	ret = dmk_heap_open(name, NULL, out);
	if (ret) {
		const char *hint = tool_hint(name, ret);

		pipe_err(PIPE_READER, "--heap %s: %s%s%s%s", name,
			 dmk_strerror(ret), hint ? " (" : "", hint ? hint : "",
			 hint ? ")" : "");
	}
	return ret;
}

static int setup(struct reader *r)
{
	struct pipe_shared *sh = r->c->sh;
	const struct dmk_frame_layout *l;
	struct dmk_heap *heap = NULL;
	struct dmk_chan_opts co;
	const char *why;
	uint32_t num, den;
	int ret, path;

	ret = open_source(r, &r->src);
	if (ret)
		return ret;
	l = dmk_frame_source_layout(r->src);
	if (!pipe_format_ok(l->fourcc)) {
		char fcc[11];

		pipe_err(PIPE_READER, "%s: %s frames; the pipeline takes "
			 "YUV420, NV12 or GRAY8", r->a->input,
			 dmk_fourcc_to_str(l->fourcc, fcc));
		return -ENOTSUP;
	}
	ret = open_heap(r, &heap);
	if (ret)
		return ret;
	{
		/* The file's tight layout: one read per frame, straight
		 * into the buffer (DMK_FRAME_IO_DIRECT). */
		DMK_OPTS(dmk_pool_opts, po, .name = "pipeline-frames",
			 .layout = l);

		ret = dmk_pool_new(heap, r->a->pool, &po, &r->pool);
	}
	snprintf(sh->backend, sizeof(sh->backend), "%s", dmk_heap_name(heap));
	dmk_heap_close(heap);
	if (ret) {
		pipe_err(PIPE_READER, "allocating %u frame buffers of %" PRIu64
			 " bytes: %s", r->a->pool, l->size, dmk_strerror(ret));
		return ret;
	}
	ret = dmk_frame_source_start(r->src, r->pool);
	if (ret) {
		pipe_err(PIPE_READER, "starting the reads: %s",
			 dmk_strerror(ret));
		return ret;
	}
	snprintf(sh->frame_io, sizeof(sh->frame_io), "%s",
		 dmk_frame_io_name(dmk_frame_source_io(r->src)));
	path = dmk_stream_path(dmk_frame_source_stream(r->src), 0, &why);
	snprintf(sh->read_path, sizeof(sh->read_path), "%s",
		 dmk_stream_path_name(path));
	atomic_fetch_or_explicit(&sh->info, PIPE_INFO_READER,
				 memory_order_release);

	if (r->a->realtime) {
		dmk_frame_source_rate(r->src, &num, &den);
		if (!num || !den) {
			num = 30;	/* raw files carry no rate */
			den = 1;
		}
		r->period_ns = (uint64_t)den * 1000000000ull / num;
	}

	pipe_chan_opts(&co, r->a->pool, r->a->realtime);
	ret = dmk_chan_serve(r->c->sock_a, r->pool, &co, &r->ch);
	if (ret)
		pipe_err(PIPE_READER, "%s: cannot serve frames there: %s",
			 r->c->sock_a, dmk_strerror(ret));
	return ret;
}

/* dmk_chan_dispatch(), a signal not being an error. */
static int dispatch(struct reader *r, int timeout_ms)
{
	int ret = dmk_chan_dispatch(r->ch, timeout_ms);

	if (ret == -EINTR)
		return 0;
	if (ret < 0)
		pipe_err(PIPE_READER, "channel: %s", dmk_strerror(ret));
	return ret < 0 ? ret : 0;
}

/* --realtime: wait for the frame's slot, serving the channel meanwhile. */
static int pace(struct reader *r)
{
	uint64_t now = now_ns();
	int ret;

	if (!r->next_ns || now >= r->next_ns + r->period_ns) {
		/* First frame, or late by a whole frame: restart the clock
		 * rather than sending a burst to catch up. */
		r->next_ns = now;
		return 0;
	}
	while (!pipe_stop && now < r->next_ns) {
		uint64_t left_ms = (r->next_ns - now) / 1000000;

		if (left_ms >= 2) {
			ret = dispatch(r, (int)(left_ms - 1));
			if (ret)
				return ret;
		} else {
			struct timespec ts = {
				.tv_sec = (time_t)(r->next_ns / 1000000000),
				.tv_nsec = (long)(r->next_ns % 1000000000),
			};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					NULL);
		}
		now = now_ns();
	}
	return 0;
}

/* The end of the file with --loop: start it again. */
static int restart(struct reader *r)
{
	struct dmk_frame_source *src;
	int ret;

	ret = open_source(r, &src);
	if (ret)
		return ret;
	dmk_frame_source_close(r->src);	/* gives its read-ahead back */
	r->src = src;
	ret = dmk_frame_source_start(r->src, r->pool);
	if (ret) {
		pipe_err(PIPE_READER, "starting the reads again: %s",
			 dmk_strerror(ret));
		return ret;
	}
	r->loops++;
	atomic_store(&r->c->sh->st[PIPE_READER].extra, r->loops);
	return 0;
}

static int run(struct reader *r)
{
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	struct dmk_frame_info fi;
	struct dmk_frame_ref fr;
	uint64_t t0;
	int ret;

	while (!pipe_stop && (!r->a->frames || r->n < r->a->frames)) {
		t0 = now_ns();
		ret = dmk_frame_source_next(r->src, &fr);
		if (ret == -ETIMEDOUT || ret == -EINTR) {
			/* Every buffer is with the consumers. */
			ret = dispatch(r, DISPATCH_WAIT_MS);
			if (ret)
				return ret;
			continue;
		}
		if (ret == 0) {
			if (!r->a->loop)
				return 0;
			if (r->n == 0) {
				pipe_err(PIPE_READER, "%s: no frames to loop "
					 "over", r->a->input);
				return -ENODATA;
			}
			ret = restart(r);
			if (ret)
				return ret;
			continue;
		}
		if (ret < 0) {
			const char *e = dmk_frame_source_error(r->src);

			pipe_err(PIPE_READER, "%s: %s", r->a->input,
				 e[0] ? e : dmk_strerror(ret));
			return ret;
		}
		if (r->period_ns) {
			ret = pace(r);
			if (ret) {
				dmk_pool_release(r->pool, fr.id);
				return ret;
			}
			r->next_ns += r->period_ns;
		}
		memset(&fi, 0, sizeof(fi));
		fi.frame_id = r->n;
		fi.ts_ns = 0;	/* stamped at publish */
		ret = dmk_chan_publish(r->ch, fr.id, &fi);
		/* Our own hold: the consumers have theirs now. */
		dmk_pool_release(r->pool, fr.id);
		if (ret < 0) {
			pipe_err(PIPE_READER, "publishing frame %" PRIu64
				 ": %s", r->n, dmk_strerror(ret));
			return ret;
		}
		r->n++;
		pipe_count_frame(r->c, PIPE_READER, now_ns() - t0);
		ret = dispatch(r, 0);
		if (ret)
			return ret;
		dmk_pool_stats(r->pool, &ps);
		atomic_store(&r->c->sh->st[PIPE_READER].held, ps.in_use);
	}
	return 0;
}

int pipe_reader_main(struct pipe_ctx *c)
{
	struct reader r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.a = c->a;
	ret = setup(&r);
	if (!ret) {
		/* Both consumers (detector and sink) must be there before
		 * frame 0, or it would reach only one of them. */
		pipe_set_state(c, PIPE_READER, PIPE_ST_WAITING);
		ret = pipe_wait_consumers(r.ch, 2);
		if (ret && ret != -ECANCELED)
			pipe_err(PIPE_READER, "waiting for consumers: %s",
				 dmk_strerror(ret));
	}
	if (!ret) {
		pipe_set_state(c, PIPE_READER, PIPE_ST_RUNNING);
		ret = run(&r);
	}
	pipe_set_state(c, PIPE_READER, ret && ret != -ECANCELED ?
		       PIPE_ST_FAILED : PIPE_ST_DONE);
	/* The goodbye: consumers drain their rings, then see -EPIPE. */
	dmk_frame_source_close(r.src);
	dmk_chan_close(r.ch);
	dmk_pool_free(r.pool);
	return ret && ret != -ECANCELED ? PIPE_EXIT_REPORTED : 0;
}
