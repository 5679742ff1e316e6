// SPDX-License-Identifier: MIT
/*
 * dmakit stream: copy a file into pool buffers through io_uring (and
 * optionally back out to another file), with a live progress line and a
 * summary that says which I/O path ran and why.  --frames reads a Y4M or
 * raw video file frame by frame instead, with read-ahead, and writes the
 * frames back out as Y4M.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "util.h"

#define DEFAULT_BUFS 4
#define DEFAULT_BUF_SIZE (8ull << 20)
#define DEFAULT_QD 8
#define DEFAULT_CHUNK (1ull << 20)
#define PROGRESS_NS 200000000ull

enum progress_mode { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF };

struct stream_args {
	const char *input;
	const char *out;
	const char *heap;
	unsigned int bufs;
	uint64_t buf_size;
	unsigned int qd;
	uint64_t chunk;
	unsigned int flags;		/* DMK_STREAM_* */
	bool frames;
	uint32_t fourcc;		/* 0: Y4M */
	char format[16];
	uint32_t width, height;
	unsigned int readahead;
	unsigned int pitch_align;
	bool raw_out;
	enum progress_mode progress;
	bool json;
};

static const char stream_help[] =
	"Usage: dmakit stream [options] INPUT\n"
	"       dmakit stream --frames FORMAT [--size WxH] [options] INPUT\n"
	"\n"
	"Copy INPUT into buffers from a pool, chunk by chunk through\n"
	"io_uring, and optionally back out to --out.  A live progress line\n"
	"(bytes, GB/s, the I/O path) goes to stderr; a summary, or with\n"
	"--json one JSON object, to stdout.\n"
	"\n"
	"Paths, fastest first: fixed+direct (registered buffers, O_DIRECT),\n"
	"direct, fixed, buffered (page cache), sync (pread/pwrite: no\n"
	"io_uring).  Each is taken only where the kernel, the file and the\n"
	"memory allow it; the summary says which ran and why.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE      write what was read to FILE (created or\n"
	"                      truncated; frames: as Y4M where the format\n"
	"                      allows, else raw)\n"
	"  --heap NAME         where buffers come from: auto (default:\n"
	"                      pinnable pages), memfd, udmabuf, or a dma-heap\n"
	"                      name (system, ...)\n"
	"  --bufs N            buffers in the pool (default 4; frames:\n"
	"                      readahead + 2)\n"
	"  --buf-size SIZE     bytes per buffer (default 8M; not --frames)\n"
	"  --qd N              chunks in flight, 1-4096 (default 8)\n"
	"  --chunk SIZE        bytes per chunk (default 1M)\n"
	"  --direct auto|off   O_DIRECT where aligned (default auto)\n"
	"  --fixed auto|off    registered buffers (default auto)\n"
	"  --sync              no io_uring: pread/pwrite\n"
	"  --sqpoll            kernel submission polling thread (opt-in:\n"
	"                      it spins a core; never on a 2-core machine)\n"
	"  --frames FORMAT     read frames: y4m, or a raw file of nv12,\n"
	"                      gray8, yuv420 (i420), ... frames\n"
	"  --size WxH          frame size of a raw file\n"
	"  --readahead K       frames read ahead of the one in hand\n"
	"                      (default 2)\n"
	"  --pitch-align N     row pitch of the pool's frames, a power of\n"
	"                      two (default 1: the file's own layout, read\n"
	"                      straight into the buffers)\n"
	"  --raw-out           --frames: write bare frames, no Y4M framing\n"
	"  --progress          always show the progress line\n"
	"  --no-progress       never show it (default: when stderr is a\n"
	"                      terminal)\n"
	"  --json              one JSON object instead of the text summary\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok, 1 an I/O or setup failure, 2 usage.\n";

void cmd_stream_usage(FILE *f)
{
	fputs(stream_help, f);
}

static int parse_sz(const char *opt, const char *s, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char a[32], b[32];

	if (parse_size(s, out) || *out < min || *out > max)
		return tool_usage_err("%s: '%s' is not a size from %s to %s",
				      opt, s, fmt_size(min, a, sizeof(a)),
				      fmt_size(max, b, sizeof(b)));
	return 0;
}

