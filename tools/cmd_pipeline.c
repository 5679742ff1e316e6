// SPDX-License-Identifier: MIT
/*
 * dmakit pipeline: the main job.  Three processes connected by dmakit
 * channels, frames never copied between them:
 *
 *   reader   (pipe_reader.c)   streams a Y4M file into a pool of frame
 *                              buffers with io_uring, serves channel A
 *   detector (pipe_detector.c) imports each frame into Vulkan, converts
 *                              it to gray on the GPU, finds faces, serves
 *                              the boxes on channel B
 *   sink     (pipe_sink.c)     pairs frames (A) with boxes (B), writes
 *                              JSON lines and annotated PNGs
 *
 * This file is the supervisor: it checks the input and the cascade before
 * anything starts (so bad input is one line and no process), makes a
 * private socket directory, forks the stages (no exec: they share the
 * parsed arguments; Vulkan is initialised in the detector only), shares a
 * MAP_SHARED stats block with them, prints a live status line, and
 * watches them through a signalfd (SIGCHLD, SIGINT, SIGTERM).
 *
 * Stopping.  SIGINT/SIGTERM: the reader is told to stop (SIGTERM), the
 * others drain what was published and end on their channel's goodbye,
 * then a summary; stages that finish no frame for STOP_GRACE_NS are told
 * too, and killed past KILL_GRACE_NS.  A stage that dies or fails: one
 * line saying which and how, the others are told to stop after
 * FAIL_GRACE_NS (they may have noticed already through their channels),
 * exit 1.  Children die with the supervisor (PR_SET_PDEATHSIG).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "pattern.h"
#include "pipeline.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define CONNECT_TRY_MS 2000		/* one handshake attempt */
#define CONNECT_TOTAL_NS (60ull * 1000000000)	/* ASan + lavapipe: slow */
#define STOP_GRACE_NS (10ull * 1000000000)	/* a clean stop drains */
#define FAIL_GRACE_NS 500000000ull	/* let the others notice first */
#define KILL_GRACE_NS (3ull * 1000000000)	/* SIGTERM to SIGKILL */
#define QUIET_TICK_MS 500
#define EXIT_LEAK 23			/* LeakSanitizer's exit code */

volatile sig_atomic_t pipe_stop;
bool pipe_vulkan_loaded;

static const char *const stage_names[PIPE_NSTAGES] = {
	[PIPE_READER] = "reader",
	[PIPE_DETECTOR] = "detector",
	[PIPE_SINK] = "sink",
};

static const char *const state_names[] = {
	[PIPE_ST_STARTING] = "starting",
	[PIPE_ST_WAITING] = "connecting",
	[PIPE_ST_RUNNING] = "running",
	[PIPE_ST_DRAINING] = "draining",
	[PIPE_ST_DONE] = "done",
	[PIPE_ST_FAILED] = "failed",
};

static const char pipeline_help[] =
	"Usage: dmakit pipeline [options] [INPUT]\n"
	"\n"
	"Run the zero-copy face-detection pipeline: three processes joined\n"
	"by dmakit channels, no frame ever copied between them.\n"
	"  reader    streams INPUT (Y4M, or raw with --size/--format) into\n"
	"            a pool of frame buffers through io_uring\n"
	"  detector  imports each frame into Vulkan, converts it to gray on\n"
	"            the GPU and finds faces with an OpenCV cascade\n"
	"  sink      writes one JSON line per frame and an annotated PNG\n"
	"            every --png-every frames\n"
	"A live status line (frames, fps per stage, drops, buffer backend,\n"
	"import path) goes to stderr; a summary to stdout at the end.\n"
	"Ctrl-C stops it cleanly (exit 0, with the summary).  If a stage\n"
	"dies, the others are stopped and the exit status is 1.\n"
	"\n"
	"INPUT defaults to the clip `make data` builds (data/default.y4m next\n"
	"to the dmakit binary, or $DMAKIT_DATA).\n"
	"\n"
	"Input:\n"
	"  --size WxH          raw input: frame size (or 480p, 720p, ...)\n"
	"  --format FORMAT     raw input: YUV420 (I420), NV12 or GRAY8\n"
	"  --frames N          stop after N frames\n"
	"  --loop              start the file again at its end, for ever\n"
	"  --realtime          pace frames at the file's rate; a lagging\n"
	"                      stage then loses frames instead of slowing\n"
	"                      the reader (default: every frame, lossless)\n"
	"  --pool N            frame buffers (default 8, 4 to 1024)\n"
	"  --heap NAME         where frame buffers come from (default auto)\n"
	"Detection:\n"
	"  --cascade C         lbp (default: lbpcascade_frontalface_\n"
	"                      improved), haar (haarcascade_frontalface_\n"
	"                      default), or an OpenCV cascade XML file\n"
	"  --scale F           scale factor between pyramid levels (default\n"
	"                      1.1)\n"
	"  --min-neighbors N   detections a face needs (default 3)\n"
	"  --min-size N        smallest face, in frame pixels (default none)\n"
	"  --detect-width N    width of the image detection runs on (default\n"
	"                      the frame's, at most 640; aspect kept)\n"
	"  --device SEL        Vulkan device: index or name substring\n"
	"  --cpu               no Vulkan: preprocess and detect on the CPU\n"
	"Output:\n"
	"  --out DIR           where results go (default pipeline-out)\n"
	"  --json FILE         the JSON lines (default DIR/detections.jsonl)\n"
	"  --png-every N       an annotated PNG every N frames (default 30;\n"
	"                      0: none)\n"
	"  --quiet             no status line\n"
	"  --json-summary      the summary as one JSON object\n"
	"  --pids FILE         write the stages' pids there (for tests)\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok (also after Ctrl-C), 1 a stage failed or died, or\n"
	"bad input, 2 usage.\n";

