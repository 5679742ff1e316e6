// SPDX-License-Identifier: MIT
/*
 * dmakit serve: the producer half of the fd-passing demo.  A pool of frame
 * buffers is served on a unix socket (dmk_chan_serve()); every frame is
 * drawn with the moving test pattern (pattern.h), handed to every consumer
 * (dmk_chan_publish()) and paced with clock_nanosleep(TIMER_ABSTIME).
 * Between frames the producer runs dmk_chan_dispatch(), which accepts
 * consumers, collects their releases and notices the dead ones.
 * SIGINT/SIGTERM close the channel, so consumers see the end (-EPIPE), and
 * print a summary.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "pattern.h"
#include "util.h"

#define DEFAULT_W 1280
#define DEFAULT_H 720
#define DEFAULT_BUFFERS 8
#define DEFAULT_SLOTS 4
#define DEFAULT_FPS 30.0
#define MAX_FPS 1000000.0

struct serve_args {
	char socket[128];
	const char *heap;
	uint32_t fourcc;
	uint32_t width, height;
	unsigned int buffers;
	unsigned int slots;
	double fps;		/* 0: as fast as possible */
	uint64_t frames;	/* 0: until stopped */
	uid_t allow[DMK_CHAN_MAX_UIDS];
	unsigned int nallow;
	bool json;
};

struct serve {
	const struct serve_args *a;
	struct dmk_pool *pool;
	struct dmk_chan *ch;
	const struct dmk_frame_layout *layout;
	char heap[64];
	uint64_t frames;	/* drawn and published */
	uint64_t delivered;	/* frames x consumers they went to */
	uint64_t pool_waits;	/* frames that found no free buffer */
	uint64_t t0;
	struct status_line status;
	uint64_t last_frames, last_ns;
};

static const char serve_help[] =
	"Usage: dmakit serve [--socket PATH] [--heap NAME] [--format FORMAT]\n"
	"                    [--size WxH] [--buffers N] [--slots N] [--fps F]\n"
	"                    [--frames N] [--allow-uid UID]... [--json]\n"
	"\n"
	"Serve a moving test pattern to any number of `dmakit attach`\n"
	"consumers, without copying a frame: the buffers' fds cross the\n"
	"socket once, then frames travel as ids through shared rings.\n"
	"A status line on stderr shows frames, fps, consumers, frames\n"
	"dropped for lagging consumers and pool use.  SIGINT or SIGTERM\n"
	"stops it: consumers see the end, and a summary is printed.\n"
	"\n"
	"Options:\n"
	"  --socket PATH    unix socket to listen on (default\n"
	"                   $XDG_RUNTIME_DIR/dmakit.sock, else\n"
	"                   /tmp/dmakit.sock); made 0600\n"
	"  --heap NAME      auto (default), memfd, udmabuf, or a dma-heap\n"
	"                   name such as system\n"
	"  --format FORMAT  NV12 (default), GRAY8, YUV420, NV16, RGB24,\n"
	"                   XRGB8888, ... (any DRM fourcc dmakit lays out)\n"
	"  --size WxH       frame size, or 480p, 720p, 1080p, 1440p, 4k\n"
	"                   (default 1280x720)\n"
	"  --buffers N      frame buffers in the pool (default 8)\n"
	"  --slots N        ring slots per consumer, a power of two (default\n"
	"                   4): a consumer that lags more loses its oldest\n"
	"                   unread frames instead of stalling the others\n"
	"  --fps F          frames a second; 0: as fast as possible\n"
	"                   (default 30)\n"
	"  --frames N       stop after N frames (default: run until stopped)\n"
	"  --allow-uid UID  also let this uid connect (repeatable, up to 16);\n"
	"                   by default only this process's own uid may\n"
	"  --json           the summary as one JSON object on stdout\n"
	"  -h, --help       this text\n"
	"\n"
	"Exit status: 0 ok, 1 runtime failure (heap, socket, channel), 2 "
	"usage.\n";