static int parse_wxh(const char *s, uint32_t *w, uint32_t *h)
{
	char *x = strchr(s, 'x');
	char wbuf[16];
	uint64_t v;

	if (!x || (size_t)(x - s) >= sizeof(wbuf))
		return -EINVAL;
	memcpy(wbuf, s, (size_t)(x - s));
	wbuf[x - s] = '\0';
	if (parse_uint(wbuf, 1, 65535, &v))
		return -EINVAL;
	*w = (uint32_t)v;
	if (parse_uint(x + 1, 1, 65535, &v))
		return -EINVAL;
	*h = (uint32_t)v;
	return 0;
}

static int parse_onoff(const char *opt, const char *s, unsigned int bit,
		       unsigned int *flags)
{
	if (!strcmp(s, "auto"))
		*flags &= ~bit;
	else if (!strcmp(s, "off"))
		*flags |= bit;
	else
		return tool_usage_err("%s: '%s' is not auto or off", opt, s);
	return 0;
}

static int parse_args(int argc, char **argv, struct stream_args *a)
{
	enum { OPT_HEAP = 256, OPT_BUFS, OPT_BUF_SIZE, OPT_QD, OPT_CHUNK,
	       OPT_DIRECT, OPT_FIXED, OPT_SYNC, OPT_SQPOLL, OPT_FRAMES,
	       OPT_SIZE, OPT_READAHEAD, OPT_PITCH, OPT_RAW_OUT, OPT_PROGRESS,
	       OPT_NO_PROGRESS, OPT_JSON };
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "heap", required_argument, NULL, OPT_HEAP },
		{ "bufs", required_argument, NULL, OPT_BUFS },
		{ "buf-size", required_argument, NULL, OPT_BUF_SIZE },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "direct", required_argument, NULL, OPT_DIRECT },
		{ "fixed", required_argument, NULL, OPT_FIXED },
		{ "sync", no_argument, NULL, OPT_SYNC },
		{ "sqpoll", no_argument, NULL, OPT_SQPOLL },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "readahead", required_argument, NULL, OPT_READAHEAD },
		{ "pitch-align", required_argument, NULL, OPT_PITCH },
		{ "raw-out", no_argument, NULL, OPT_RAW_OUT },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_size = false, have_bufs = false;
	uint64_t v;
	size_t i;
	int c, ret;

	memset(a, 0, sizeof(*a));
	a->heap = DMK_HEAP_AUTO;
	a->bufs = DEFAULT_BUFS;
	a->buf_size = DEFAULT_BUF_SIZE;
	a->qd = DEFAULT_QD;
	a->chunk = DEFAULT_CHUNK;
	a->readahead = 2;
	a->pitch_align = 1;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				return tool_usage_err("--out: empty path");
			a->out = optarg;
			break;
		case OPT_HEAP:
			if (!*optarg)
				return tool_usage_err("--heap: empty name");
			a->heap = optarg;
			break;
		case OPT_BUFS:
			if (parse_uint(optarg, 1, DMK_POOL_MAX, &v))
				return tool_usage_err("--bufs: '%s' is not a "
					"number from 1 to %u", optarg,
					DMK_POOL_MAX);
			a->bufs = (unsigned int)v;
			have_bufs = true;
			break;
		case OPT_BUF_SIZE:
			ret = parse_sz("--buf-size", optarg, 1, 1ull << 40,
				       &a->buf_size);
			if (ret)
				return ret;
			break;
		case OPT_QD:
			if (parse_uint(optarg, 1, DMK_STREAM_MAX_DEPTH, &v))
				return tool_usage_err("--qd: '%s' is not a "
					"number from 1 to %u", optarg,
					DMK_STREAM_MAX_DEPTH);
			a->qd = (unsigned int)v;
			break;
		case OPT_CHUNK:
			ret = parse_sz("--chunk", optarg, 1,
				       DMK_STREAM_MAX_CHUNK, &a->chunk);
			if (ret)
				return ret;
			break;
		case OPT_DIRECT:
			ret = parse_onoff("--direct", optarg,
					  DMK_STREAM_NO_DIRECT, &a->flags);
			if (ret)
				return ret;
			break;
		case OPT_FIXED:
			ret = parse_onoff("--fixed", optarg,
					  DMK_STREAM_NO_FIXED, &a->flags);
			if (ret)
				return ret;
			break;
		case OPT_SYNC:
			a->flags |= DMK_STREAM_NO_URING;
			break;
		case OPT_SQPOLL:
			a->flags |= DMK_STREAM_SQPOLL;
			break;
		case OPT_FRAMES:
			a->frames = true;
			if (strlen(optarg) >= sizeof(a->format))
				return tool_usage_err("--frames: '%s' is not a "
						      "format", optarg);
			for (i = 0; optarg[i]; i++)
				a->format[i] = (char)toupper(
					(unsigned char)optarg[i]);
			a->format[i] = '\0';
			if (!strcmp(a->format, "Y4M")) {
				a->fourcc = 0;
				break;
			}
			if (dmk_fourcc_from_str(a->format, &a->fourcc) ||
			    !dmk_frame_format_supported(a->fourcc))
				return tool_usage_err("--frames: '%s' is not "
					"y4m or a raw format such as nv12, "
					"gray8, yuv420", optarg);
			break;
		case OPT_SIZE:
			if (parse_wxh(optarg, &a->width, &a->height))
				return tool_usage_err("--size: '%s' is not "
					"WIDTHxHEIGHT such as 1920x1080",
					optarg);
			have_size = true;
			break;
		case OPT_READAHEAD:
			if (parse_uint(optarg, 1, 1024, &v))
				return tool_usage_err("--readahead: '%s' is "
					"not a number from 1 to 1024", optarg);
			a->readahead = (unsigned int)v;
			break;
		case OPT_PITCH:
			if (parse_uint(optarg, 1, 4096, &v) || (v & (v - 1)))
				return tool_usage_err("--pitch-align: '%s' is "
					"not a power of two up to 4096",
					optarg);
			a->pitch_align = (unsigned int)v;
			break;
		case OPT_RAW_OUT:
			a->raw_out = true;
			break;
		case OPT_PROGRESS:
			a->progress = PROGRESS_ON;
			break;
		case OPT_NO_PROGRESS:
			a->progress = PROGRESS_OFF;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_stream_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind >= argc)
		return tool_usage_err("which file? give INPUT");
	a->input = argv[optind++];
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	if (a->frames && a->fourcc && !have_size)
		return tool_usage_err("--frames %s: raw frames need --size "
				      "WxH", a->format);
	if (have_size && (!a->frames || !a->fourcc))
		return tool_usage_err("--size is for raw --frames formats "
				      "(a Y4M file carries its own)");
	if (!a->frames && (a->raw_out || a->pitch_align != 1))
		return tool_usage_err("--raw-out and --pitch-align go with "
				      "--frames");
	if (a->frames && !have_bufs)
		a->bufs = a->readahead + 2;
	if (a->frames && a->bufs < a->readahead + 1)
		return tool_usage_err("--bufs %u: --readahead %u needs at "
				      "least %u", a->bufs, a->readahead,
				      a->readahead + 1);
	return 0;
}

