/* SPDX-License-Identifier: MIT */
/*
 * dmakit pipeline: what the supervisor (cmd_pipeline.c) and its three
 * stages (pipe_reader.c, pipe_detector.c, pipe_sink.c) share.
 *
 *   reader --channel A (frames)--> detector --channel B (boxes)--> sink
 *      `-----------channel A (frames, second consumer)-------------
 *
 * Each stage is a forked child of the supervisor (no exec), so they share
 * the parsed arguments by value and a small MAP_SHARED stats block
 * (struct pipe_shared) that the supervisor reads for its status line and
 * summary.  Channel B carries one small buffer per frame holding a
 * struct pipe_dets; the sink treats it as hostile input
 * (pipe_dets_check()).
 */
#ifndef DMAKIT_TOOLS_PIPELINE_H
#define DMAKIT_TOOLS_PIPELINE_H

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/detect.h>
#include <dmakit/dmakit.h>

enum pipe_stage {
	PIPE_READER = 0,
	PIPE_DETECTOR = 1,
	PIPE_SINK = 2,
	PIPE_NSTAGES = 3,
};

/* A stage's life, as the status line shows it. */
enum pipe_state {
	PIPE_ST_STARTING = 0,	/* forked, setting up */
	PIPE_ST_WAITING = 1,	/* waiting for its peers to connect */
	PIPE_ST_RUNNING = 2,
	PIPE_ST_DRAINING = 3,	/* input ended, finishing what it holds */
	PIPE_ST_DONE = 4,
	PIPE_ST_FAILED = 5,
};

/*
 * Exit status of a stage: 0, or PIPE_EXIT_REPORTED when it already said
 * why on stderr (one line), so the supervisor does not add its own.  Any
 * other status (a signal, a sanitizer's exit code) is reported by the
 * supervisor.
 */
#define PIPE_EXIT_REPORTED 1

/* Default cascades (Debian's opencv-data). */
#define PIPE_CASCADE_LBP \
	"/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"
#define PIPE_CASCADE_HAAR \
	"/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

#define PIPE_DEFAULT_POOL 8
#define PIPE_MAX_POOL 1024		/* DMK_CHAN_MAX_SLOTS: lossless */
#define PIPE_MIN_POOL 4		/* readahead 2, one in use, one out */
#define PIPE_DEFAULT_PNG_EVERY 30
#define PIPE_DEFAULT_DETECT_W 640
#define PIPE_RESULT_BUFS 8		/* channel B's pool */
#define PIPE_READAHEAD 2

struct pipe_args {
	char input[PATH_MAX];
	bool input_default;		/* no INPUT: the bundled clip */
	uint32_t fourcc;		/* raw input (--format); 0: Y4M */
	uint32_t width, height;		/* raw input (--size) */
	char cascade[PATH_MAX];
	struct dmk_detect_params params;
	uint32_t min_size;		/* --min-size in frame pixels */
	const char *device;		/* --device; NULL: the default */
	bool cpu;
	const char *heap;		/* --heap, default auto */
	char out_dir[PATH_MAX];
	char json_path[PATH_MAX];
	uint64_t png_every;		/* 0: none */
	uint64_t frames;		/* 0: until the input ends */
	bool loop;
	bool realtime;
	unsigned int pool;
	uint32_t detect_width;		/* 0: the frame's own width */
	bool quiet;
	bool json_summary;
	const char *pids;
};

/* One stage's counters, written by the stage, read by the supervisor. */
struct pipe_stage_stats {
	_Atomic uint32_t state;		/* enum pipe_state */
	_Atomic uint32_t held;		/* buffers held now */
	_Atomic uint64_t frames;	/* frames done */
	/*
	 * Frames lost on the way in, each counted once: the detector's
	 * are frames reclaimed from its ring on A, the sink's detections
	 * reclaimed from its ring on B (--realtime only).
	 */
	_Atomic uint64_t drops;
	_Atomic uint64_t faces;		/* detector, sink: boxes */
	_Atomic uint64_t first_ns;	/* CLOCK_MONOTONIC of frame 1 */
	_Atomic uint64_t last_ns;	/* ... of the last frame */
	_Atomic uint64_t busy_ns;	/* time spent on frames */
	_Atomic uint64_t extra;		/* reader: loops; sink: PNGs */
};

#define PIPE_INFO_READER 1u	/* backend, frame_io, format written */
#define PIPE_INFO_DETECTOR 2u	/* import, device, det size written */

struct pipe_shared {
	struct pipe_stage_stats st[PIPE_NSTAGES];
	/*
	 * Written once by the stage that owns them, then published by
	 * setting its bit in @info (release); read after an acquire load.
	 */
	_Atomic uint32_t info;
	char backend[32];		/* reader: the pool's heap */
	char frame_io[16];		/* reader: direct, planes, copy */
	char read_path[16];		/* reader: io_uring path */
	uint32_t width, height;		/* reader: the frames */
	char import[16];		/* detector: host, dmabuf, ..., cpu */
	char device[96];		/* detector: Vulkan device or "cpu" */
	uint32_t det_w, det_h;		/* detector: detection size */
};

