// SPDX-License-Identifier: MIT
/*
 * dmakit attach: the consumer half of the fd-passing demo.  Connects to a
 * producer (`dmakit serve`), receives every buffer's fd once, then takes
 * frames from its ring: each one is checked against the moving test
 * pattern (pattern.h), timed (publish timestamp to receipt; both ends read
 * CLOCK_MONOTONIC, which is system-wide) and given back.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "pattern.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 5000
#define RECV_SLICE_NS 250000000ll	/* wake this often to check limits */
#define LAT_SAMPLES (1u << 20)
#define MAX_REPORTED 3			/* verify errors told on stderr */

struct attach_args {
	char socket[128];
	bool busy;
	uint64_t frames;	/* 0: no limit */
	double duration;	/* INFINITY: no limit */
	bool verify;
	bool json;
};

struct attach {
	const struct attach_args *a;
	struct dmk_chan *ch;
	const struct dmk_frame_layout *layout;
	uint64_t frames;
	uint64_t verify_errors;
	uint64_t gaps;		/* frame ids skipped between two frames */
	uint64_t first_id, last_id;
	bool have_last;
	struct lat_rec lat;
	uint64_t t0, t_end;
	uint64_t dropped;	/* at t_end: later drops are not ours */
	struct status_line status;
	uint64_t last_frames, last_ns;
	uint64_t int_lat_sum, int_lat_max, int_n;
	char first_error[256];
};

static const char attach_help[] =
	"Usage: dmakit attach [--socket PATH] [--busy-poll] [--frames N]\n"
	"                     [--duration SECONDS] [--no-verify] [--json]\n"
	"\n"
	"Connect to a producer (`dmakit serve`) and take its frames without\n"
	"copying them: each frame is checked against the test pattern\n"
	"(sampled rows of every plane, the signature in the pixels and the\n"
	"metadata), its latency measured (publish to receipt), and its\n"
	"buffer given back.  A status line on stderr shows frames, fps,\n"
	"latency, drops and verify errors.  It ends at --frames, --duration,\n"
	"SIGINT/SIGTERM, or when the producer goes away, with a summary:\n"
	"frames, fps, latency p50/p99/max, dropped, verify errors.\n"
	"\n"
	"Options:\n"
	"  --socket PATH       the producer's socket (default\n"
	"                      $XDG_RUNTIME_DIR/dmakit.sock, else\n"
	"                      /tmp/dmakit.sock)\n"
	"  --busy-poll         spin on the ring (one core at 100%) instead\n"
	"                      of sleeping on an eventfd\n"
	"  --frames N          stop after N frames\n"
	"  --duration SECONDS  stop after this long (decimals allowed)\n"
	"  --no-verify         do not check the frames' contents (for a\n"
	"                      producer other than dmakit serve)\n"
	"  --json              the summary as one JSON object on stdout\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok (the producer going away is a normal end), 1 a\n"
	"frame failed verification, or connecting or receiving failed,\n"
	"2 usage.\n";

void cmd_attach_usage(FILE *f)
{
	fputs(attach_help, f);
}

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static int parse_args(int argc, char **argv, struct attach_args *a)
{
	enum { OPT_SOCKET = 256, OPT_BUSY, OPT_FRAMES, OPT_DURATION,
	       OPT_NO_VERIFY, OPT_JSON };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "busy-poll", no_argument, NULL, OPT_BUSY },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	memset(a, 0, sizeof(*a));
	pattern_default_socket(a->socket, sizeof(a->socket));
	a->duration = INFINITY;
	a->verify = true;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			if (pattern_opt_socket(optarg, a->socket,
					       sizeof(a->socket)))
				return EXIT_USAGE;
			break;
		case OPT_BUSY:
			a->busy = true;
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, UINT64_MAX, &a->frames))
				return tool_usage_err("--frames: '%s' is not "
						      "a number of frames",
						      optarg);
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, &a->duration) ||
			    a->duration <= 0)
				return tool_usage_err("--duration: '%s' is not "
						      "a number of seconds",
						      optarg);
			break;
		case OPT_NO_VERIFY:
			a->verify = false;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_attach_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* One line saying why dmk_chan_connect() failed. */