void cmd_pipeline_usage(FILE *f)
{
	fputs(pipeline_help, f);
}

/* ---- helpers shared with the stages (pipeline.h) ---- */

const char *pipe_stage_name(enum pipe_stage st)
{
	return st < PIPE_NSTAGES ? stage_names[st] : "?";
}

void pipe_err(enum pipe_stage st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tool_err("%s: %s", pipe_stage_name(st), msg);
}

void pipe_set_state(struct pipe_ctx *c, enum pipe_stage st,
		    enum pipe_state state)
{
	atomic_store(&c->sh->st[st].state, (uint32_t)state);
}

void pipe_count_frame(struct pipe_ctx *c, enum pipe_stage st,
		      uint64_t busy_ns)
{
	struct pipe_stage_stats *s = &c->sh->st[st];
	uint64_t now = now_ns();

	if (!atomic_load(&s->first_ns))
		atomic_store(&s->first_ns, now);
	atomic_store(&s->last_ns, now);
	atomic_fetch_add(&s->busy_ns, busy_ns);
	atomic_fetch_add(&s->frames, 1);
}

int pipe_connect(const char *path, const char *name, struct dmk_chan **out)
{
	DMK_OPTS(dmk_chan_opts, o, .name = name);
	uint64_t end = now_ns() + CONNECT_TOTAL_NS;
	struct timespec nap = { .tv_nsec = 20000000 };
	int ret;

	for (;;) {
		if (pipe_stop)
			return -ECANCELED;
		ret = dmk_chan_connect(path, &o, CONNECT_TRY_MS, out);
		if (!ret)
			return 0;
		/* Not listening yet, or busy starting: try again. */
		if (ret != -ENOENT && ret != -ECONNREFUSED &&
		    ret != -ETIMEDOUT && ret != -EINTR)
			return ret;
		if (now_ns() > end)
			return ret;
		nanosleep(&nap, NULL);
	}
}

int pipe_wait_consumers(struct dmk_chan *ch, unsigned int n)
{
	struct dmk_chan_stats cs = { .sz = sizeof(cs) };
	int ret;

	for (;;) {
		dmk_chan_stats(ch, &cs);
		if (cs.consumers >= n)
			return 0;
		if (pipe_stop)
			return -ECANCELED;
		ret = dmk_chan_dispatch(ch, 50);
		if (ret < 0 && ret != -EINTR)
			return ret;
	}
}

void pipe_chan_opts(struct dmk_chan_opts *o, unsigned int pool_count,
		    bool realtime)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	if (realtime)
		return;	/* the library's default: drop-oldest */
	o->nslots = 8;
	while (o->nslots < pool_count && o->nslots < DMK_CHAN_MAX_SLOTS)
		o->nslots *= 2;
}

bool pipe_format_ok(uint32_t fourcc)
{
	return fourcc == DRM_FORMAT_YUV420 || fourcc == DRM_FORMAT_NV12 ||
	       fourcc == DRM_FORMAT_R8;
}

void pipe_detect_size(uint32_t w, uint32_t h, uint32_t cap, uint32_t *dw,
		      uint32_t *dh)
{
	uint64_t v;

	if (!cap || w <= cap) {
		*dw = w;
		*dh = h;
		return;
	}
	*dw = cap;
	v = ((uint64_t)h * cap + w / 2) / w;	/* rounded, aspect kept */
	*dh = v ? (uint32_t)v : 1;
}

/* ---- arguments ---- */