/* ---- shared: heap, progress, summary ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct run {
	struct stream_args *a;
	struct dmk_heap *heap;
	struct dmk_pool *pool;
	struct dmk_stream *s;		/* reads (file 0), writes (file 1) */
	struct dmk_stream *out_s;	/* frames: the sink's */
	uint64_t total;			/* input size, 0 unknown */
	uint64_t bytes, written, frames;
	uint64_t t0, last_progress;
	bool progress;
	bool progress_shown;
	const char *frame_io;
	char err[512];
};

static int open_heap(struct run *r)
{
	DMK_OPTS(dmk_heap_opts, ho);
	const char *hint;
	int ret;

	/* auto: pages that can be pinned, so every fast path is open. */
	if (!strcmp(r->a->heap, DMK_HEAP_AUTO))
		ho.needs = DMK_CAP_PINNABLE;
	ret = dmk_heap_open(r->a->heap, &ho, &r->heap);
	if (ret) {
		hint = tool_hint(r->a->heap, ret);
		tool_err("--heap %s: %s%s%s%s", r->a->heap, dmk_strerror(ret),
			 hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	}
	return ret;
}

static int ran_path(struct dmk_stream *s)
{
	DMK_OPTS(dmk_stream_stats, st);

	if (!s || dmk_stream_stats(s, &st))
		return DMK_STREAM_PATH_NONE;
	return (int)st.ran;
}

/* A size for people: "812.3 MiB", "1.50 GiB". */
static const char *fmt_human(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ull << 30))
		snprintf(buf, len, "%.2f GiB", v / (double)(1ull << 30));
	else if (v >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", v / (double)(1ull << 20));
	else if (v >= (1ull << 10))
		snprintf(buf, len, "%.1f KiB", v / (double)(1ull << 10));
	else
		snprintf(buf, len, "%" PRIu64 " B", v);
	return buf;
}