static void connect_error(const char *path, int err)
{
	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
		tool_err("%s: no producer there (start one with 'dmakit "
			 "serve')", path);
		break;
	case -EACCES:
		/* The socket file's mode, or the producer's uid policy. */
		if (access(path, R_OK | W_OK))
			tool_err("%s: no permission to use the socket file",
				 path);
		else
			tool_err("%s: the producer refused uid %u (it can "
				 "allow it with --allow-uid %u)", path,
				 (unsigned)geteuid(), (unsigned)geteuid());
		break;
	case -EUSERS:
		tool_err("%s: the producer has as many consumers as it takes",
			 path);
		break;
	case -ETIMEDOUT:
		tool_err("%s: no handshake from the producer within %d s",
			 path, CONNECT_TIMEOUT_MS / 1000);
		break;
	case -EPROTONOSUPPORT:
		tool_err("%s: the producer speaks another channel version",
			 path);
		break;
	case -EPROTO:
		tool_err("%s: the producer broke the protocol during the "
			 "handshake", path);
		break;
	default:
		tool_err("%s: cannot connect: %s", path, dmk_strerror(err));
	}
}

static void attach_status(struct attach *t, bool force)
{
	struct dmk_chan_stats cs = { .sz = sizeof(cs) };
	uint64_t now = now_ns();
	double dt;

	if (!force && !status_due(&t->status, now))
		return;
	dmk_chan_stats(t->ch, &cs);
	dt = (now - t->last_ns) / 1e9;
	if (t->int_n)
		status_print(&t->status, "frames %" PRIu64 "  %.1f fps  "
			     "latency avg %.1f us max %.1f us  dropped %"
			     PRIu64 "  verify errors %" PRIu64, t->frames,
			     dt > 0 ? (t->frames - t->last_frames) / dt : 0.0,
			     t->int_lat_sum / 1e3 / t->int_n,
			     t->int_lat_max / 1e3, cs.dropped,
			     t->verify_errors);
	else
		status_print(&t->status, "frames %" PRIu64 "  0.0 fps  "
			     "(waiting for frames)  dropped %" PRIu64
			     "  verify errors %" PRIu64, t->frames,
			     cs.dropped, t->verify_errors);
	t->last_frames = t->frames;
	t->last_ns = now;
	t->int_lat_sum = t->int_lat_max = t->int_n = 0;
}

static void verify_failed(struct attach *t, const char *why)
{
	t->verify_errors++;
	if (!t->first_error[0])
		snprintf(t->first_error, sizeof(t->first_error), "%s", why);
	if (t->verify_errors <= MAX_REPORTED) {
		status_done(&t->status);
		tool_err("verify: %s%s", why,
			 t->verify_errors == MAX_REPORTED ?
			 " (further errors are only counted)" : "");
	}
}

/* Check, time and give back one frame.  0, or -errno. */
static int take_frame(struct attach *t, const struct dmk_frame_info *fi,
		      unsigned int id)
{
	uint64_t now = now_ns();
	uint64_t lat = now > fi->ts_ns ? now - fi->ts_ns : 0;
	char why[256];
	int ret;

	lat_add(&t->lat, lat);
	t->int_lat_sum += lat;
	if (lat > t->int_lat_max)
		t->int_lat_max = lat;
	t->int_n++;

	if (!t->have_last) {
		t->first_id = fi->frame_id;
	} else if (fi->frame_id <= t->last_id) {
		snprintf(why, sizeof(why), "frame %" PRIu64 " came after "
			 "frame %" PRIu64, fi->frame_id, t->last_id);
		verify_failed(t, why);
	} else {
		t->gaps += fi->frame_id - t->last_id - 1;
	}
	t->have_last = true;
	t->last_id = fi->frame_id;
	if (t->a->verify &&
	    !pattern_verify(t->layout, dmk_chan_addr(t->ch, id), fi, why,
			    sizeof(why)))
		verify_failed(t, why);
	t->frames++;
	ret = dmk_chan_release(t->ch, id);
	/* -EPIPE: the producer is gone, nothing to give back to. */
	return ret == -EPIPE ? 0 : ret;
}

