// SPDX-License-Identifier: MIT
/*
 * The moving test pattern of serve, attach and bench handoff, and the few
 * things those three share besides (see pattern.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"
#include "util.h"

#define STATUS_TTY_NS 250000000ull	/* at most 4 lines a second */
#define STATUS_PLAIN_NS 2000000000ull

static void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t fnv1a(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t h = 0x811c9dc5u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x01000193u;
	}
	return h;
}

void pattern_draw(const struct dmk_frame_layout *l, void *base,
		  uint64_t frame)
{
	uint8_t *plane;
	unsigned int p;
	uint32_t r;

	for (p = 0; p < l->nplanes; p++) {
		plane = (uint8_t *)base + l->offset[p];
		if (p) {
			memset(plane, PATTERN_CHROMA, l->plane_size[p]);
			continue;
		}
		for (r = 0; r < l->plane_height[0]; r++)
			memset(plane + (size_t)r * l->pitch[0],
			       pattern_value(0, r, frame), l->pitch[0]);
	}
	if (l->nplanes && l->plane_height[0] &&
	    l->pitch[0] >= PATTERN_SIG_BYTES) {
		plane = (uint8_t *)base + l->offset[0];
		put_le64(plane, frame);
		put_le64(plane + 8, pattern_mix(frame));
	}
}

void pattern_meta_fill(struct dmk_frame_info *fi,
		       const struct dmk_frame_layout *l, uint64_t frame)
{
	struct pattern_meta m = {
		.magic = PATTERN_MAGIC,
		.version = PATTERN_VERSION,
		.frame_id = frame,
		.fourcc = l->fourcc,
		.width = l->width,
		.height = l->height,
	};

	m.check = fnv1a(&m, offsetof(struct pattern_meta, check));
	fi->frame_id = frame;
	fi->meta_len = sizeof(m);
	memcpy(fi->meta, &m, sizeof(m));
}

/* Index of the first byte of @p[0 .. n) that is not @v, or @n. */
static size_t first_mismatch(const uint8_t *p, size_t n, uint8_t v)
{
	uint64_t want = 0x0101010101010101ull * v, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (w != want)
			break;
	}
	for (; i < n; i++)
		if (p[i] != v)
			return i;
	return n;
}

bool pattern_verify(const struct dmk_frame_layout *l, const void *base,
		    const struct dmk_frame_info *fi, char *why, size_t len)
{
	struct pattern_meta m;
	char a[11], b[11];
	const uint8_t *plane, *row;
	uint64_t frame = fi->frame_id, sig;
	uint32_t rows[PATTERN_SAMPLE_ROWS], ph, start;
	unsigned int p, k;
	size_t bad;

	if (fi->meta_len != sizeof(m)) {
		snprintf(why, len, "frame %" PRIu64 ": %u bytes of metadata, "
			 "not %zu: not dmakit serve's pattern", frame,
			 fi->meta_len, sizeof(m));
		return false;
	}
	memcpy(&m, fi->meta, sizeof(m));
	if (m.magic != PATTERN_MAGIC || m.version != PATTERN_VERSION ||
	    m.check != fnv1a(&m, offsetof(struct pattern_meta, check))) {
		snprintf(why, len, "frame %" PRIu64 ": metadata is not dmakit "
			 "serve's pattern (bad magic, version or checksum)",
			 frame);
		return false;
	}
	if (m.frame_id != frame) {
		snprintf(why, len, "frame %" PRIu64 ": its metadata says "
			 "frame %" PRIu64, frame, m.frame_id);
		return false;
	}
	if (!l) {
		snprintf(why, len, "frame %" PRIu64 ": raw buffers, no frame "
			 "layout to check against", frame);
		return false;
	}
	if (m.fourcc != l->fourcc || m.width != l->width ||
	    m.height != l->height) {
		snprintf(why, len, "frame %" PRIu64 ": metadata says %s "
			 "%ux%u, the channel's layout is %s %ux%u", frame,
			 dmk_fourcc_to_str(m.fourcc, a), m.width, m.height,
			 dmk_fourcc_to_str(l->fourcc, b), l->width, l->height);
		return false;
	}
	for (p = 0; p < l->nplanes; p++) {
		plane = (const uint8_t *)base + l->offset[p];
		ph = l->plane_height[p];
		if (!ph || !l->pitch[p])
			continue;
		if (p == 0 && l->pitch[0] >= PATTERN_SIG_BYTES) {
			sig = get_le64(plane);
			if (sig != frame ||
			    get_le64(plane + 8) != pattern_mix(frame)) {
				snprintf(why, len, "frame %" PRIu64 ": the "
					 "signature in the pixels says frame %"
					 PRIu64 "%s", frame, sig,
					 sig == frame ? " (checksum wrong)" :
					 "");
				return false;
			}
		}
		/* First, second, a third, middle, last, and one that
		 * moves with the frame. */
		rows[0] = 0;
		rows[1] = ph > 1 ? 1 : 0;
		rows[2] = ph / 3;
		rows[3] = ph / 2;
		rows[4] = ph - 1;
		rows[5] = (uint32_t)(pattern_mix(frame) % ph);
		for (k = 0; k < PATTERN_SAMPLE_ROWS; k++) {
			uint8_t v = pattern_value(p, rows[k], frame);

			row = plane + (size_t)rows[k] * l->pitch[p];
			start = p == 0 && rows[k] == 0 &&
				l->pitch[0] >= PATTERN_SIG_BYTES ?
				PATTERN_SIG_BYTES : 0;
			bad = start + first_mismatch(row + start,
						     l->pitch[p] - start, v);
			if (bad < l->pitch[p]) {
				snprintf(why, len, "frame %" PRIu64 ": plane "
					 "%u row %u byte %zu is %u, not %u",
					 frame, p, rows[k], bad, row[bad], v);
				return false;
			}
		}
	}
	return true;
}