/* A stream's counters and, for each of its @nfiles files, the best path
 * and why. */
static void progress(struct run *r, bool final)
{
	uint64_t now = now_ns();
	double secs = (now - r->t0) / 1e9;
	char a[32], b[32];

	if (!r->progress || (!final && now - r->last_progress < PROGRESS_NS))
		return;
	r->last_progress = now;
	fputs("\r\033[K", stderr);
	if (r->a->frames)
		fprintf(stderr, "  %" PRIu64 " frames  %s  %.1f fps", r->frames,
			fmt_human(r->bytes, a, sizeof(a)),
			secs > 0 ? r->frames / secs : 0.0);
	else if (r->total)
		fprintf(stderr, "  %s / %s  %3.0f%%",
			fmt_human(r->bytes, a, sizeof(a)),
			fmt_human(r->total, b, sizeof(b)),
			100.0 * (double)r->bytes / (double)r->total);
	else
		fprintf(stderr, "  %s", fmt_human(r->bytes, a, sizeof(a)));
	fprintf(stderr, "  %.2f GB/s  path %s", secs > 0 ?
		r->bytes / secs / 1e9 : 0.0,
		dmk_stream_path_name(ran_path(r->s)));
	if (final)
		fputc('\n', stderr);
	r->progress_shown = true;
}