void cmd_serve_usage(FILE *f)
{
	fputs(serve_help, f);
}

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static int parse_args(int argc, char **argv, struct serve_args *a)
{
	enum { OPT_SOCKET = 256, OPT_HEAP, OPT_FORMAT, OPT_SIZE, OPT_BUFFERS,
	       OPT_SLOTS, OPT_FPS, OPT_FRAMES, OPT_ALLOW_UID, OPT_JSON };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "heap", required_argument, NULL, OPT_HEAP },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "buffers", required_argument, NULL, OPT_BUFFERS },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "fps", required_argument, NULL, OPT_FPS },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t v;
	int c;

	memset(a, 0, sizeof(*a));
	pattern_default_socket(a->socket, sizeof(a->socket));
	a->heap = DMK_HEAP_AUTO;
	a->fourcc = DRM_FORMAT_NV12;
	a->width = DEFAULT_W;
	a->height = DEFAULT_H;
	a->buffers = DEFAULT_BUFFERS;
	a->slots = DEFAULT_SLOTS;
	a->fps = DEFAULT_FPS;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			if (pattern_opt_socket(optarg, a->socket,
					       sizeof(a->socket)))
				return EXIT_USAGE;
			break;
		case OPT_HEAP:
			if (!*optarg)
				return tool_usage_err("--heap: empty name");
			a->heap = optarg;
			break;
		case OPT_FORMAT:
			if (dmk_fourcc_from_str(optarg, &a->fourcc))
				return tool_usage_err("--format: unknown "
						      "format '%s'", optarg);
			break;
		case OPT_SIZE:
			if (pattern_parse_size(optarg, &a->width, &a->height))
				return tool_usage_err("--size: '%s' is not "
						      "WxH or a name such as "
						      "1080p", optarg);
			break;
		case OPT_BUFFERS:
			if (parse_uint(optarg, 1, DMK_POOL_MAX, &v))
				return tool_usage_err("--buffers: '%s' is not "
						      "a number from 1 to %d",
						      optarg, DMK_POOL_MAX);
			a->buffers = (unsigned int)v;
			break;
		case OPT_SLOTS:
			if (pattern_opt_slots(optarg, &a->slots))
				return EXIT_USAGE;
			break;
		case OPT_FPS:
			if (parse_seconds(optarg, &a->fps) ||
			    !isfinite(a->fps) || a->fps > MAX_FPS)
				return tool_usage_err("--fps: '%s' is not a "
						      "rate from 0 to %.0f",
						      optarg, MAX_FPS);
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, UINT64_MAX, &a->frames))
				return tool_usage_err("--frames: '%s' is not "
						      "a number of frames",
						      optarg);
			break;
		case OPT_ALLOW_UID:
			if (parse_uint(optarg, 0, UINT32_MAX - 1, &v))
				return tool_usage_err("--allow-uid: '%s' is "
						      "not a uid", optarg);
			if (a->nallow == DMK_CHAN_MAX_UIDS)
				return tool_usage_err("--allow-uid: at most "
						      "%d uids",
						      DMK_CHAN_MAX_UIDS);
			a->allow[a->nallow++] = (uid_t)v;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_serve_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

static void serve_status(struct serve *s, bool force)
{
	struct dmk_chan_stats cs = { .sz = sizeof(cs) };
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	uint64_t now = now_ns();
	double dt;

	if (!force && !status_due(&s->status, now))
		return;
	dmk_chan_stats(s->ch, &cs);
	dmk_pool_stats(s->pool, &ps);
	dt = (now - s->last_ns) / 1e9;
	status_print(&s->status, "frames %" PRIu64 "  %.1f fps  consumers %u"
		     "  dropped %" PRIu64 "  pool %u/%u (max %u)  waits %"
		     PRIu64, s->frames,
		     dt > 0 ? (s->frames - s->last_frames) / dt : 0.0,
		     cs.consumers, cs.dropped, ps.in_use,
		     dmk_pool_count(s->pool), ps.high_water, s->pool_waits);
	s->last_frames = s->frames;
	s->last_ns = now;
}