static int parse_args(int argc, char **argv, struct pipe_args *a)
{
	enum { OPT_SIZE = 256, OPT_FORMAT, OPT_CASCADE, OPT_SCALE,
	       OPT_MIN_NEIGHBORS, OPT_MIN_SIZE, OPT_DETECT_WIDTH, OPT_DEVICE,
	       OPT_CPU, OPT_OUT, OPT_JSON, OPT_PNG_EVERY, OPT_FRAMES, OPT_LOOP,
	       OPT_REALTIME, OPT_POOL, OPT_HEAP, OPT_QUIET, OPT_JSON_SUMMARY,
	       OPT_PIDS };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "cascade", required_argument, NULL, OPT_CASCADE },
		{ "scale", required_argument, NULL, OPT_SCALE },
		{ "min-neighbors", required_argument, NULL, OPT_MIN_NEIGHBORS },
		{ "min-size", required_argument, NULL, OPT_MIN_SIZE },
		{ "detect-width", required_argument, NULL, OPT_DETECT_WIDTH },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "cpu", no_argument, NULL, OPT_CPU },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "png-every", required_argument, NULL, OPT_PNG_EVERY },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "realtime", no_argument, NULL, OPT_REALTIME },
		{ "pool", required_argument, NULL, OPT_POOL },
		{ "heap", required_argument, NULL, OPT_HEAP },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "json-summary", no_argument, NULL, OPT_JSON_SUMMARY },
		{ "pids", required_argument, NULL, OPT_PIDS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *json = NULL, *cascade = "lbp";
	bool have_size = false;
	uint64_t v;
	char *end;
	int c;

	memset(a, 0, sizeof(*a));
	a->params.sz = sizeof(a->params);
	a->params.scale_factor = 1.1;
	a->params.min_neighbors = 3;
	a->heap = DMK_HEAP_AUTO;
	a->png_every = PIPE_DEFAULT_PNG_EVERY;
	a->pool = PIPE_DEFAULT_POOL;
	a->detect_width = PIPE_DEFAULT_DETECT_W;
	snprintf(a->out_dir, sizeof(a->out_dir), "pipeline-out");

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SIZE:
			if (pattern_parse_size(optarg, &a->width, &a->height))
				return tool_usage_err("--size: '%s' is not "
						      "WxH or a name such as "
						      "480p", optarg);
			have_size = true;
			break;
		case OPT_FORMAT:
			if (dmk_fourcc_from_str(optarg, &a->fourcc) ||
			    !pipe_format_ok(a->fourcc))
				return tool_usage_err("--format: '%s' is not "
						      "YUV420, NV12 or GRAY8",
						      optarg);
			break;
		case OPT_CASCADE:
			if (!*optarg)
				return tool_usage_err("--cascade: empty");
			cascade = optarg;
			break;
		case OPT_SCALE:
			errno = 0;
			a->params.scale_factor = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(a->params.scale_factor > 1.0) ||
			    a->params.scale_factor > 10.0)
				return tool_usage_err("--scale: '%s' is not a "
						      "factor above 1 (up to "
						      "10)", optarg);
			break;
		case OPT_MIN_NEIGHBORS:
			if (parse_uint(optarg, 0, 1000, &v))
				return tool_usage_err("--min-neighbors: '%s' "
						      "is not a number from 0 "
						      "to 1000", optarg);
			a->params.min_neighbors = (int)v;
			break;
		case OPT_MIN_SIZE:
			if (parse_uint(optarg, 1, 16384, &v))
				return tool_usage_err("--min-size: '%s' is not "
						      "a size in pixels",
						      optarg);
			a->min_size = (uint32_t)v;
			break;
		case OPT_DETECT_WIDTH:
			if (parse_uint(optarg, 0, 16384, &v) || (v && v < 24))
				return tool_usage_err("--detect-width: '%s' is "
						      "not 0 or a width from "
						      "24 to 16384", optarg);
			a->detect_width = (uint32_t)v;
			break;
		case OPT_DEVICE:
			a->device = optarg;
			break;
		case OPT_CPU:
			a->cpu = true;
			break;
		case OPT_OUT:
			if (!*optarg || strlen(optarg) >= sizeof(a->out_dir) -
			    64)
				return tool_usage_err("--out: bad directory "
						      "name");
			snprintf(a->out_dir, sizeof(a->out_dir), "%s", optarg);
			break;
		case OPT_JSON:
			if (!*optarg || strlen(optarg) >= sizeof(a->json_path))
				return tool_usage_err("--json: bad file name");
			json = optarg;
			break;
		case OPT_PNG_EVERY:
			if (parse_uint(optarg, 0, UINT32_MAX, &a->png_every))
				return tool_usage_err("--png-every: '%s' is "
						      "not a number of frames",
						      optarg);
			break;
		case OPT_FRAMES:
			if (parse_uint(optarg, 1, UINT64_MAX, &a->frames))
				return tool_usage_err("--frames: '%s' is not "
						      "a number of frames",
						      optarg);
			break;
		case OPT_LOOP:
			a->loop = true;
			break;
		case OPT_REALTIME:
			a->realtime = true;
			break;
		case OPT_POOL:
			if (parse_uint(optarg, PIPE_MIN_POOL, PIPE_MAX_POOL,
				       &v))
				return tool_usage_err("--pool: '%s' is not a "
						      "number from %d to %d",
						      optarg, PIPE_MIN_POOL,
						      PIPE_MAX_POOL);
			a->pool = (unsigned int)v;
			break;
		case OPT_HEAP:
			if (!*optarg)
				return tool_usage_err("--heap: empty name");
			a->heap = optarg;
			break;
		case OPT_QUIET:
			a->quiet = true;
			break;
		case OPT_JSON_SUMMARY:
			a->json_summary = true;
			break;
		case OPT_PIDS:
			if (!*optarg)
				return tool_usage_err("--pids: empty file "
						      "name");
			a->pids = optarg;
			break;
		case 'h':
			cmd_pipeline_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (argc - optind > 1)
		return tool_usage_err("unexpected argument '%s'",
				      argv[optind + 1]);
	if (optind < argc) {
		if (!*argv[optind] ||
		    strlen(argv[optind]) >= sizeof(a->input))
			return tool_usage_err("bad INPUT name");
		snprintf(a->input, sizeof(a->input), "%s", argv[optind]);
	}
	if (!!a->fourcc != have_size)
		return tool_usage_err("raw input needs both --size and "
				      "--format");
	if (a->fourcc && !a->input[0])
		return tool_usage_err("--size/--format describe a raw INPUT; "
				      "none given");
	if (!strcmp(cascade, "lbp"))
		cascade = PIPE_CASCADE_LBP;
	else if (!strcmp(cascade, "haar"))
		cascade = PIPE_CASCADE_HAAR;
	if (strlen(cascade) >= sizeof(a->cascade))
		return tool_usage_err("--cascade: path too long");
	snprintf(a->cascade, sizeof(a->cascade), "%s", cascade);
	if (json)
		snprintf(a->json_path, sizeof(a->json_path), "%s", json);
	else
		snprintf(a->json_path, sizeof(a->json_path),
			 "%.*s/detections.jsonl",
			 (int)sizeof(a->out_dir) - 64, a->out_dir);
	return 0;
}