static void json_stream(struct json *j, const char *key,
			struct dmk_stream *s, const char *const *roles,
			unsigned int nfiles)
{
	DMK_OPTS(dmk_stream_stats, st);
	const char *why = "";
	unsigned int f;
	int p;

	if (!s)
		return;
	dmk_stream_stats(s, &st);
	json_key(j, key);
	json_object_begin(j);
	json_kv_string(j, "path", dmk_stream_path_name((int)st.ran));
	json_key(j, "bytes_by_path");
	json_object_begin(j);
	for (p = DMK_STREAM_PATH_FIXED_DIRECT; p <= DMK_STREAM_PATH_SYNC; p++)
		json_kv_uint(j, dmk_stream_path_name(p), st.bytes[p]);
	json_object_end(j);
	json_kv_uint(j, "queue_depth", st.queue_depth);
	json_kv_uint(j, "chunk_size", st.chunk_size);
	json_kv_uint(j, "registered_bufs", st.registered_bufs);
	json_kv_bool(j, "registered_files", st.registered_files);
	json_kv_uint(j, "requests", st.requests);
	json_kv_uint(j, "short_io", st.short_io);
	json_kv_uint(j, "retries", st.retries);
	json_kv_uint(j, "fallbacks", st.fallbacks);
	json_key(j, "files");
	json_array_begin(j);
	for (f = 0; f < nfiles; f++) {
		p = dmk_stream_path(s, f, &why);
		json_object_begin(j);
		json_kv_string(j, "role", roles[f]);
		json_kv_string(j, "best_path", dmk_stream_path_name(p));
		json_kv_string(j, "why", why);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void text_stream(struct dmk_stream *s, const char *const *roles,
			unsigned int nfiles)
{
	DMK_OPTS(dmk_stream_stats, st);
	const char *why = "";
	unsigned int f;
	char b[32];
	int p;

	if (!s)
		return;
	dmk_stream_stats(s, &st);
	printf("path: %s (moved the most bytes); bytes by path:",
	       dmk_stream_path_name((int)st.ran));
	for (p = DMK_STREAM_PATH_FIXED_DIRECT; p <= DMK_STREAM_PATH_SYNC; p++)
		if (st.bytes[p])
			printf(" %s %s", dmk_stream_path_name(p),
			       fmt_human(st.bytes[p], b, sizeof(b)));
	printf("\n");
	for (f = 0; f < nfiles; f++) {
		p = dmk_stream_path(s, f, &why);
		printf("%-6s best path %s: %s\n", roles[f],
		       dmk_stream_path_name(p), why);
	}
	printf("%" PRIu64 " requests, %" PRIu64 " short reads/writes "
	       "resubmitted, %" PRIu64 " retried (EINTR/EAGAIN), %" PRIu64
	       " fell back\n", st.requests, st.short_io, st.retries,
	       st.fallbacks);
}

static void summary(struct run *r, int status)
{
	static const char *const roles[] = { "read", "write" };
	struct stream_args *a = r->a;
	double secs = (now_ns() - r->t0) / 1e9;
	const struct dmk_frame_layout *l;
	char b[32], c[32], fcc[11];
	struct json j;

	if (a->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "input", a->input);
		if (a->out)
			json_kv_string(&j, "output", a->out);
		else
			json_kv_null(&j, "output");
		json_kv_bool(&j, "ok", status == EXIT_OK);
		if (r->err[0])
			json_kv_string(&j, "error", r->err);
		json_kv_string(&j, "mode", a->frames ? "frames" : "bytes");
		json_kv_uint(&j, "bytes", r->bytes);
		json_kv_uint(&j, "bytes_written", r->written);
		json_kv_double(&j, "seconds", secs);
		json_kv_double(&j, "gbps", secs > 0 ? r->bytes / secs / 1e9 :
				0);
		json_kv_string(&j, "heap", r->heap ? dmk_heap_name(r->heap) :
			       a->heap);
		json_kv_string(&j, "backend", r->heap ?
			       dmk_backend_name(dmk_heap_backend(r->heap)) :
			       "none");
		json_kv_uint(&j, "bufs", r->pool ? dmk_pool_count(r->pool) : 0);
		json_kv_uint(&j, "buf_size", r->pool ?
			     dmk_buf_size(dmk_pool_buf(r->pool, 0)) : 0);
		if (a->frames) {
			json_kv_uint(&j, "frames", r->frames);
			json_kv_double(&j, "fps", secs > 0 ?
					r->frames / secs : 0);
			json_kv_string(&j, "frame_io", r->frame_io ?
				       r->frame_io : "none");
			json_kv_uint(&j, "readahead", a->readahead);
			l = r->pool ? dmk_pool_layout(r->pool) : NULL;
			if (l) {
				json_kv_string(&j, "format",
					       dmk_fourcc_to_str(l->fourcc,
								 fcc));
				json_kv_uint(&j, "width", l->width);
				json_kv_uint(&j, "height", l->height);
			}
		}
		if (a->frames) {
			json_stream(&j, "stream", r->s, roles, 1);
			if (r->out_s)
				json_stream(&j, "out_stream", r->out_s,
					    roles + 1, 1);
		} else {
			json_stream(&j, "stream", r->s, roles,
				    a->out ? 2 : 1);
		}
		json_object_end(&j);
		json_end(&j);
		fflush(stdout);
		return;
	}
	if (!r->s)
		return;
	printf("%s: %s in %.3f s, %.2f GB/s", a->input,
	       fmt_human(r->bytes, b, sizeof(b)), secs,
	       secs > 0 ? r->bytes / secs / 1e9 : 0.0);
	if (a->frames)
		printf(", %" PRIu64 " frames, %.1f fps", r->frames,
		       secs > 0 ? r->frames / secs : 0.0);
	printf("\nbuffers: %u x %s from %s (%s)\n",
	       r->pool ? dmk_pool_count(r->pool) : 0,
	       fmt_size(r->pool ? dmk_buf_size(dmk_pool_buf(r->pool, 0)) : 0,
			c, sizeof(c)),
	       dmk_heap_name(r->heap),
	       dmk_backend_name(dmk_heap_backend(r->heap)));
	if (a->frames && r->frame_io)
		printf("frames land: %s (%s)\n", r->frame_io,
		       !strcmp(r->frame_io, "copy") ?
		       "padded rows: read into staging, copied row by row" :
		       "straight into the buffers, zero-copy");
	if (a->out)
		printf("wrote %s to %s\n", fmt_human(r->written, b,
						      sizeof(b)), a->out);
	if (a->frames) {
		text_stream(r->s, roles, 1);
		if (r->out_s) {
			printf("out: ");
			text_stream(r->out_s, roles + 1, 1);
		}
	} else {
		text_stream(r->s, roles, a->out ? 2 : 1);
	}
	fflush(stdout);
}

/* ---- bytes ---- */

enum { B_IDLE, B_READING, B_WRITING };

struct bslot {
	int state;
	uint64_t off;
	uint64_t len;
};

static int submit_read(struct run *r, unsigned int id, struct bslot *bs,
		       uint64_t off)
{
	DMK_OPTS(dmk_stream_req, rq, .op = DMK_STREAM_OP_READ, .file = 0,
		 .buf = dmk_pool_buf(r->pool, id), .file_off = off,
		 .len = r->a->buf_size, .tag = id,
		 .flags = DMK_STREAM_REQ_MORE);
	int ret = dmk_stream_submit(r->s, &rq);

	if (ret < 0)
		return ret;
	bs->state = B_READING;
	bs->off = off;
	return 0;
}

static int run_bytes(struct run *r)
{
	struct stream_args *a = r->a;
	DMK_OPTS(dmk_pool_opts, po, .name = "stream", .buf_size = a->buf_size);
	DMK_OPTS(dmk_stream_opts, so, .queue_depth = a->qd,
		 .chunk_size = a->chunk, .max_requests = a->bufs + 8);
	struct dmk_stream_done done[64];
	struct bslot *slots;
	uint64_t next_off = 0;
	bool eof = false;
	unsigned int i, busy = 0;
	struct stat st;
	int ret, n, k;

	ret = dmk_pool_new(r->heap, a->bufs, &po, &r->pool);
	if (ret) {
		tool_err("allocating %u buffers of %" PRIu64 " bytes: %s",
			 a->bufs, a->buf_size, dmk_strerror(ret));
		return EXIT_FAIL;
	}
	ret = dmk_stream_new(a->flags, &so, &r->s);
	if (ret) {
		tool_err("setting up the stream: %s", dmk_strerror(ret));
		return EXIT_FAIL;
	}
	ret = dmk_stream_open_file(r->s, a->input, DMK_STREAM_READ, 0);
	if (ret < 0) {
		tool_err("%s: %s", a->input, dmk_strerror(ret));
		return EXIT_FAIL;
	}
	if (!stat(a->input, &st) && S_ISREG(st.st_mode))
		r->total = (uint64_t)st.st_size;
	if (a->out) {
		ret = dmk_stream_open_file(r->s, a->out, DMK_STREAM_WRITE |
					   DMK_STREAM_CREATE |
					   DMK_STREAM_TRUNC, 0);
		if (ret < 0) {
			tool_err("%s: %s", a->out, dmk_strerror(ret));
			return EXIT_FAIL;
		}
	}
	ret = dmk_stream_register_pool(r->s, r->pool);
	if (ret < 0) {
		tool_err("registering buffers: %s", dmk_strerror(ret));
		return EXIT_FAIL;
	}
	slots = calloc(a->bufs, sizeof(*slots));
	if (!slots) {
		tool_err("out of memory");
		return EXIT_FAIL;
	}

	r->t0 = now_ns();
	for (i = 0; i < a->bufs && !eof; i++) {
		if (r->total && next_off >= r->total)
			break;
		ret = submit_read(r, i, &slots[i], next_off);
		if (ret)
			goto fail;
		next_off += a->buf_size;
		busy++;
	}
	while (busy) {
		n = dmk_stream_reap(r->s, done, ARRAY_SIZE(done), -1);
		if (n == -EINTR && stop)
			break;
		if (n == -EINTR)
			continue;
		if (n < 0) {
			ret = n;
			goto fail;
		}
		for (k = 0; k < n; k++) {
			unsigned int id = (unsigned int)done[k].tag;
			struct bslot *bs = &slots[id];

			if (done[k].res < 0) {
				snprintf(r->err, sizeof(r->err), "%s at offset "
					 "%" PRIu64 ": %s", bs->state ==
					 B_READING ? a->input : a->out,
					 done[k].err_off,
					 dmk_strerror((int)done[k].res));
				ret = (int)done[k].res;
				goto fail;
			}
			if (bs->state == B_READING) {
				r->bytes += (uint64_t)done[k].res;
				if ((uint64_t)done[k].res < a->buf_size)
					eof = true;
				if (a->out && done[k].res > 0) {
					DMK_OPTS(dmk_stream_req, wq,
						 .op = DMK_STREAM_OP_WRITE,
						 .file = 1, .tag = id,
						 .buf = dmk_pool_buf(r->pool,
								     id),
						 .file_off = bs->off,
						 .len = (uint64_t)done[k].res,
						 .flags = DMK_STREAM_REQ_MORE);

					ret = dmk_stream_submit(r->s, &wq);
					if (ret < 0)
						goto fail;
					bs->state = B_WRITING;
					bs->len = (uint64_t)done[k].res;
					continue;
				}
			} else {
				r->written += (uint64_t)done[k].res;
			}
			/* The buffer is free: the next piece of the file. */
			bs->state = B_IDLE;
			busy--;
			if (eof || stop || (r->total && next_off >= r->total))
				continue;
			ret = submit_read(r, id, bs, next_off);
			if (ret)
				goto fail;
			next_off += a->buf_size;
			busy++;
		}
		ret = dmk_stream_flush(r->s);
		if (ret)
			goto fail;
		progress(r, false);
	}
	progress(r, true);
	free(slots);
	if (stop) {
		snprintf(r->err, sizeof(r->err), "interrupted");
		tool_err("interrupted after %" PRIu64 " bytes", r->bytes);
		return EXIT_FAIL;
	}
	return EXIT_OK;

fail:
	if (r->progress_shown)
		fputc('\n', stderr);
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "%s", dmk_strerror(ret));
	tool_err("%s", r->err);
	free(slots);
	return EXIT_FAIL;
}