const char *pattern_default_socket(char *buf, size_t len)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	int n;

	if (dir && *dir) {
		n = snprintf(buf, len, "%s/dmakit.sock", dir);
		/* sun_path holds 107 bytes and a NUL. */
		if (n > 0 && (size_t)n < len && n <= 107)
			return buf;
	}
	snprintf(buf, len, "/tmp/dmakit.sock");
	return buf;
}

int pattern_parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	static const struct {
		const char *name;
		uint32_t w, h;
	} names[] = {
		{ "480p", 640, 480 },
		{ "720p", 1280, 720 },
		{ "1080p", 1920, 1080 },
		{ "1440p", 2560, 1440 },
		{ "2160p", 3840, 2160 },
		{ "4k", 3840, 2160 },
	};
	uint64_t vw, vh;
	const char *x;
	char num[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcasecmp(s, names[i].name)) {
			*w = names[i].w;
			*h = names[i].h;
			return 0;
		}
	}
	x = strpbrk(s, "xX");
	if (!x || (size_t)(x - s) >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, (size_t)(x - s));
	num[x - s] = '\0';
	if (parse_uint(num, 1, 65535, &vw) || parse_uint(x + 1, 1, 65535, &vh))
		return -EINVAL;
	*w = (uint32_t)vw;
	*h = (uint32_t)vh;
	return 0;
}

/* ---- status line ---- */

void status_init(struct status_line *s)
{
	memset(s, 0, sizeof(*s));
	s->tty = isatty(STDERR_FILENO);
	s->interval_ns = s->tty ? STATUS_TTY_NS : STATUS_PLAIN_NS;
	s->last_ns = now_ns();
}

bool status_due(struct status_line *s, uint64_t now)
{
	if (now - s->last_ns < s->interval_ns)
		return false;
	s->last_ns = now;
	return true;
}

void status_print(struct status_line *s, const char *fmt, ...)
{
	va_list ap;

	if (s->tty)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (s->tty)
		s->shown = true;
	else
		fputc('\n', stderr);
	fflush(stderr);
}

void status_done(struct status_line *s)
{
	if (s->shown) {
		fputc('\n', stderr);
		fflush(stderr);
	}
	s->shown = false;
}

/* ---- latency samples ---- */

int lat_init(struct lat_rec *r, size_t cap)
{
	void *p = MAP_FAILED;

	memset(r, 0, sizeof(*r));
	if (cap)
		p = mmap(NULL, cap * sizeof(uint64_t), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (cap && p == MAP_FAILED)
		return -ENOMEM;
	r->ns = cap ? p : NULL;
	r->cap = cap;
	r->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	return 0;
}

void lat_free(struct lat_rec *r)
{
	if (r->ns)
		munmap(r->ns, r->cap * sizeof(uint64_t));
	memset(r, 0, sizeof(*r));
}

void lat_reset(struct lat_rec *r)
{
	r->n = 0;
	r->seen = 0;
	r->max = 0;
}

int pattern_opt_socket(const char *arg, char *buf, size_t len)
{
	if (!*arg)
		return tool_usage_err("--socket: empty path");
	if (strlen(arg) > 107 || strlen(arg) >= len)
		return tool_usage_err("--socket: a unix socket path is at most "
				      "107 bytes");
	snprintf(buf, len, "%s", arg);
	return 0;
}

int pattern_opt_slots(const char *arg, unsigned int *slots)
{
	uint64_t v;

	if (parse_uint(arg, 1, DMK_CHAN_MAX_SLOTS, &v) || (v & (v - 1)))
		return tool_usage_err("--slots: '%s' is not a power of two "
				      "from 1 to %d", arg, DMK_CHAN_MAX_SLOTS);
	*slots = (unsigned int)v;
	return 0;
}