/*
 * No INPUT: $DMAKIT_DATA (a directory holding default.y4m, or the file
 * itself), else data/default.y4m next to this binary, where `make data`
 * puts it.  0, or EXIT_FAIL after saying what is missing.
 */
static int default_input(struct pipe_args *a)
{
	const char *env = getenv("DMAKIT_DATA");
	char exe[PATH_MAX];
	struct stat st;
	ssize_t n;

	a->input_default = true;
	if (env && *env) {
		if (!stat(env, &st) && S_ISDIR(st.st_mode))
			snprintf(a->input, sizeof(a->input),
				 "%s/default.y4m", env);
		else
			snprintf(a->input, sizeof(a->input), "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			tool_err("no INPUT given, and /proc/self/exe does not "
				 "say where the default clip is: %s",
				 strerror(errno));
			return EXIT_FAIL;
		}
		exe[n] = '\0';
		snprintf(a->input, sizeof(a->input), "%.*s/data/default.y4m",
			 (int)(sizeof(a->input) - 32), dirname(exe));
	}
	if (access(a->input, R_OK)) {
		tool_err("no INPUT given and the default clip %s is missing "
			 "(`make data` makes it)", a->input);
		return EXIT_FAIL;
	}
	return 0;
}

/* ---- the supervisor ---- */

struct child {
	pid_t pid;
	bool alive;
	bool killed_by_us;	/* SIGKILL after the grace period */
	int status;		/* waitpid()'s */
};

struct super {
	struct pipe_args *a;
	struct pipe_ctx ctx;
	struct pipe_shared *sh;
	char sock_dir[96];
	int sfd;			/* signalfd */
	struct child ch[PIPE_NSTAGES];
	struct dmk_frame_layout in;	/* the input's frames */
	int failed;			/* the stage that failed, or -1 */
	int stop_sig;			/* SIGINT / SIGTERM: stop */
	uint64_t t0;
	uint64_t term_at, kill_at;	/* deadlines, 0: none */
	uint64_t drained;		/* clean stop: frames done so far */
	struct status_line status;
	uint64_t last_frames[PIPE_NSTAGES];
	uint64_t last_ns;
	double fps[PIPE_NSTAGES];
};

/* Check the input and the cascade here, before any process starts. */
static int check_inputs(struct super *s)
{
	struct pipe_args *a = s->a;
	DMK_OPTS(dmk_frame_source_opts, fo, .fourcc = a->fourcc,
		 .width = a->width, .height = a->height);
	struct dmk_frame_source *src;
	struct dmk_cascade *cascade;
	char msg[256] = "", fcc[11];
	int ret;

	fo.errmsg = msg;
	fo.errmsg_len = sizeof(msg);
	ret = dmk_frame_source_open(a->input, 0, &fo, &src);
	if (ret) {
		/* The library's line may name the file already. */
		if (!strncmp(msg, a->input, strlen(a->input)))
			tool_err("%s", msg);
		else
			tool_err("%s: %s", a->input,
				 msg[0] ? msg : dmk_strerror(ret));
		return EXIT_FAIL;
	}
	s->in = *dmk_frame_source_layout(src);
	dmk_frame_source_close(src);
	if (!pipe_format_ok(s->in.fourcc)) {
		tool_err("%s: %s frames; the pipeline takes YUV420, NV12 or "
			 "GRAY8", a->input, dmk_fourcc_to_str(s->in.fourcc,
							      fcc));
		return EXIT_FAIL;
	}
	ret = dmk_cascade_load(a->cascade, &cascade);
	if (ret) {
		tool_err("%s: %s", a->cascade,
			 ret == -EINVAL ? "not an OpenCV cascade this "
			 "detector can read (malformed XML or model)" :
			 ret == -ENOTSUP ? "a cascade of a kind not supported "
			 "(old format, tilted Haar features or HOG)" :
			 dmk_strerror(ret));
		return EXIT_FAIL;
	}
	dmk_cascade_free(cascade);
	return 0;
}

/* The output directory (one level is made) and the JSON file. */
static int open_outputs(struct super *s)
{
	struct pipe_args *a = s->a;
	int fd;

	if (mkdir(a->out_dir, 0755) && errno != EEXIST) {
		tool_err("%s: cannot make the output directory: %s",
			 a->out_dir, strerror(errno));
		return EXIT_FAIL;
	}
	fd = open(a->json_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		tool_err("%s: %s", a->json_path, strerror(errno));
		return EXIT_FAIL;
	}
	s->ctx.json_fd = fd;
	return 0;
}