/* Receive until a limit, a signal or the producer's end; why in @ended. */
static int attach_loop(struct attach *t, const char **ended)
{
	const struct attach_args *a = t->a;
	uint64_t deadline = 0, now;
	int64_t slice;
	struct dmk_frame_info fi;
	int ret;

	if (isfinite(a->duration))
		deadline = t->t0 + (uint64_t)(a->duration * 1e9);
	for (;;) {
		if (stop_sig) {
			*ended = stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
			return 0;
		}
		if (a->frames && t->frames >= a->frames) {
			*ended = "--frames";
			return 0;
		}
		now = now_ns();
		if (deadline && now >= deadline) {
			*ended = "--duration";
			return 0;
		}
		slice = RECV_SLICE_NS;
		if (deadline && deadline - now < (uint64_t)slice)
			slice = (int64_t)(deadline - now);
		ret = dmk_chan_recv(t->ch, &fi, slice);
		if (ret == -ETIMEDOUT || ret == -EAGAIN || ret == -EINTR) {
			attach_status(t, false);
			continue;
		}
		if (ret == -EPIPE) {
			*ended = "producer";
			return 0;
		}
		if (ret < 0) {
			*ended = "error";
			status_done(&t->status);
			if (ret == -EPROTO)
				tool_err("the producer broke the protocol; "
					 "channel closed");
			else
				tool_err("dmk_chan_recv: %s",
					 dmk_strerror(ret));
			return ret;
		}
		ret = take_frame(t, &fi, (unsigned int)ret);
		if (ret) {
			*ended = "error";
			status_done(&t->status);
			tool_err("dmk_chan_release: %s", dmk_strerror(ret));
			return ret;
		}
		attach_status(t, false);
	}
}

static void attach_summary(struct attach *t, const char *ended, int err)
{
	const struct attach_args *a = t->a;
	const struct dmk_frame_layout *l = t->layout;
	double secs = (t->t_end - t->t0) / 1e9;
	double fps = secs > 0 ? t->frames / secs : 0;
	const char *mode = a->busy ? "busy-poll" : "eventfd";
	struct stats st;
	char fmt[11] = "raw";
	struct json j;

	stats_compute(t->lat.ns, t->lat.n, &st);
	st.max_us = t->lat.max / 1e3;	/* exact, past the reservoir too */
	if (l)
		dmk_fourcc_to_str(l->fourcc, fmt);
	if (a->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "command", "attach");
		json_kv_string(&j, "socket", a->socket);
		json_kv_string(&j, "mode", mode);
		json_kv_string(&j, "format", fmt);
		json_kv_uint(&j, "width", l ? l->width : 0);
		json_kv_uint(&j, "height", l ? l->height : 0);
		json_kv_uint(&j, "buffers", dmk_chan_nbufs(t->ch));
		json_kv_uint(&j, "frames", t->frames);
		json_kv_double(&j, "seconds", secs);
		json_kv_double(&j, "fps", fps);
		if (t->frames) {
			json_kv_double(&j, "p50_us", st.median_us);
			json_kv_double(&j, "p99_us", st.p99_us);
			json_kv_double(&j, "max_us", st.max_us);
			json_kv_double(&j, "mean_us", st.mean_us);
		} else {
			json_kv_null(&j, "p50_us");
			json_kv_null(&j, "p99_us");
			json_kv_null(&j, "max_us");
			json_kv_null(&j, "mean_us");
		}
		json_kv_uint(&j, "dropped", t->dropped);
		json_kv_uint(&j, "gaps", t->gaps);
		json_kv_bool(&j, "verified", a->verify);
		json_kv_uint(&j, "verify_errors", t->verify_errors);
		if (t->first_error[0])
			json_kv_string(&j, "first_error", t->first_error);
		json_kv_string(&j, "ended_by", ended);
		if (err)
			json_kv_string(&j, "error", dmk_strerror(err));
		json_object_end(&j);
		json_end(&j);
		return;
	}
	printf("attached to %s for %.2f s: %" PRIu64 " frames (%.2f fps), "
	       "%s %ux%u, %s\n", a->socket, secs, t->frames, fps, fmt,
	       l ? l->width : 0, l ? l->height : 0,
	       a->busy ? "busy-polling" : "eventfd wakeups");
	if (t->frames)
		printf("  latency      p50 %.1f us  p99 %.1f us  max %.1f us  "
		       "(publish -> receipt)\n", st.median_us, st.p99_us,
		       st.max_us);
	printf("  dropped      %" PRIu64 " (reclaimed by the producer while "
	       "this consumer lagged)\n", t->dropped);
	printf("  gaps         %" PRIu64 " frame ids skipped\n", t->gaps);
	if (a->verify)
		printf("  verified     %" PRIu64 " frames, %" PRIu64 " errors "
		       "(metadata, signature, %d rows of every plane)\n",
		       t->frames, t->verify_errors, PATTERN_SAMPLE_ROWS);
	else
		printf("  verified     no (--no-verify)\n");
	if (!strcmp(ended, "producer"))
		printf("  ended by     the producer going away (it stopped or "
		       "died)\n");
	else
		printf("  ended by     %s\n", ended);
	fflush(stdout);
}