/* What a stage gets from the supervisor. */
struct pipe_ctx {
	const struct pipe_args *a;
	struct pipe_shared *sh;
	char sock_a[108];		/* frames */
	char sock_b[108];		/* detections */
	int json_fd;			/* sink: detections.jsonl, owned */
};

/* Set by SIGTERM in a stage: stop at the next frame boundary. */
extern volatile sig_atomic_t pipe_stop;

/*
 * Set by a stage that loaded a Vulkan driver: its exit skips the
 * LeakSanitizer check (ASan builds).  lavapipe orphans a block when the
 * loader unloads it, which tests/lsan.supp can only match with slow
 * unwinding (fast_unwind_on_malloc=0), and slow unwinding deadlocks
 * lavapipe's LLVM JIT (see cmd_pipeline.c).
 */
extern bool pipe_vulkan_loaded;

int pipe_reader_main(struct pipe_ctx *c);
int pipe_detector_main(struct pipe_ctx *c);
int pipe_sink_main(struct pipe_ctx *c);

/* ---- channel B's buffers ---- */

#define PIPE_DETS_MAGIC 0x53544544u	/* "DETS" */
#define PIPE_DETS_VERSION 1
#define PIPE_DETS_MAX 256		/* boxes one result carries */

struct pipe_box {
	int32_t x, y, w, h;
};

/*
 * One frame's detections, at the start of a channel B buffer (one
 * process's host byte order: both ends are the same binary).  A reader
 * checks magic and version, skips @hdr_size bytes to the boxes (so later
 * versions can grow the header) and bounds @count by the buffer's size.
 */
struct pipe_dets {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;		/* offset of boxes[] */
	uint64_t frame_id;
	uint64_t ts_ns;			/* the frame's, from channel A */
	uint32_t width, height;		/* the frame the boxes are in */
	uint32_t count;			/* boxes that follow */
	uint32_t found;			/* found (> count: truncated) */
	uint64_t detect_ns;		/* preprocessing + detection */
	struct pipe_box boxes[];
};

/* Channel B's frame metadata (struct dmk_frame_info.meta). */
struct pipe_dets_meta {
	uint64_t frame_id;
	uint32_t count;
	uint32_t version;
};

#define PIPE_DETS_BUF_SIZE \
	(sizeof(struct pipe_dets) + PIPE_DETS_MAX * sizeof(struct pipe_box))

/*
 * Validate a detections buffer a peer wrote: magic, version, header size,
 * count within the buffer and PIPE_DETS_MAX, frame id and size as
 * expected, every box non-empty and inside the frame.  Copies the header
 * and boxes out (the peer cannot change them after the check) into @out,
 * which has room for PIPE_DETS_MAX boxes.
 * Return: 0, or -EPROTO with why in @why.
 */
int pipe_dets_check(const void *buf, size_t size, uint64_t frame_id,
		    uint32_t width, uint32_t height, struct pipe_dets *out,
		    char *why, size_t len);

/* ---- helpers for the stages (cmd_pipeline.c) ---- */

/* "dmakit pipeline: <stage>: <message>" on stderr, one line. */
__attribute__((format(printf, 2, 3)))
void pipe_err(enum pipe_stage st, const char *fmt, ...);

const char *pipe_stage_name(enum pipe_stage st);

void pipe_set_state(struct pipe_ctx *c, enum pipe_stage st,
		    enum pipe_state state);

/* Count one frame done by @st, which took @busy_ns of work. */
void pipe_count_frame(struct pipe_ctx *c, enum pipe_stage st,
		      uint64_t busy_ns);

/*
 * Connect to a producer's socket, retrying while it is not there yet
 * (the producer may still be starting), until pipe_stop or 60 s.
 * Return: 0, -ECANCELED (stopped), or the last error.
 */
int pipe_connect(const char *path, const char *name, struct dmk_chan **out);

/*
 * Run a producer's dispatch until @n consumers are ready, or pipe_stop.
 * Return: 0, -ECANCELED, or dispatch's -errno.
 */
int pipe_wait_consumers(struct dmk_chan *ch, unsigned int n);

/*
 * A channel's options: lossless (a ring as deep as the pool, so a pool
 * runs dry before any ring fills and nothing is ever reclaimed), or, for
 * --realtime, the library's default ring, which drops a lagging
 * consumer's oldest frames.
 */
void pipe_chan_opts(struct dmk_chan_opts *o, unsigned int pool_count,
		    bool realtime);

/* Whether a frame format has an 8-bit luma plane 0 the stages can use. */
bool pipe_format_ok(uint32_t fourcc);

/* The detection image size for a frame (aspect kept, width capped). */
void pipe_detect_size(uint32_t w, uint32_t h, uint32_t cap, uint32_t *dw,
		      uint32_t *dh);

#endif /* DMAKIT_TOOLS_PIPELINE_H */