/* A private directory for the two sockets, 0700. */
static int make_sock_dir(struct super *s)
{
	const char *base = getenv("XDG_RUNTIME_DIR");

	if (!base || !*base || access(base, W_OK | X_OK) ||
	    strlen(base) > 48)
		base = "/tmp";
	snprintf(s->sock_dir, sizeof(s->sock_dir),
		 "%s/dmakit-pipeline-XXXXXX", base);
	if (!mkdtemp(s->sock_dir)) {
		tool_err("%s: cannot make the socket directory: %s", base,
			 strerror(errno));
		s->sock_dir[0] = '\0';
		return EXIT_FAIL;
	}
	/* The directory name is at most 48 + 23 bytes: both fit sun_path. */
	snprintf(s->ctx.sock_a, sizeof(s->ctx.sock_a), "%.80s/frames.sock",
		 s->sock_dir);
	snprintf(s->ctx.sock_b, sizeof(s->ctx.sock_b),
		 "%.80s/detections.sock", s->sock_dir);
	return 0;
}

static void remove_sock_dir(struct super *s)
{
	if (!s->sock_dir[0])
		return;
	/* The producers unlink their sockets on a clean close; a killed
	 * one leaves its socket behind. */
	unlink(s->ctx.sock_a);
	unlink(s->ctx.sock_b);
	if (rmdir(s->sock_dir))
		tool_err("%s: cannot remove: %s", s->sock_dir,
			 strerror(errno));
	s->sock_dir[0] = '\0';
}

/*
 * A sink killed while writing a PNG leaves its temporary file (the
 * picture itself only ever appears whole, by rename): remove those once
 * every stage is gone.
 */