int cmd_attach(int argc, char **argv)
{
	DMK_OPTS(dmk_chan_opts, co, .name = "dmakit-attach");
	struct attach_args a;
	struct attach t;
	struct sigaction sa;
	const char *ended = "error";
	char fmt[11] = "raw";
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;

	memset(&t, 0, sizeof(t));
	t.a = &a;
	if (lat_init(&t.lat, LAT_SAMPLES)) {
		tool_err("out of memory");
		return EXIT_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits end early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	co.flags = a.busy ? DMK_CHAN_BUSY_POLL : 0;
	ret = dmk_chan_connect(a.socket, &co, CONNECT_TIMEOUT_MS, &t.ch);
	if (ret) {
		connect_error(a.socket, ret);
		lat_free(&t.lat);
		return EXIT_FAIL;
	}
	t.layout = dmk_chan_layout(t.ch);
	if (t.layout)
		dmk_fourcc_to_str(t.layout->fourcc, fmt);
	fprintf(stderr, "%s: attached to %s: %s %ux%u, %u buffers, %s; "
		"Ctrl-C stops\n", tool_name(), a.socket, fmt,
		t.layout ? t.layout->width : 0,
		t.layout ? t.layout->height : 0, dmk_chan_nbufs(t.ch),
		a.busy ? "busy-polling" : "eventfd wakeups");

	status_init(&t.status);
	t.t0 = t.last_ns = now_ns();
	ret = attach_loop(&t, &ended);
	t.t_end = now_ns();
	{
		struct dmk_chan_stats cs = { .sz = sizeof(cs) };

		dmk_chan_stats(t.ch, &cs);
		t.dropped = cs.dropped;
	}
	if (!ret) {
		attach_status(&t, true);
		status_done(&t.status);
	}
	if (!strcmp(ended, "producer"))
		fprintf(stderr, "%s: the producer went away after %" PRIu64
			" frames: done\n", tool_name(), t.frames);
	attach_summary(&t, ended, ret);
	/* Goodbye: anything still held goes back to the producer. */
	dmk_chan_close(t.ch);
	lat_free(&t.lat);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return ret || t.verify_errors ? EXIT_FAIL : EXIT_OK;
}