/* ---- frames ---- */

static int run_frames(struct run *r)
{
	struct stream_args *a = r->a;
	DMK_OPTS(dmk_stream_opts, so, .queue_depth = a->qd,
		 .chunk_size = a->chunk);
	DMK_OPTS(dmk_frame_source_opts, fo, .fourcc = a->fourcc,
		 .width = a->width, .height = a->height,
		 .readahead = a->readahead, .stream_flags = a->flags,
		 .stream_opts = &so, .acquire_timeout_ns = 0,
		 .errmsg = r->err, .errmsg_len = sizeof(r->err));
	DMK_OPTS(dmk_frame_opts, lo, .pitch_align = a->pitch_align,
		 .plane_align = a->pitch_align, .size_align = 1);
	DMK_OPTS(dmk_frame_sink_opts, sko, .stream_flags = a->flags,
		 .stream_opts = &so);
	DMK_OPTS(dmk_pool_opts, po, .name = "frames");
	const struct dmk_frame_layout *tight;
	struct dmk_frame_layout layout;
	struct dmk_frame_source *src = NULL;
	struct dmk_frame_sink *sink = NULL;
	struct dmk_frame_ref fr;
	unsigned int sflags = 0;
	int ret, status = EXIT_FAIL;
	char fcc[11];

	ret = dmk_frame_source_open(a->input, 0, &fo, &src);
	if (ret) {
		tool_err("%s", r->err[0] ? r->err : dmk_strerror(ret));
		return EXIT_FAIL;
	}
	r->err[0] = '\0';
	r->s = dmk_frame_source_stream(src);
	tight = dmk_frame_source_layout(src);
	ret = dmk_frame_layout_init(&layout, tight->fourcc, tight->width,
				    tight->height, &lo);
	if (ret) {
		tool_err("laying out %ux%u %s frames: %s", tight->width,
			 tight->height, dmk_fourcc_to_str(tight->fourcc, fcc),
			 dmk_strerror(ret));
		goto out;
	}
	po.layout = &layout;
	ret = dmk_pool_new(r->heap, a->bufs, &po, &r->pool);
	if (ret) {
		tool_err("allocating %u frame buffers: %s", a->bufs,
			 dmk_strerror(ret));
		goto out;
	}
	ret = dmk_frame_source_start(src, r->pool);
	if (ret) {
		tool_err("starting the reads: %s", dmk_strerror(ret));
		goto out;
	}
	r->frame_io = dmk_frame_io_name(dmk_frame_source_io(src));
	if (a->out) {
		if (a->raw_out || (tight->fourcc != DRM_FORMAT_YUV420 &&
				   tight->fourcc != DRM_FORMAT_R8))
			sflags |= DMK_FRAME_SINK_RAW;
		sko.like = src;
		ret = dmk_frame_sink_open(a->out, &layout, sflags, &sko,
					  &sink);
		if (ret) {
			tool_err("%s: %s", a->out, dmk_strerror(ret));
			goto out;
		}
		r->out_s = dmk_frame_sink_stream(sink);
		/* The pool's pages can be pinned: writes may use them as
		 * fixed buffers too. */
		ret = dmk_stream_register_pool(r->out_s, r->pool);
		if (ret < 0) {
			tool_err("registering buffers: %s", dmk_strerror(ret));
			goto out;
		}
	}
	r->t0 = now_ns();
	while (!stop && (ret = dmk_frame_source_next(src, &fr)) == 1) {
		r->frames++;
		r->bytes += tight->size;
		if (sink) {
			ret = dmk_frame_sink_write(sink, fr.buf, &layout);
			if (ret) {
				dmk_pool_release(r->pool, fr.id);
				snprintf(r->err, sizeof(r->err), "%s: frame %"
					 PRIu64 ": %s", a->out, fr.index,
					 dmk_strerror(ret));
				break;
			}
			r->written += tight->size;
		}
		dmk_pool_release(r->pool, fr.id);
		progress(r, false);
	}
	progress(r, true);
	if (ret < 0 && !r->err[0])
		snprintf(r->err, sizeof(r->err), "%s: %s", a->input,
			 dmk_frame_source_error(src)[0] ?
			 dmk_frame_source_error(src) : dmk_strerror(ret));
	if (r->err[0]) {
		tool_err("%s", r->err);
		goto out;
	}
	if (stop) {
		snprintf(r->err, sizeof(r->err), "interrupted");
		tool_err("interrupted after %" PRIu64 " frames", r->frames);
		goto out;
	}
	status = EXIT_OK;
out:
	/* The summary reads the streams: print it before they go. */
	if (status == EXIT_OK || a->json)
		summary(r, status);
	dmk_frame_sink_close(sink);
	dmk_frame_source_close(src);
	r->s = NULL;
	r->out_s = NULL;
	return status | 0x100;	/* summary printed */
}

int cmd_stream(int argc, char **argv)
{
	struct sigaction sa;
	struct stream_args a;
	struct run r;
	int ret, status;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;
	memset(&r, 0, sizeof(r));
	r.a = &a;
	r.progress = a.progress == PROGRESS_ON ||
		     (a.progress == PROGRESS_AUTO && !a.json &&
		      isatty(STDERR_FILENO));

	/* Ctrl-C stops the copy and still prints what was done. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (open_heap(&r))
		return EXIT_FAIL;
	status = a.frames ? run_frames(&r) : run_bytes(&r);
	if (status & 0x100)
		status &= 0xff;
	else if (r.s && (status == EXIT_OK || a.json))
		summary(&r, status);
	dmk_stream_free(r.s);
	dmk_pool_free(r.pool);
	dmk_heap_close(r.heap);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return status;
}