static void remove_partial_pngs(const struct pipe_args *a)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	DIR *d = opendir(a->out_dir);
	size_t n;

	if (!d)
		return;
	while ((e = readdir(d))) {
		n = strlen(e->d_name);
		if (strncmp(e->d_name, ".frame-", 7) || n < 15 ||
		    strcmp(e->d_name + n - 8, ".png.tmp"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->out_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void on_term(int sig)
{
	(void)sig;
	pipe_stop = 1;
}

/* A stage's process: set up its signals, run it, leave with _exit(). */
__attribute__((noreturn))
static void child_main(struct super *s, enum pipe_stage st, pid_t parent)
{
	static const char *const comm[PIPE_NSTAGES] = {
		"dmk-reader", "dmk-detector", "dmk-sink"
	};
	struct sigaction sa;
	sigset_t set;
	int ret;

	/* Never outlive the supervisor, even if it is killed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(EXIT_FAIL);
	prctl(PR_SET_NAME, comm[st]);
	close(s->sfd);
	if (st != PIPE_SINK) {
		close(s->ctx.json_fd);
		s->ctx.json_fd = -1;
	}

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;	/* no SA_RESTART: waits end early */
	sigaction(SIGTERM, &sa, NULL);
	/* Ctrl-C reaches the whole process group: the supervisor turns it
	 * into an orderly stop, stage by stage. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	switch (st) {
	case PIPE_READER:
		ret = pipe_reader_main(&s->ctx);
		break;
	case PIPE_DETECTOR:
		ret = pipe_detector_main(&s->ctx);
		break;
	default:
		ret = pipe_sink_main(&s->ctx);
		break;
	}
	fflush(stdout);
	fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * _exit() skips LeakSanitizer's exit check: run it here, so a
	 * stage that leaks fails the run (LSAN_OPTIONS applies).  Not
	 * after a Vulkan driver was loaded: lavapipe leaves a block behind
	 * when it is unloaded, which tests/lsan.supp matches only with
	 * ASAN_OPTIONS=fast_unwind_on_malloc=0, and with that option
	 * lavapipe's LLVM JIT deadlocks (registering a shader's unwind
	 * tables mallocs inside libgcc's _Unwind_Find_FDE lock, and ASan's
	 * slow unwinder takes that lock again).
	 */
	if (!pipe_vulkan_loaded && __lsan_do_recoverable_leak_check())
		_exit(EXIT_LEAK);
#endif
	/* _exit: the supervisor's atexit handlers and stdio buffers are
	 * its own, not this stage's. */
	_exit(ret);
}

static int start_stages(struct super *s)
{
	pid_t parent = getpid(), pid;
	int st;

	for (st = 0; st < PIPE_NSTAGES; st++) {
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			tool_err("fork: %s", strerror(errno));
			return -errno;
		}
		if (pid == 0)
			child_main(s, (enum pipe_stage)st, parent);
		s->ch[st].pid = pid;
		s->ch[st].alive = true;
	}
	return 0;
}

static int write_pids(struct super *s)
{
	char tmp[PATH_MAX];
	FILE *f;
	int st, bad;

	if (!s->a->pids)
		return 0;
	/* Written whole and renamed: a reader never sees half of it. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->a->pids);
	f = fopen(tmp, "we");
	if (!f) {
		tool_err("--pids %s: %s", s->a->pids, strerror(errno));
		return -errno;
	}
	for (st = 0; st < PIPE_NSTAGES; st++)
		fprintf(f, "%s %d\n", stage_names[st], (int)s->ch[st].pid);
	fprintf(f, "supervisor %d\nsockets %s\n", (int)getpid(), s->sock_dir);
	bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, s->a->pids)) {
		tool_err("--pids %s: %s", s->a->pids, strerror(errno));
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static void signal_alive(struct super *s, int sig, bool all)
{
	int st;

	for (st = 0; st < PIPE_NSTAGES; st++) {
		if (!s->ch[st].alive)
			continue;
		if (!all && st != PIPE_READER)
			continue;
		if (sig == SIGKILL)
			s->ch[st].killed_by_us = true;
		kill(s->ch[st].pid, sig);
	}
}

static bool any_alive(const struct super *s)
{
	int st;

	for (st = 0; st < PIPE_NSTAGES; st++)
		if (s->ch[st].alive)
			return true;
	return false;
}

static const char *import_desc(const struct super *s, char *buf,
			       size_t len)
{
	uint32_t info = atomic_load_explicit(&s->sh->info,
					     memory_order_acquire);

	if (!(info & PIPE_INFO_DETECTOR))
		snprintf(buf, len, "%s", s->a->cpu ? "cpu" : "vulkan ...");
	else if (!strcmp(s->sh->import, "cpu"))
		snprintf(buf, len, "cpu");
	else
		snprintf(buf, len, "%s import on %s", s->sh->import,
			 s->sh->device);
	return buf;
}

/*
 * One status line, kept under 80 columns for the \r rewrite on a tty:
 *   frames 94  read 67.6  detect 67.6  sink 67.6 fps  drops 0  memfd->host ...
 * (a stage not running yet shows its state instead of its rate).
 */
static void show_status(struct super *s, bool force)
{
	static const char *const short_names[PIPE_NSTAGES] = {
		"read", "detect", "sink"
	};
	char line[256], dev[32] = "";
	uint64_t now = now_ns(), f[PIPE_NSTAGES], drops = 0;
	const char *imp = s->a->cpu ? "cpu" : "vulkan";
	uint32_t info;
	double dt;
	int st, n;
	size_t k;

	if (s->a->quiet || (!force && !status_due(&s->status, now)))
		return;
	dt = (now - s->last_ns) / 1e9;
	for (st = 0; st < PIPE_NSTAGES; st++) {
		f[st] = atomic_load(&s->sh->st[st].frames);
		s->fps[st] = dt > 0 ? (f[st] - s->last_frames[st]) / dt : 0;
		s->last_frames[st] = f[st];
		drops += atomic_load(&s->sh->st[st].drops);
	}
	s->last_ns = now;
	info = atomic_load_explicit(&s->sh->info, memory_order_acquire);
	if (info & PIPE_INFO_DETECTOR) {
		imp = s->sh->import;
		if (strcmp(imp, "cpu")) {
			/* "llvmpipe (LLVM 15.0.6, 256 bits)" -> "llvmpipe" */
			k = strcspn(s->sh->device, "(");
			while (k && s->sh->device[k - 1] == ' ')
				k--;
			snprintf(dev, sizeof(dev), " %.*s", (int)k,
				 s->sh->device);
		}
	}
	n = snprintf(line, sizeof(line), "frames %" PRIu64, f[PIPE_SINK]);
	for (st = 0; st < PIPE_NSTAGES; st++) {
		uint32_t state = atomic_load(&s->sh->st[st].state);

		if (state == PIPE_ST_RUNNING || state == PIPE_ST_DONE)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      "  %s %.1f", short_names[st],
				      s->fps[st]);
		else
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      "  %s %s", short_names[st],
				      state < ARRAY_SIZE(state_names) ?
				      state_names[state] : "?");
	}
	snprintf(line + n, sizeof(line) - (size_t)n,
		 " fps  drops %" PRIu64 "  %s->%s%s", drops,
		 info & PIPE_INFO_READER ? s->sh->backend : "...", imp, dev);
	status_print(&s->status, "%s", line);
}

/*
 * A stage ended: if badly and it is the first to, name it in one line.
 * Return: true when this is the pipeline's (first) failure.
 */
static bool judge(struct super *s, int st)
{
	struct child *c = &s->ch[st];
	uint64_t frames = atomic_load(&s->sh->st[st].frames);

	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return false;
	if (s->failed >= 0)
		return false;	/* a consequence of the first failure */
	s->failed = st;
	status_done(&s->status);
	if (c->killed_by_us)
		tool_err("%s (pid %d) did not stop in time; killed after %"
			 PRIu64 " frames", stage_names[st], (int)c->pid,
			 frames);
	else if (WIFSIGNALED(c->status))
		tool_err("%s (pid %d) killed by signal %d after %" PRIu64
			 " frames", stage_names[st], (int)c->pid,
			 WTERMSIG(c->status), frames);
	else if (WEXITSTATUS(c->status) != PIPE_EXIT_REPORTED)
		tool_err("%s (pid %d) exited with status %d after %" PRIu64
			 " frames", stage_names[st], (int)c->pid,
			 WEXITSTATUS(c->status), frames);
	/* else: the stage said why itself, in one line. */
	return true;
}

static void reap(struct super *s)
{
	int batch[PIPE_NSTAGES], n = 0, i, pass, st, status;
	bool failed_now = false;
	uint64_t at;

	for (st = 0; st < PIPE_NSTAGES; st++) {
		struct child *c = &s->ch[st];

		if (!c->alive || waitpid(c->pid, &status, WNOHANG) != c->pid)
			continue;
		c->alive = false;
		c->status = status;
		batch[n++] = st;
	}
	/*
	 * Deaths by a signal first, then exits, each in pipeline order: a
	 * stage that failed because a killed one vanished, reaped in the
	 * same batch, must not be named instead of it.
	 */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			bool sig = WIFSIGNALED(s->ch[batch[i]].status);

			if (sig == (pass == 0))
				failed_now |= judge(s, batch[i]);
		}
	}
	if (failed_now && any_alive(s) && !s->kill_at) {
		/* The others may notice through their channels; if not,
		 * they are told. */
		at = now_ns() + FAIL_GRACE_NS;
		if (!s->term_at || s->term_at > at)
			s->term_at = at;
	}
}

