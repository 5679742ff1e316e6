/* SPDX-License-Identifier: MIT */
/*
 * What `dmakit serve`, `dmakit attach` and `dmakit bench handoff` share:
 * the moving test pattern and its metadata, the default socket path,
 * frame sizes by name, the live status line, and latency samples.
 *
 * The pattern is cheap to draw (one memset per row) and cheap to check
 * from a few sampled rows:
 *   plane 0, row r:   every byte (r + frame) & 0xff
 *   other planes:     every byte 128 (neutral chroma)
 *   plane 0, row 0:   its first 16 bytes are the signature instead: the
 *                     frame id and pattern_mix(frame id), little-endian
 * Rows are written over their whole pitch.  The frame's metadata carries
 * a struct pattern_meta with a checksum, so a consumer can tell a frame
 * that is not this pattern's from one that is wrong.
 */
#ifndef DMAKIT_TOOLS_PATTERN_H
#define DMAKIT_TOOLS_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/dmakit.h>

#define PATTERN_MAGIC 0x504b4d44u	/* "DMKP" */
#define PATTERN_VERSION 1
#define PATTERN_SIG_BYTES 16
#define PATTERN_CHROMA 128

/* In struct dmk_frame_info's meta, host byte order (one host). */
struct pattern_meta {
	uint32_t magic;
	uint32_t version;
	uint64_t frame_id;
	uint32_t fourcc;
	uint32_t width;
	uint32_t height;
	uint32_t check;		/* FNV-1a of the bytes above */
};

/* The byte plane @plane, row @row of frame @frame holds. */
static inline uint8_t pattern_value(unsigned int plane, uint32_t row,
				    uint64_t frame)
{
	return plane ? PATTERN_CHROMA : (uint8_t)((row + frame) & 0xff);
}

/* A 64-bit mix of the frame id (splitmix64's finaliser). */
static inline uint64_t pattern_mix(uint64_t v)
{
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ull;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

/* Draw frame @frame into @base, laid out as @l. */
void pattern_draw(const struct dmk_frame_layout *l, void *base,
		  uint64_t frame);

/* Set @fi's frame_id, meta and meta_len for frame @frame of layout @l. */
void pattern_meta_fill(struct dmk_frame_info *fi,
		       const struct dmk_frame_layout *l, uint64_t frame);

/*
 * Check a received frame: its metadata, the layout it names, the
 * signature, and PATTERN_SAMPLE_ROWS rows of every plane over the whole
 * pitch.  @l may be NULL (raw buffers: a failure).
 *
 * Return: true when it matches; otherwise false with the first mismatch in
 * @why.
 */
#define PATTERN_SAMPLE_ROWS 6
bool pattern_verify(const struct dmk_frame_layout *l, const void *base,
		    const struct dmk_frame_info *fi, char *why, size_t len);

/*
 * The socket serve and attach use by default: $XDG_RUNTIME_DIR/dmakit.sock
 * when XDG_RUNTIME_DIR is set (and the result fits), else
 * /tmp/dmakit.sock.  Returns @buf.
 */
const char *pattern_default_socket(char *buf, size_t len);

/*
 * A frame size: "WxH" (e.g. 1280x720) or a name: 480p, 720p, 1080p,
 * 1440p, 2160p or 4k.  Return: 0, -EINVAL.
 */
int pattern_parse_size(const char *s, uint32_t *w, uint32_t *h);

/*
 * The options serve, attach and bench handoff share: --socket PATH into
 * @buf (at most 107 bytes, the sun_path limit) and --slots N (a power of
 * two up to DMK_CHAN_MAX_SLOTS).  0, or EXIT_USAGE after a usage error.
 */
int pattern_opt_socket(const char *arg, char *buf, size_t len);
int pattern_opt_slots(const char *arg, unsigned int *slots);

/* ---- the live status line on stderr ---- */

struct status_line {
	bool tty;		/* rewrite one line with \r, else lines */
	bool shown;		/* a \r line is on screen */
	uint64_t interval_ns;	/* 250 ms on a tty, 2 s otherwise */
	uint64_t last_ns;
};

void status_init(struct status_line *s);
/* Whether a new status line is due at @now (and mark it printed). */
bool status_due(struct status_line *s, uint64_t now);
/* Print one status line (no newline in @fmt). */
__attribute__((format(printf, 2, 3)))
void status_print(struct status_line *s, const char *fmt, ...);
/* End the line on screen, if any, so other output starts clean. */
void status_done(struct status_line *s);

/* ---- latency samples ---- */

/*
 * Up to @cap samples kept; past that, reservoir sampling keeps a uniform
 * sample of everything seen, so percentiles stay honest however long it
 * runs.  The maximum is exact.  Nothing is allocated per sample.
 */
struct lat_rec {
	uint64_t *ns;
	size_t cap, n;
	uint64_t seen;
	uint64_t max;
	uint64_t rng;
};

/* Allocate (and touch) room for @cap samples: 0 or -ENOMEM. */
int lat_init(struct lat_rec *r, size_t cap);
void lat_free(struct lat_rec *r);
void lat_reset(struct lat_rec *r);

static inline void lat_add(struct lat_rec *r, uint64_t v)
{
	if (v > r->max)
		r->max = v;
	if (r->n < r->cap) {
		r->ns[r->n++] = v;
	} else if (r->cap) {
		/* xorshift64 */
		uint64_t x = r->rng, j;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r->rng = x;
		j = x % (r->seen + 1);
		if (j < r->cap)
			r->ns[j] = v;
	}
	r->seen++;
}

#endif /* DMAKIT_TOOLS_PATTERN_H */