/* dmk_chan_dispatch(), with -EINTR (a signal) not an error. */
static int dispatch(struct serve *s, int timeout_ms)
{
	int ret = dmk_chan_dispatch(s->ch, timeout_ms);

	if (ret == -EINTR)
		return 0;
	if (ret < 0)
		tool_err("dmk_chan_dispatch: %s", dmk_strerror(ret));
	return ret < 0 ? ret : 0;
}

/*
 * Wait until @next (CLOCK_MONOTONIC ns).  While more than 2 ms are left
 * the wait happens inside dmk_chan_dispatch(), so consumers are accepted
 * and releases collected at once; the last stretch is one
 * clock_nanosleep(TIMER_ABSTIME), which is precise to the timer slack.
 */
static int pace(struct serve *s, uint64_t *next, uint64_t period)
{
	struct timespec ts;
	uint64_t now = now_ns();
	int ret;

	if (now >= *next) {
		/* Late by a whole frame or more: start again from now
		 * instead of sending a burst to catch up. */
		if (now - *next >= period)
			*next = now;
		return 0;
	}
	while (!stop_sig && *next - now > 2000000) {
		ret = dispatch(s, (int)((*next - now - 1000000) / 1000000));
		if (ret)
			return ret;
		serve_status(s, false);
		now = now_ns();
		if (now >= *next)
			return 0;
	}
	ts.tv_sec = (time_t)(*next / 1000000000);
	ts.tv_nsec = (long)(*next % 1000000000);
	while (!stop_sig &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
	return 0;
}

static int serve_loop(struct serve *s)
{
	const struct serve_args *a = s->a;
	uint64_t period = a->fps > 0 ? (uint64_t)(1e9 / a->fps + 0.5) : 0;
	uint64_t next = now_ns();
	struct dmk_frame_info fi;
	bool waited = false;
	int id, ret;

	while (!stop_sig && (!a->frames || s->frames < a->frames)) {
		id = dmk_pool_acquire(s->pool, 0);
		if (id < 0) {
			/* Every buffer is out with consumers: collect
			 * releases (waiting up to 1 ms for one) and retry. */
			if (!waited)
				s->pool_waits++;
			waited = true;
			ret = dispatch(s, 1);
			if (ret)
				return ret;
			serve_status(s, false);
			continue;
		}
		waited = false;
		memset(&fi, 0, sizeof(fi));
		pattern_draw(s->layout, dmk_pool_addr(s->pool, (unsigned)id),
			     s->frames);
		pattern_meta_fill(&fi, s->layout, s->frames);
		fi.ts_ns = 0;	/* now, at publish */
		ret = dmk_chan_publish(s->ch, (unsigned int)id, &fi);
		/* Our own hold: the consumers have theirs now. */
		dmk_pool_release(s->pool, (unsigned int)id);
		if (ret < 0) {
			tool_err("publishing frame %" PRIu64 ": %s", s->frames,
				 dmk_strerror(ret));
			return ret;
		}
		s->delivered += (uint64_t)ret;
		s->frames++;
		ret = dispatch(s, 0);
		if (ret)
			return ret;
		serve_status(s, false);
		if (period) {
			next += period;
			ret = pace(s, &next, period);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static void human_size(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", v / (double)(1ull << 20));
	else if (v >= (1ull << 10))
		snprintf(buf, len, "%.1f KiB", v / (double)(1ull << 10));
	else
		snprintf(buf, len, "%" PRIu64 " B", v);
}

static void serve_summary(struct serve *s, const char *stopped_by)
{
	const struct serve_args *a = s->a;
	struct dmk_chan_stats cs = { .sz = sizeof(cs) };
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	double secs = (now_ns() - s->t0) / 1e9;
	double fps = secs > 0 ? s->frames / secs : 0;
	uint64_t bsize = dmk_buf_size(dmk_pool_buf(s->pool, 0));
	char fmt[11], sz[32];
	struct json j;

	dmk_chan_stats(s->ch, &cs);
	dmk_pool_stats(s->pool, &ps);
	dmk_fourcc_to_str(a->fourcc, fmt);
	if (a->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "command", "serve");
		json_kv_string(&j, "socket", a->socket);
		json_kv_string(&j, "format", fmt);
		json_kv_uint(&j, "width", a->width);
		json_kv_uint(&j, "height", a->height);
		json_kv_string(&j, "heap", s->heap);
		json_kv_uint(&j, "buffers", dmk_pool_count(s->pool));
		json_kv_uint(&j, "buf_size", bsize);
		json_kv_uint(&j, "slots", a->slots);
		json_kv_double(&j, "fps_target", a->fps);
		json_kv_uint(&j, "frames", s->frames);
		json_kv_double(&j, "seconds", secs);
		json_kv_double(&j, "fps", fps);
		json_kv_uint(&j, "delivered", s->delivered);
		json_kv_uint(&j, "consumers", cs.consumers);
		json_kv_uint(&j, "disconnects", cs.disconnects);
		json_kv_uint(&j, "refused", cs.refused);
		json_kv_uint(&j, "dropped", cs.dropped);
		json_kv_uint(&j, "releases", cs.releases);
		json_kv_uint(&j, "pool_waits", s->pool_waits);
		json_kv_uint(&j, "pool_high_water", ps.high_water);
		json_kv_string(&j, "stopped_by", stopped_by);
		json_object_end(&j);
		json_end(&j);
		return;
	}
	human_size(bsize, sz, sizeof(sz));
	printf("served %" PRIu64 " frames in %.2f s (%.2f fps), %s %ux%u on "
	       "%s\n", s->frames, secs, fps, fmt, a->width, a->height,
	       a->socket);
	printf("  published    %" PRIu64 " hand-offs (frames x consumers, "
	       "reclaimed ones included)\n",
	       s->delivered);
	printf("  consumers    %u at the end, %" PRIu64 " disconnected, %"
	       PRIu64 " refused\n", cs.consumers, cs.disconnects, cs.refused);
	printf("  dropped      %" PRIu64 " (frames reclaimed from lagging "
	       "consumers)\n", cs.dropped);
	printf("  pool         %u buffers of %s (%s), high-water %u, "
	       "%" PRIu64 " waits for a free buffer\n",
	       dmk_pool_count(s->pool), sz, s->heap, ps.high_water,
	       s->pool_waits);
	printf("  stopped by   %s\n", stopped_by);
	fflush(stdout);
}

/* Open the channel, or say in one line why not. */
static int open_chan(struct serve *s)
{
	const struct serve_args *a = s->a;
	DMK_OPTS(dmk_chan_opts, co, .nslots = a->slots,
		 .allow_uids = a->nallow ? a->allow : NULL,
		 .n_allow_uids = a->nallow);
	struct stat st;
	int ret;

	/*
	 * dmk_chan_serve() replaces whatever is at the path; refuse to do
	 * that to anything but a socket (a typo must not eat a file).
	 */
	if (!lstat(a->socket, &st) && !S_ISSOCK(st.st_mode)) {
		tool_err("%s: exists and is not a socket; not replacing it",
			 a->socket);
		return -EEXIST;
	}
	ret = dmk_chan_serve(a->socket, s->pool, &co, &s->ch);
	if (ret == -EADDRINUSE)
		tool_err("%s: another producer is serving there", a->socket);
	else if (ret)
		tool_err("%s: cannot listen there: %s", a->socket,
			 dmk_strerror(ret));
	if (ret || !a->nallow)
		return ret;
	/*
	 * The library makes the socket 0600, so another uid could not even
	 * reach the policy it was allowed by.  Open the file to everyone:
	 * SO_PEERCRED still refuses every uid not allowed, at accept.
	 */
	if (chmod(a->socket, 0666)) {
		ret = -errno;
		tool_err("%s: chmod for --allow-uid: %s", a->socket,
			 strerror(errno));
		dmk_chan_close(s->ch);
		s->ch = NULL;
	}
	return ret;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_args a;
	struct serve s;
	struct dmk_frame_layout l;
	struct dmk_heap *heap = NULL;
	struct sigaction sa;
	const char *hint, *stopped_by;
	char fmt[11], sz[32], rate[32];
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;
	dmk_fourcc_to_str(a.fourcc, fmt);
	ret = dmk_frame_layout_init(&l, a.fourcc, a.width, a.height, NULL);
	if (ret == -ENOTSUP)
		return tool_usage_err("--format %s: not a format dmakit lays "
				      "out", fmt);
	if (ret)
		return tool_usage_err("--size %ux%u: %s", a.width, a.height,
				      dmk_strerror(ret));

	memset(&s, 0, sizeof(s));
	s.a = &a;
	ret = dmk_heap_open(a.heap, NULL, &heap);
	if (ret) {
		hint = tool_hint(a.heap, ret);
		tool_err("--heap %s: %s%s%s%s", a.heap, dmk_strerror(ret),
			 hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		return EXIT_FAIL;
	}
	snprintf(s.heap, sizeof(s.heap), "%s", dmk_heap_name(heap));
	{
		DMK_OPTS(dmk_pool_opts, po, .name = "dmakit-serve",
			 .layout = &l);

		ret = dmk_pool_new(heap, a.buffers, &po, &s.pool);
	}
	dmk_heap_close(heap);
	if (ret) {
		hint = tool_hint(s.heap, ret);
		tool_err("allocating %u buffers of %s %ux%u from %s: %s%s%s%s",
			 a.buffers, fmt, a.width, a.height, s.heap,
			 dmk_strerror(ret), hint ? " (" : "", hint ? hint : "",
			 hint ? ")" : "");
		return EXIT_FAIL;
	}
	s.layout = dmk_pool_layout(s.pool);
	ret = open_chan(&s);
	if (ret) {
		dmk_pool_free(s.pool);
		return EXIT_FAIL;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits end early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	human_size(l.size, sz, sizeof(sz));
	if (a.fps > 0)
		snprintf(rate, sizeof(rate), "%g fps", a.fps);
	else
		snprintf(rate, sizeof(rate), "as fast as possible");
	fprintf(stderr, "%s: %s %ux%u, %u buffers of %s (%s), %u slots per "
		"consumer, %s, on %s; Ctrl-C stops\n", tool_name(), fmt,
		a.width, a.height, a.buffers, sz, s.heap, a.slots, rate,
		a.socket);
	if (a.slots + 2 > a.buffers)
		fprintf(stderr, "%s: note: with --slots %u and --buffers %u a "
			"stalled consumer can stall the stream (buffers >= "
			"slots + 2 avoids it)\n", tool_name(), a.slots,
			a.buffers);

	status_init(&s.status);
	s.t0 = s.last_ns = now_ns();
	ret = serve_loop(&s);
	serve_status(&s, true);
	status_done(&s.status);
	if (stop_sig == SIGINT)
		stopped_by = "SIGINT";
	else if (stop_sig == SIGTERM)
		stopped_by = "SIGTERM";
	else if (ret)
		stopped_by = "error";
	else
		stopped_by = "--frames";
	if (!ret)
		serve_summary(&s, stopped_by);
	/* Goodbye to every consumer: they drain their rings, then -EPIPE. */
	dmk_chan_close(s.ch);
	dmk_pool_free(s.pool);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return ret ? EXIT_FAIL : EXIT_OK;
}