/* Frames every stage has done, added up: a clean stop that still moves
 * them is draining, not stuck. */
static uint64_t frames_done(const struct super *s)
{
	uint64_t n = 0;
	int st;

	for (st = 0; st < PIPE_NSTAGES; st++)
		n += atomic_load(&s->sh->st[st].frames);
	return n;
}

static void on_signal(struct super *s, int sig)
{
	if (sig == SIGCHLD)
		return;
	if (!s->stop_sig) {
		s->stop_sig = sig;
		/* Stop at the source: the others drain and end. */
		signal_alive(s, SIGTERM, false);
		s->drained = frames_done(s);
		if (!s->term_at)
			s->term_at = now_ns() + STOP_GRACE_NS;
	} else if (!s->kill_at) {
		/* Asked twice: stop everyone now. */
		signal_alive(s, SIGTERM, true);
		s->term_at = 0;
		s->kill_at = now_ns() + KILL_GRACE_NS;
	}
}

static int supervise(struct super *s)
{
	struct signalfd_siginfo si;
	struct pollfd pfd = { .fd = s->sfd, .events = POLLIN };
	uint64_t now, wait_ns;
	int ms;

	while (any_alive(s)) {
		now = now_ns();
		/*
		 * A clean stop waits while the stages still finish frames (a
		 * slow device may need long to drain what the reader sent);
		 * STOP_GRACE_NS is the most it waits without progress.
		 */
		if (s->stop_sig && s->failed < 0 && s->term_at &&
		    !s->kill_at) {
			uint64_t done = frames_done(s);

			if (done != s->drained) {
				s->drained = done;
				s->term_at = now + STOP_GRACE_NS;
			}
		}
		if (s->term_at && now >= s->term_at) {
			signal_alive(s, SIGTERM, true);
			s->term_at = 0;
			s->kill_at = now + KILL_GRACE_NS;
		}
		if (s->kill_at && now >= s->kill_at) {
			signal_alive(s, SIGKILL, true);
			s->kill_at = 0;
		}
		show_status(s, false);
		wait_ns = s->a->quiet ? QUIET_TICK_MS * 1000000ull :
			  s->status.interval_ns;
		if (s->term_at && s->term_at - now < wait_ns)
			wait_ns = s->term_at - now;
		if (s->kill_at && s->kill_at - now < wait_ns)
			wait_ns = s->kill_at - now;
		ms = (int)(wait_ns / 1000000) + 1;
		if (poll(&pfd, 1, ms) > 0) {
			while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
				on_signal(s, (int)si.ssi_signo);
		}
		reap(s);
	}
	return s->failed >= 0 ? EXIT_FAIL : EXIT_OK;
}

static double stage_fps(const struct pipe_stage_stats *st)
{
	uint64_t n = atomic_load(&st->frames);
	uint64_t a = atomic_load(&st->first_ns), b = atomic_load(&st->last_ns);

	return n > 1 && b > a ? (n - 1) / ((b - a) / 1e9) : 0;
}

static const char *stopped_by(const struct super *s)
{
	if (s->stop_sig == SIGINT)
		return "SIGINT";
	if (s->stop_sig == SIGTERM)
		return "SIGTERM";
	if (s->a->frames && atomic_load(&s->sh->st[PIPE_READER].frames) >=
	    s->a->frames)
		return "--frames";
	return "end of input";
}

static void summary(struct super *s)
{
	static const char *const what[PIPE_NSTAGES] = {
		"frames read", "frames searched", "frames written"
	};
	const struct pipe_args *a = s->a;
	struct pipe_shared *sh = s->sh;
	double secs = (now_ns() - s->t0) / 1e9;
	uint64_t drops = 0, frames = atomic_load(&sh->st[PIPE_SINK].frames);
	uint64_t faces = atomic_load(&sh->st[PIPE_SINK].faces);
	uint64_t pngs = atomic_load(&sh->st[PIPE_SINK].extra);
	char fcc[11], imp[160];
	struct json j;
	int st;

	for (st = 0; st < PIPE_NSTAGES; st++)
		drops += atomic_load(&sh->st[st].drops);
	dmk_fourcc_to_str(s->in.fourcc, fcc);
	if (a->json_summary) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "command", "pipeline");
		json_kv_string(&j, "input", a->input);
		json_kv_string(&j, "format", fcc);
		json_kv_uint(&j, "width", s->in.width);
		json_kv_uint(&j, "height", s->in.height);
		json_kv_uint(&j, "frames", frames);
		json_kv_uint(&j, "faces", faces);
		json_kv_double(&j, "seconds", secs);
		json_kv_uint(&j, "drops", drops);
		json_kv_string(&j, "backend", sh->backend);
		json_kv_string(&j, "frame_io", sh->frame_io);
		json_kv_string(&j, "read_path", sh->read_path);
		json_kv_string(&j, "import", sh->import);
		json_kv_string(&j, "device", sh->device);
		json_kv_uint(&j, "detect_width", sh->det_w);
		json_kv_uint(&j, "detect_height", sh->det_h);
		json_kv_string(&j, "cascade", a->cascade);
		json_kv_uint(&j, "loops",
			     atomic_load(&sh->st[PIPE_READER].extra));
		json_kv_uint(&j, "pngs", pngs);
		json_kv_string(&j, "json", a->json_path);
		json_kv_string(&j, "out_dir", a->out_dir);
		json_kv_string(&j, "stopped_by", stopped_by(s));
		json_key(&j, "stages");
		json_object_begin(&j);
		for (st = 0; st < PIPE_NSTAGES; st++) {
			const struct pipe_stage_stats *ss = &sh->st[st];

			json_key(&j, stage_names[st]);
			json_object_begin(&j);
			json_kv_int(&j, "pid", s->ch[st].pid);
			json_kv_uint(&j, "frames", atomic_load(&ss->frames));
			json_kv_double(&j, "fps", stage_fps(ss));
			json_kv_uint(&j, "drops", atomic_load(&ss->drops));
			json_kv_double(&j, "busy_ms",
				       atomic_load(&ss->busy_ns) / 1e6);
			json_object_end(&j);
		}
		json_object_end(&j);
		json_object_end(&j);
		json_end(&j);
		fflush(stdout);
		return;
	}
	printf("pipeline: %" PRIu64 " frames, %" PRIu64 " faces found in "
	       "%.2f s (stopped by %s)\n", frames, faces, secs, stopped_by(s));
	printf("  input     %s: %s %ux%u\n", a->input, fcc, s->in.width,
	       s->in.height);
	for (st = 0; st < PIPE_NSTAGES; st++) {
		const struct pipe_stage_stats *ss = &sh->st[st];

		printf("  %-9s %" PRIu64 " %s, %.1f fps, %" PRIu64
		       " dropped\n", stage_names[st], atomic_load(&ss->frames),
		       what[st], stage_fps(ss), atomic_load(&ss->drops));
	}
	printf("  buffers   %u from %s, frames read %s (%s)\n", a->pool,
	       sh->backend, sh->frame_io, sh->read_path);
	printf("  detection %s, %ux%u gray, %s\n",
	       import_desc(s, imp, sizeof(imp)), sh->det_w, sh->det_h,
	       a->cascade);
	printf("  output    %s", a->json_path);
	if (pngs)
		printf(", %" PRIu64 " PNGs in %s", pngs, a->out_dir);
	printf("\n");
	fflush(stdout);
}

int cmd_pipeline(int argc, char **argv)
{
	struct pipe_args a;
	struct super s;
	sigset_t set, old;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;
	if (!a.input[0] && default_input(&a))
		return EXIT_FAIL;

	memset(&s, 0, sizeof(s));
	s.a = &a;
	s.failed = -1;
	s.sfd = -1;
	s.ctx.a = &a;
	s.ctx.json_fd = -1;
	ret = check_inputs(&s);
	if (ret)
		return ret;
	ret = open_outputs(&s);
	if (ret)
		return ret;
	s.sh = mmap(NULL, sizeof(*s.sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s.sh == MAP_FAILED) {
		tool_err("mmap: %s", strerror(errno));
		close(s.ctx.json_fd);
		return EXIT_FAIL;
	}
	s.ctx.sh = s.sh;
	/* Known now, so every stage has it before the first frame. */
	s.sh->width = s.in.width;
	s.sh->height = s.in.height;
	ret = make_sock_dir(&s);
	if (ret)
		goto out;

	/* Signals become events on one fd; the children restore theirs. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	s.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0) {
		tool_err("signalfd: %s", strerror(errno));
		ret = EXIT_FAIL;
		goto out_mask;
	}

	status_init(&s.status);
	s.t0 = s.last_ns = now_ns();
	if (!a.quiet)
		fprintf(stderr, "%s: %s (%ux%u) -> faces -> %s; Ctrl-C "
			"stops\n", tool_name(), a.input, s.in.width,
			s.in.height, a.json_path);
	if (start_stages(&s) || write_pids(&s)) {
		/* Whatever started is stopped and reaped below. */
		s.failed = PIPE_NSTAGES;
		signal_alive(&s, SIGKILL, true);
	}
	/* The sink has its own copy. */
	close(s.ctx.json_fd);
	s.ctx.json_fd = -1;
	ret = supervise(&s);
	remove_partial_pngs(&a);
	status_done(&s.status);
	if (ret == EXIT_OK)
		summary(&s);

	close(s.sfd);
out_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	remove_sock_dir(&s);
	if (s.ctx.json_fd >= 0)
		close(s.ctx.json_fd);
	munmap(s.sh, sizeof(*s.sh));
	if (ret == EXIT_OK && ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return ret;
}
