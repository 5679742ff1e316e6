// SPDX-License-Identifier: MIT
/*
 * dmakit bench handoff: frames handed from a producer process to a
 * consumer process, per second and how long each hand-off takes, for
 * dmakit's channel and, in the same run, for two baselines:
 *
 *   dmakit        busy-poll  consumer spins on its ring (DMK_CHAN_BUSY_POLL)
 *   dmakit        eventfd    consumer sleeps on the ring's eventfd when
 *                            its ring is empty
 *   dmakit        eventfd-lockstep
 *                            the same consumer, one frame in flight: the
 *                            producer publishes the next frame only once
 *                            the last was released, so every frame costs
 *                            the consumer an eventfd round trip
 *   dmakit        eventfd-paced
 *                            the same consumer, frames published every
 *                            PACED_NS (10k/s): it is asleep for every
 *                            frame, so the latency is the wakeup's
 *   socket-copy   stream     every frame copied through a SOCK_STREAM
 *                            socketpair: header + whole frame, read fully
 *                            into the consumer's own buffer (what
 *                            multiprocessing queues do)
 *   fd-per-frame  seqpacket  the buffer's fd sent with every frame
 *                            (SCM_RIGHTS on SOCK_SEQPACKET); the consumer
 *                            mmaps it, reads a byte, munmaps, closes and
 *                            acks so the producer may reuse the buffer
 *                            (what GStreamer's unixfd elements do)
 *
 * The producer never redraws frames: the hand-off is measured, not the
 * memset.  It runs flat out (but in lockstep and paced); every transport
 * pushes back when the consumer falls behind (the pool runs empty, the
 * socket fills, acks stop coming), so the rate is what the consumer can
 * take.  A consumer that keeps up seldom finds its ring empty, so it
 * sleeps for every frame only when paced: that case measures a wakeup.
 * Latency is the producer's CLOCK_MONOTONIC timestamp (at publish, or
 * right before the send) to the moment the consumer has read a byte of
 * the frame.
 *
 * Each case runs in two fresh child processes, pinned to two CPUs when
 * there are two; cases are interleaved, their order reversed every round,
 * and each figure is the median of the rounds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* CPU_SET, MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/dmakit.h>

#include "pattern.h"
#include "util.h"

#define MAX_SIZES 8
#define MAX_ROUNDS 21
#define DEFAULT_SECONDS 2.0
#define DEFAULT_ROUNDS 2
#define DEFAULT_BUFFERS 8
#define DEFAULT_SLOTS 8
#define LAT_CAP (1u << 22)		/* samples kept; reservoir past it */
#define DISPATCH_EVERY 4096		/* frames between dispatches */
#define PACED_NS 100000ull		/* eventfd-paced: 10k frames/s */
#define SETUP_TIMEOUT_NS 10000000000ull

enum hcase { C_BUSY, C_EVENTFD, C_LOCKSTEP, C_PACED, C_COPY, C_FDPASS,
	     C_COUNT };
#define C_FIRST_BASELINE C_COPY

static const struct {
	const char *kase;	/* "case" in JSON */
	const char *mode;
	bool baseline;
} cases[C_COUNT] = {
	[C_BUSY] = { "dmakit", "busy-poll", false },
	[C_EVENTFD] = { "dmakit", "eventfd", false },
	[C_LOCKSTEP] = { "dmakit", "eventfd-lockstep", false },
	[C_PACED] = { "dmakit", "eventfd-paced", false },
	[C_COPY] = { "socket-copy", "stream", true },
	[C_FDPASS] = { "fd-per-frame", "seqpacket", true },
};

/* What the consumer measured in one run (or why it failed). */
struct run_res {
	int err;		/* 0, or -errno */
	char why[200];
	uint64_t frames;	/* received in the window */
	double secs;		/* the window's length */
	double rate;		/* frames / secs */
	double p50_us, p99_us, max_us;
	uint64_t dropped;
	uint64_t sleeps;	/* consumer's voluntary context switches */
	uint64_t preempts;	/* and involuntary ones */
	double cpu_share;	/* consumer's CPU time / window */
};

/* Shared with both children (MAP_SHARED | MAP_ANONYMOUS). */
struct shared {
	_Atomic int stop;	/* the window is over (or a child failed) */
	_Atomic int listening;	/* the dmakit producer's socket is up */
	struct run_res cons;
	int prod_err;
	char prod_why[200];
};

struct hsize {
	char name[32];
	struct dmk_frame_layout l;
	struct dmk_pool *pool;
};

struct hbench {
	struct hsize sizes[MAX_SIZES];
	int nsizes;
	double seconds;
	double warmup;
	unsigned int rounds;
	unsigned int buffers;
	unsigned int slots;
	bool on[C_COUNT];	/* cases to run */
	bool json;
	int cpu_prod, cpu_cons;	/* -1: not pinned */
	char path[108];
	struct shared *sh;
	struct run_res res[MAX_SIZES][C_COUNT][MAX_ROUNDS];
};

/* The header that travels with every baseline frame. */
struct frame_hdr {
	uint64_t frame_id;
	uint64_t ts_ns;
	uint64_t size;
	uint32_t buf_id;
	uint32_t pad;
};

static const char bench_handoff_help[] =
	"Usage: dmakit bench handoff [--sizes LIST] [--cases LIST]\n"
	"                            [--seconds S] [--rounds N]\n"
	"                            [--buffers N] [--slots N] [--json]\n"
	"\n"
	"Hand NV12 frames from a producer process to a consumer process and\n"
	"measure hand-offs per second delivered to the consumer, latency\n"
	"(producer timestamp -> consumer has read a byte of the frame,\n"
	"p50/p99/max) and drops, for these cases side by side:\n"
	"  dmakit busy-poll        the consumer spins on its ring\n"
	"  dmakit eventfd          the consumer sleeps on an eventfd when\n"
	"                          its ring is empty\n"
	"  dmakit eventfd-lockstep the same, one frame in flight: the next\n"
	"                          is published once the last is released,\n"
	"                          so every frame costs an eventfd round\n"
	"                          trip\n"
	"  dmakit eventfd-paced    the same, 10k frames/s: the consumer is\n"
	"                          asleep for each, latency is the wakeup\n"
	"  socket-copy stream      baseline: every frame copied through a\n"
	"                          socketpair (what multiprocessing queues\n"
	"                          do)\n"
	"  fd-per-frame seqpacket  baseline: the buffer's fd sent with every\n"
	"                          frame, mmapped, munmapped, closed and\n"
	"                          acked (what GStreamer unixfd does)\n"
	"The producer does not redraw frames and runs flat out (but in\n"
	"lockstep and paced); the consumer takes what it can.  Producer\n"
	"and consumer are pinned to two different CPUs when there are two.\n"
	"Cases are interleaved, their order reversed every round; figures\n"
	"are medians of the rounds.\n"
	"\n"
	"Options:\n"
	"  --sizes LIST   frame sizes: 1080p, 4k, 720p, WxH ... (default\n"
	"                 1080p,4k)\n"
	"  --cases LIST   busy-poll, eventfd, eventfd-lockstep,\n"
	"                 eventfd-paced, socket-copy, fd-per-frame, or\n"
	"                 dmakit / baselines for those groups (default: all)\n"
	"  --seconds S    measured seconds per case and round, after a\n"
	"                 warm-up of a tenth of that (default 2)\n"
	"  --rounds N     rounds (default 2)\n"
	"  --buffers N    pool buffers (default 8)\n"
	"  --slots N      ring slots, a power of two (default 8)\n"
	"  --json         a JSON array: one object per size and case\n"
	"                 (baselines included) with bench, case, size,\n"
	"                 width, height, mode, handoffs_per_s, p50_us,\n"
	"                 p99_us, max_us, dropped, seconds, and more\n"
	"  -h, --help     this text\n";

void bench_handoff_usage(FILE *f)
{
	fputs(bench_handoff_help, f);
}

/* ---- options ---- */

static int add_size(struct hbench *b, const char *item)
{
	struct hsize *s;
	uint32_t w, h;
	int ret;

	if (pattern_parse_size(item, &w, &h))
		return tool_usage_err("--sizes: '%s' is not WxH or a name "
				      "such as 1080p or 4k", item);
	if (b->nsizes == MAX_SIZES)
		return tool_usage_err("--sizes: at most %d sizes", MAX_SIZES);
	s = &b->sizes[b->nsizes];
	ret = dmk_frame_layout_init(&s->l, DRM_FORMAT_NV12, w, h, NULL);
	if (ret)
		return tool_usage_err("--sizes: %s: %s", item,
				      dmk_strerror(ret));
	snprintf(s->name, sizeof(s->name), "%s", item);
	b->nsizes++;
	return 0;
}

static int parse_sizes(struct hbench *b, const char *list)
{
	const char *cur = list;
	char item[32];
	int ret;

	b->nsizes = 0;
	while ((ret = list_next(&cur, item, sizeof(item))) > 0) {
		ret = add_size(b, item);
		if (ret)
			return ret;
	}
	if (ret < 0 || !b->nsizes)
		return tool_usage_err("--sizes: '%s' is not a list of sizes",
				      list);
	return 0;
}

/* --cases: modes of dmakit, names of baselines, "dmakit", "baselines". */
static int parse_cases(struct hbench *b, const char *list)
{
	const char *cur = list;
	char item[32];
	int ret, c;
	bool hit;

	memset(b->on, 0, sizeof(b->on));
	while ((ret = list_next(&cur, item, sizeof(item))) > 0) {
		hit = false;
		for (c = 0; c < C_COUNT; c++) {
			if (!strcmp(item, cases[c].baseline ? cases[c].kase :
				    cases[c].mode) ||
			    (!strcmp(item, "dmakit") && !cases[c].baseline) ||
			    (!strcmp(item, "baselines") && cases[c].baseline)) {
				b->on[c] = true;
				hit = true;
			}
		}
		if (!hit)
			return tool_usage_err("--cases: no case '%s' (busy-"
					      "poll, eventfd, eventfd-lockstep"
					      ", eventfd-paced, socket-copy, "
					      "fd-per-frame, dmakit, "
					      "baselines)", item);
	}
	if (ret < 0)
		return tool_usage_err("--cases: '%s' is not a list of cases",
				      list);
	return 0;
}

static int parse_args(int argc, char **argv, struct hbench *b)
{
	enum { OPT_SIZES = 256, OPT_CASES, OPT_SECONDS, OPT_ROUNDS,
	       OPT_BUFFERS, OPT_SLOTS, OPT_JSON };
	static const struct option longopts[] = {
		{ "sizes", required_argument, NULL, OPT_SIZES },
		{ "cases", required_argument, NULL, OPT_CASES },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "buffers", required_argument, NULL, OPT_BUFFERS },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_sizes = false, have_cases = false;
	uint64_t v;
	int c, ret;

	b->seconds = DEFAULT_SECONDS;
	b->rounds = DEFAULT_ROUNDS;
	b->buffers = DEFAULT_BUFFERS;
	b->slots = DEFAULT_SLOTS;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SIZES:
			ret = parse_sizes(b, optarg);
			if (ret)
				return ret;
			have_sizes = true;
			break;
		case OPT_CASES:
			ret = parse_cases(b, optarg);
			if (ret)
				return ret;
			have_cases = true;
			break;
		case OPT_SECONDS:
			if (parse_seconds(optarg, &b->seconds) ||
			    !isfinite(b->seconds) || b->seconds < 0.05 ||
			    b->seconds > 3600)
				return tool_usage_err("--seconds: '%s' is not "
						      "a number of seconds "
						      "from 0.05 to 3600",
						      optarg);
			break;
		case OPT_ROUNDS:
			if (parse_uint(optarg, 1, MAX_ROUNDS, &v))
				return tool_usage_err("--rounds: '%s' is not a "
						      "number from 1 to %d",
						      optarg, MAX_ROUNDS);
			b->rounds = (unsigned int)v;
			break;
		case OPT_BUFFERS:
			if (parse_uint(optarg, 2, DMK_POOL_MAX, &v))
				return tool_usage_err("--buffers: '%s' is not "
						      "a number from 2 to %d",
						      optarg, DMK_POOL_MAX);
			b->buffers = (unsigned int)v;
			break;
		case OPT_SLOTS:
			if (pattern_opt_slots(optarg, &b->slots))
				return EXIT_USAGE;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_handoff_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	if (!have_sizes) {
		ret = parse_sizes(b, "1080p,4k");
		if (ret)
			return ret;
	}
	for (c = 0; !have_cases && c < C_COUNT; c++)
		b->on[c] = true;
	b->warmup = b->seconds / 10;
	if (b->warmup < 0.05)
		b->warmup = 0.05;
	return 0;
}

/* ---- helpers shared by the children ---- */

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void usage_now(struct rusage *ru)
{
	if (getrusage(RUSAGE_THREAD, ru))
		memset(ru, 0, sizeof(*ru));
}

static double cpu_secs(const struct rusage *ru)
{
	return ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	       ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

__attribute__((format(printf, 3, 4)))
static int child_fail(struct hbench *b, int err, const char *fmt, ...)
{
	bool prod = !strncmp(fmt, "producer", 8);
	char *why = prod ? b->sh->prod_why : b->sh->cons.why;
	size_t len = prod ? sizeof(b->sh->prod_why) : sizeof(b->sh->cons.why);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	if (prod)
		b->sh->prod_err = err ? err : -EIO;
	else
		b->sh->cons.err = err ? err : -EIO;
	atomic_store(&b->sh->stop, 1);
	return 1;
}

static bool stopped(struct hbench *b)
{
	return atomic_load_explicit(&b->sh->stop, memory_order_relaxed);
}

/* The consumer's measuring window: a warm-up, then a fixed length. */
struct window {
	uint64_t warm_ns, len_ns;
	uint64_t first, begin, end;
	uint64_t frames;
	struct rusage ru0;
	struct lat_rec *lat;
};

/*
 * Count one frame received (read) at @t and stamped @ts by the producer.
 * Returns 1 when the window has just begun, 2 when it is over, else 0.
 */
static inline int win_frame(struct window *w, uint64_t t, uint64_t ts)
{
	if (w->begin) {
		lat_add(w->lat, t > ts ? t - ts : 0);
		w->frames++;
		if (t - w->begin < w->len_ns)
			return 0;
		w->end = t;
		return 2;
	}
	if (!w->first)
		w->first = t;
	if (t - w->first < w->warm_ns)
		return 0;
	w->begin = t;
	usage_now(&w->ru0);
	return 1;
}

static void win_init(struct window *w, struct hbench *b,
		     struct lat_rec *lat)
{
	memset(w, 0, sizeof(*w));
	w->warm_ns = (uint64_t)(b->warmup * 1e9);
	w->len_ns = (uint64_t)(b->seconds * 1e9);
	w->lat = lat;
}

/* The window is over: its figures into the shared result. */
static void win_report(struct hbench *b, struct window *w, uint64_t dropped)
{
	struct run_res *r = &b->sh->cons;
	struct rusage ru;
	struct stats st;

	usage_now(&ru);
	r->sleeps = (uint64_t)(ru.ru_nvcsw - w->ru0.ru_nvcsw);
	r->preempts = (uint64_t)(ru.ru_nivcsw - w->ru0.ru_nivcsw);
	stats_compute(w->lat->ns, w->lat->n, &st);
	r->frames = w->frames;
	r->secs = (w->end - w->begin) / 1e9;
	r->rate = r->secs > 0 ? r->frames / r->secs : 0;
	r->cpu_share = r->secs > 0 ?
		       (cpu_secs(&ru) - cpu_secs(&w->ru0)) / r->secs : 0;
	r->p50_us = st.median_us;
	r->p99_us = st.p99_us;
	r->max_us = w->lat->max / 1e3;
	r->dropped = dropped;
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- dmakit ---- */

static int prod_dmakit(struct hbench *b, struct hsize *s, enum hcase c)
{
	DMK_OPTS(dmk_chan_opts, co, .nslots = b->slots);
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	struct dmk_pool_stats ps = { .sz = sizeof(ps) };
	bool lockstep = c == C_LOCKSTEP;
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	uint64_t n = 0, next = 0, deadline;
	int id, ret;

	ret = dmk_chan_serve(b->path, s->pool, &co, &ch);
	if (ret)
		return child_fail(b, ret, "producer: dmk_chan_serve %s: %s",
				  b->path, dmk_strerror(ret));
	atomic_store(&b->sh->listening, 1);
	deadline = now_ns() + SETUP_TIMEOUT_NS;
	do {
		dmk_chan_dispatch(ch, 10);
		dmk_chan_stats(ch, &st);
	} while (!st.consumers && !stopped(b) && now_ns() < deadline);
	if (!st.consumers) {
		dmk_chan_close(ch);
		if (stopped(b))
			return 0;	/* the consumer said why */
		return child_fail(b, -ETIMEDOUT, "producer: the consumer "
				  "never connected");
	}
	memset(&fi, 0, sizeof(fi));
	while (!stopped(b)) {
		if (c == C_PACED) {
			/* Spin to the next tick: the producer's own wakeup
			 * must not be part of the consumer's latency. */
			uint64_t now;

			while ((now = now_ns()) < next && !stopped(b))
				;
			next = (next ? next : now) + PACED_NS;
			if (now > next)
				next = now + PACED_NS;
		}
		id = dmk_pool_acquire(s->pool, 0);
		if (id < 0) {
			/* All out with the consumer: collect releases. */
			dmk_chan_dispatch(ch, 0);
			continue;
		}
		fi.frame_id = n;
		ret = dmk_chan_publish(ch, (unsigned int)id, &fi);
		dmk_pool_release(s->pool, (unsigned int)id);
		if (ret < 0) {
			dmk_chan_close(ch);
			return child_fail(b, ret, "producer: dmk_chan_publish: "
					  "%s", dmk_strerror(ret));
		}
		if (ret == 0)
			break;		/* the consumer left */
		if (lockstep) {
			/* Spin until the consumer gave the frame back: it
			 * finds its ring empty after every frame and arms
			 * its eventfd, which the next publish writes. */
			do {
				dmk_chan_dispatch(ch, 0);
				dmk_pool_stats(s->pool, &ps);
			} while (ps.in_use && !stopped(b));
		}
		if (++n % DISPATCH_EVERY == 0)
			dmk_chan_dispatch(ch, 0);
	}
	dmk_chan_close(ch);
	return 0;
}

static int cons_dmakit(struct hbench *b, bool busy, struct lat_rec *lat)
{
	DMK_OPTS(dmk_chan_opts, co, .flags = busy ? DMK_CHAN_BUSY_POLL : 0,
		 .name = "bench");
	struct dmk_chan_stats st = { .sz = sizeof(st) };
	uint64_t deadline = now_ns() + SETUP_TIMEOUT_NS, drop0 = 0;
	struct dmk_frame_info fi;
	struct dmk_chan *ch;
	struct window w;
	const volatile uint8_t *p;
	int id, ret, k;

	while (!atomic_load(&b->sh->listening)) {
		if (stopped(b))
			return 1;
		if (now_ns() > deadline)
			return child_fail(b, -ETIMEDOUT, "consumer: the "
					  "producer never listened");
		usleep(1000);
	}
	ret = dmk_chan_connect(b->path, &co, 5000, &ch);
	if (ret)
		return child_fail(b, ret, "consumer: dmk_chan_connect: %s",
				  dmk_strerror(ret));
	win_init(&w, b, lat);
	for (;;) {
		id = dmk_chan_recv(ch, &fi, -1);
		if (id < 0) {
			dmk_chan_close(ch);
			return child_fail(b, id, "consumer: dmk_chan_recv: %s",
					  dmk_strerror(id));
		}
		p = dmk_chan_addr(ch, (unsigned int)id);
		(void)p[0];
		k = win_frame(&w, now_ns(), fi.ts_ns);
		dmk_chan_release(ch, (unsigned int)id);
		if (k == 1) {
			dmk_chan_stats(ch, &st);
			drop0 = st.dropped;
		} else if (k == 2) {
			break;
		}
	}
	atomic_store(&b->sh->stop, 1);
	dmk_chan_stats(ch, &st);
	win_report(b, &w, st.dropped - drop0);
	dmk_chan_close(ch);
	return 0;
}

/* ---- baseline (a): every frame copied through a socket ---- */

static int prod_copy(struct hbench *b, struct hsize *s, int sock)
{
	struct frame_hdr h = { .size = s->l.size };
	struct iovec iov[2];
	struct msghdr mh;
	unsigned int nbufs = dmk_pool_count(s->pool);
	uint64_t n = 0;
	ssize_t k;

	while (!stopped(b)) {
		h.frame_id = n;
		h.buf_id = (uint32_t)(n % nbufs);
		h.ts_ns = now_ns();
		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		iov[1].iov_base = dmk_pool_addr(s->pool, h.buf_id);
		iov[1].iov_len = h.size;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		while (mh.msg_iovlen) {
			k = sendmsg(sock, &mh, MSG_NOSIGNAL);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
				return 0;	/* the consumer is done */
			if (k < 0)
				return child_fail(b, -errno, "producer: "
						  "sendmsg: %s",
						  strerror(errno));
			while (mh.msg_iovlen && (size_t)k >=
			       mh.msg_iov[0].iov_len) {
				k -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
			if (mh.msg_iovlen) {
				mh.msg_iov[0].iov_base =
					(char *)mh.msg_iov[0].iov_base + k;
				mh.msg_iov[0].iov_len -= (size_t)k;
			}
		}
		n++;
	}
	return 0;
}

static int cons_copy(struct hbench *b, struct hsize *s, int sock,
		     struct lat_rec *lat)
{
	struct frame_hdr h;
	struct window w;
	uint8_t *buf;
	int ret, k;

	/* The consumer's own frame, faulted in before anything is timed. */
	buf = mmap(NULL, s->l.size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return child_fail(b, -ENOMEM, "consumer: no memory for a "
				  "frame");
	win_init(&w, b, lat);
	for (;;) {
		ret = read_full(sock, &h, sizeof(h));
		if (!ret && h.size != s->l.size)
			ret = -EPROTO;
		if (!ret)
			ret = read_full(sock, buf, h.size);
		if (ret)
			return child_fail(b, ret, "consumer: read: %s",
					  strerror(-ret));
		(void)((volatile uint8_t *)buf)[0];
		k = win_frame(&w, now_ns(), h.ts_ns);
		if (k == 2)
			break;
	}
	atomic_store(&b->sh->stop, 1);
	win_report(b, &w, 0);
	return 0;
}

/* ---- baseline (b): the fd sent with every frame ---- */

static int prod_fdpass(struct hbench *b, struct hsize *s, int sock)
{
	unsigned int nbufs = dmk_pool_count(s->pool), nfree = 0, i;
	uint32_t free_ids[DMK_POOL_MAX], ack;
	uint8_t out[DMK_POOL_MAX] = { 0 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct frame_hdr h = { .size = s->l.size };
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr mh;
	struct cmsghdr *c;
	uint64_t n = 0;
	ssize_t k;
	int fd, flags;

	for (i = 0; i < nbufs; i++)
		free_ids[nfree++] = nbufs - 1 - i;
	while (!stopped(b)) {
		/* No free buffer: wait for one ack, then take any others
		 * that are already there. */
		for (flags = 0; !nfree || flags; flags = MSG_DONTWAIT) {
			k = recv(sock, &ack, sizeof(ack), flags);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k == 0 || (k < 0 && errno == ECONNRESET))
				return 0;	/* the consumer is done */
			if (k < 0)
				return child_fail(b, -errno, "producer: recv: "
						  "%s", strerror(errno));
			if (k != sizeof(ack) || ack >= nbufs || !out[ack])
				return child_fail(b, -EPROTO, "producer: bad "
						  "ack");
			out[ack] = 0;
			free_ids[nfree++] = ack;
		}
		h.buf_id = free_ids[--nfree];
		fd = dmk_buf_fd(dmk_pool_buf(s->pool, h.buf_id));
		h.frame_id = n;
		h.ts_ns = now_ns();
		memset(&mh, 0, sizeof(mh));
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		do {
			k = sendmsg(sock, &mh, MSG_NOSIGNAL);
		} while (k < 0 && errno == EINTR);
		if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
			return 0;
		if (k != sizeof(h))
			return child_fail(b, k < 0 ? -errno : -EIO, "producer: "
					  "sendmsg: %s", k < 0 ?
					  strerror(errno) : "short");
		out[h.buf_id] = 1;
		n++;
	}
	return 0;
}

static int cons_fdpass(struct hbench *b, struct hsize *s, int sock,
		       struct lat_rec *lat)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct frame_hdr h;
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr mh;
	struct cmsghdr *c;
	struct window w;
	const volatile uint8_t *p;
	ssize_t n;
	int fd, k;

	win_init(&w, b, lat);
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		do {
			n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			return child_fail(b, n ? -errno : -EPIPE, "consumer: "
					  "recvmsg: %s", n ? strerror(errno) :
					  "the producer went away");
		c = CMSG_FIRSTHDR(&mh);
		if (!c || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len != CMSG_LEN(sizeof(int)) ||
		    (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
		    n != sizeof(h) || h.size != s->l.size)
			return child_fail(b, -EPROTO, "consumer: a message "
					  "without its fd, or malformed");
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
		p = mmap(NULL, h.size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return child_fail(b, -errno, "consumer: mmap: %s",
					  strerror(errno));
		(void)p[0];
		k = win_frame(&w, now_ns(), h.ts_ns);
		munmap((void *)p, h.size);
		close(fd);
		if (send(sock, &h.buf_id, sizeof(h.buf_id), MSG_NOSIGNAL) !=
		    sizeof(h.buf_id))
			return child_fail(b, -errno, "consumer: send ack: %s",
					  strerror(errno));
		if (k == 2)
			break;
	}
	atomic_store(&b->sh->stop, 1);
	win_report(b, &w, 0);
	return 0;
}

/* ---- one run: two children ---- */

static int producer_main(struct hbench *b, struct hsize *s, enum hcase c,
			 int sock)
{
	pin(b->cpu_prod);
	switch (c) {
	case C_BUSY:
	case C_EVENTFD:
	case C_LOCKSTEP:
	case C_PACED:
		return prod_dmakit(b, s, c);
	case C_COPY:
		return prod_copy(b, s, sock);
	default:
		return prod_fdpass(b, s, sock);
	}
}

static int consumer_main(struct hbench *b, struct hsize *s, enum hcase c,
			 int sock)
{
	struct lat_rec lat;

	pin(b->cpu_cons);
	/* Room for every latency sample, faulted in before timing. */
	if (lat_init(&lat, LAT_CAP))
		return child_fail(b, -ENOMEM, "consumer: no memory for "
				  "latency samples");
	switch (c) {
	case C_BUSY:
		return cons_dmakit(b, true, &lat);
	case C_EVENTFD:
	case C_LOCKSTEP:
	case C_PACED:
		return cons_dmakit(b, false, &lat);
	case C_COPY:
		return cons_copy(b, s, sock, &lat);
	default:
		return cons_fdpass(b, s, sock, &lat);
	}
}

/* Reap @pid by @deadline, killing it past that; a word on how it ended. */
static int reap(pid_t pid, uint64_t deadline, char *why, size_t len)
{
	struct timespec d = { 0, 5000000 };
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, len, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, len, "did not finish in time (killed)");
			return -1;
		}
		nanosleep(&d, NULL);
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, len, "killed by signal %d", WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status) ? 1 : 0;
}

static void run_case(struct hbench *b, struct hsize *s, enum hcase c,
		     struct run_res *out)
{
	int sv[2] = { -1, -1 }, type, rp, rc;
	char wp[128] = "", wc[128] = "";
	pid_t prod, cons;
	uint64_t deadline;

	memset(b->sh, 0, sizeof(*b->sh));
	memset(out, 0, sizeof(*out));
	if (c == C_COPY || c == C_FDPASS) {
		type = c == C_COPY ? SOCK_STREAM : SOCK_SEQPACKET;
		if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv)) {
			out->err = -errno;
			snprintf(out->why, sizeof(out->why), "socketpair: %s",
				 strerror(errno));
			return;
		}
	}
	fflush(stdout);
	fflush(stderr);
	prod = fork();
	if (prod == 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		_exit(producer_main(b, s, c, sv[0]));
	}
	cons = prod > 0 ? fork() : -1;
	if (cons == 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		_exit(consumer_main(b, s, c, sv[1]));
	}
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	if (prod < 0 || cons < 0) {
		out->err = -errno;
		snprintf(out->why, sizeof(out->why), "fork: %s",
			 strerror(errno));
		if (prod > 0) {
			atomic_store(&b->sh->stop, 1);
			reap(prod, now_ns() + 5000000000ull, wp, sizeof(wp));
		}
		return;
	}
	deadline = now_ns() + (uint64_t)((b->warmup + b->seconds) * 1e9) +
		   2 * SETUP_TIMEOUT_NS;
	rc = reap(cons, deadline, wc, sizeof(wc));
	/* However the consumer ended, the producer stops now. */
	atomic_store(&b->sh->stop, 1);
	rp = reap(prod, now_ns() + 5000000000ull, wp, sizeof(wp));
	if (c < C_FIRST_BASELINE)
		unlink(b->path);	/* left by a producer that died */

	*out = b->sh->cons;
	if (out->err && b->sh->prod_err && out->err == -EPIPE) {
		/* The consumer saw the producer fail: say why. */
		out->err = b->sh->prod_err;
		snprintf(out->why, sizeof(out->why), "%s", b->sh->prod_why);
	} else if (!out->err && b->sh->prod_err) {
		out->err = b->sh->prod_err;
		snprintf(out->why, sizeof(out->why), "%s", b->sh->prod_why);
	}
	if (!out->err && (rc < 0 || rp < 0)) {
		out->err = -ECHILD;
		snprintf(out->why, sizeof(out->why), "%s%s%s%s",
			 rc < 0 ? "consumer " : "", rc < 0 ? wc : "",
			 rp < 0 ? (rc < 0 ? "; producer " : "producer ") : "",
			 rp < 0 ? wp : "");
	} else if (!out->err && !out->frames) {
		out->err = -EIO;
		snprintf(out->why, sizeof(out->why), "no frame measured");
	}
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The medians of a case over its good rounds. */
struct summary {
	unsigned int ok;	/* rounds that ran */
	double rate, p50, p99, max, dropped, secs, sleeps_per_frame;
	double preempts, cpu_share;
	double rates[MAX_ROUNDS];	/* in round order */
	const char *why;	/* of the first failed round */
};

static void summarize(struct hbench *b, int si, enum hcase c,
		      struct summary *m)
{
	double v[9][MAX_ROUNDS];
	unsigned int r, n = 0;

	memset(m, 0, sizeof(*m));
	m->why = "not selected";
	if (!b->on[c])
		return;
	m->why = NULL;
	for (r = 0; r < b->rounds; r++) {
		const struct run_res *x = &b->res[si][c][r];

		if (x->err) {
			if (!m->why)
				m->why = x->why;
			continue;
		}
		m->rates[n] = x->rate;
		v[0][n] = x->rate;
		v[1][n] = x->p50_us;
		v[2][n] = x->p99_us;
		v[3][n] = x->max_us;
		v[4][n] = (double)x->dropped;
		v[5][n] = x->secs;
		v[6][n] = x->frames ? (double)x->sleeps / x->frames : 0;
		v[7][n] = (double)x->preempts;
		v[8][n] = x->cpu_share;
		n++;
	}
	m->ok = n;
	m->rate = median(v[0], n);
	m->p50 = median(v[1], n);
	m->p99 = median(v[2], n);
	m->max = median(v[3], n);
	m->dropped = median(v[4], n);
	m->secs = median(v[5], n);
	m->sleeps_per_frame = median(v[6], n);
	m->preempts = median(v[7], n);
	m->cpu_share = median(v[8], n);
}

/* A ratio with @prec decimals, or 3 when under 1 (one CPU, say). */
static void print_ratio(const char *sep, double r, int prec,
			const char *what)
{
	printf("%s%.*fx %s", sep, r < 1 ? 3 : prec, r, what);
}

static void print_text(struct hbench *b)
{
	struct summary m[MAX_SIZES][C_COUNT];
	const char *verdict;
	bool header;
	double want;
	int si, c;

	for (si = 0; si < b->nsizes; si++)
		for (c = 0; c < C_COUNT; c++)
			summarize(b, si, (enum hcase)c, &m[si][c]);
	printf("%-6s %-13s %-16s %11s %8s %8s %9s %7s %12s %8s\n", "size",
	       "case", "mode", "handoffs/s", "p50_us", "p99_us", "max_us",
	       "dropped", "sleeps/frame", "cons_cpu");
	for (si = 0; si < b->nsizes; si++) {
		struct summary *x = m[si];

		for (c = 0; c < C_COUNT; c++) {
			if (!b->on[c])
				continue;
			if (!x[c].ok) {
				printf("%-6s %-13s %-16s failed: %s\n",
				       b->sizes[si].name, cases[c].kase,
				       cases[c].mode, x[c].why);
				continue;
			}
			printf("%-6s %-13s %-16s %11.0f %8.2f %8.2f %9.1f "
			       "%7.0f %12.3f %7.0f%%%s\n", b->sizes[si].name,
			       cases[c].kase, cases[c].mode, x[c].rate,
			       x[c].p50, x[c].p99, x[c].max, x[c].dropped,
			       x[c].sleeps_per_frame, x[c].cpu_share * 100,
			       x[c].ok < b->rounds ? "  (some rounds failed)" :
			       "");
		}
		header = false;
		for (c = 0; c < C_FIRST_BASELINE; c++) {
			/* A paced rate is the pacing, not a capacity. */
			if (!x[c].ok || c == C_PACED ||
			    (!x[C_COPY].ok && !x[C_FDPASS].ok))
				continue;
			printf("%-6s %-23s %-16s", header ? "" :
			       b->sizes[si].name, header ? "" :
			       "dmakit/baseline rate:", cases[c].mode);
			if (x[C_COPY].ok)
				print_ratio(" ", x[c].rate / x[C_COPY].rate,
					    0, "socket-copy");
			if (x[C_FDPASS].ok)
				print_ratio(x[C_COPY].ok ? ", " : " ",
					    x[c].rate / x[C_FDPASS].rate, 1,
					    "fd-per-frame");
			printf("\n");
			header = true;
		}
		printf("\n");
	}

	/* The design's targets, case by case: met or not, in numbers. */
	for (c = 0, header = false; c < C_FIRST_BASELINE; c++) {
		if (!b->on[c])
			continue;
		if (!header)
			printf("targets (DESIGN.md): >= 1M hand-offs/s "
			       "busy-polling, >= 200k/s with eventfd wakeups\n"
			       "(eventfd-lockstep: an eventfd round trip every "
			       "frame), p99 < 20 us, at every size\n");
		header = true;
		want = c == C_BUSY ? 1e6 : 2e5;
		for (si = 0; si < b->nsizes; si++) {
			struct summary *x = &m[si][c];

			if (!x->ok) {
				printf("  %-16s %-6s failed\n", cases[c].mode,
				       b->sizes[si].name);
				continue;
			}
			verdict = x->rate >= want ? "met" : "NOT met";
			if (c == C_EVENTFD && x->rate >= want &&
			    x->sleeps_per_frame < 0.01)
				verdict = "met, but it hardly ever slept";
			if (c == C_PACED)
				printf("  %-16s %-6s a wakeup per frame "
				       "(%.2f sleeps/frame): p50 %.2f us, "
				       "p99 %.2f us: %s\n", cases[c].mode,
				       b->sizes[si].name, x->sleeps_per_frame,
				       x->p50, x->p99,
				       x->p99 < 20 ? "met" : "NOT met");
			else
				printf("  %-16s %-6s rate %.2fM/s: %s; p99 "
				       "%.2f us: %s\n", cases[c].mode,
				       b->sizes[si].name, x->rate / 1e6,
				       verdict, x->p99,
				       x->p99 < 20 ? "met" : "NOT met");
		}
	}
}

static void print_json(struct hbench *b)
{
	struct summary m[C_COUNT];
	struct hsize *s;
	struct json j;
	unsigned int r;
	int si, c;

	json_init(&j, stdout);
	json_array_begin(&j);
	for (si = 0; si < b->nsizes; si++) {
		s = &b->sizes[si];
		for (c = 0; c < C_COUNT; c++)
			summarize(b, si, (enum hcase)c, &m[c]);
		for (c = 0; c < C_COUNT; c++) {
			if (!b->on[c])
				continue;
			json_object_begin(&j);
			json_kv_string(&j, "bench", "handoff");
			json_kv_string(&j, "case", cases[c].kase);
			json_kv_string(&j, "size", s->name);
			json_kv_uint(&j, "width", s->l.width);
			json_kv_uint(&j, "height", s->l.height);
			json_kv_string(&j, "format", "NV12");
			json_kv_uint(&j, "frame_bytes", s->l.size);
			json_kv_string(&j, "mode", cases[c].mode);
			json_kv_bool(&j, "baseline", cases[c].baseline);
			if (!m[c].ok) {
				json_kv_bool(&j, "failed", true);
				json_kv_string(&j, "reason", m[c].why);
				json_object_end(&j);
				continue;
			}
			json_kv_double(&j, "handoffs_per_s", m[c].rate);
			json_kv_double(&j, "p50_us", m[c].p50);
			json_kv_double(&j, "p99_us", m[c].p99);
			json_kv_double(&j, "max_us", m[c].max);
			json_kv_double(&j, "dropped", m[c].dropped);
			json_kv_double(&j, "seconds", m[c].secs);
			json_kv_double(&j, "sleeps_per_frame",
				       m[c].sleeps_per_frame);
			json_kv_double(&j, "consumer_preemptions",
				       m[c].preempts);
			json_kv_double(&j, "consumer_cpu_share",
				       m[c].cpu_share);
			json_kv_uint(&j, "rounds", m[c].ok);
			json_key(&j, "handoffs_per_s_rounds");
			json_array_begin(&j);
			for (r = 0; r < m[c].ok; r++)
				json_double(&j, m[c].rates[r]);
			json_array_end(&j);
			if (c == C_PACED)
				json_kv_double(&j, "paced_per_s",
					       1e9 / PACED_NS);
			if (!cases[c].baseline) {
				json_kv_uint(&j, "buffers", b->buffers);
				json_kv_uint(&j, "slots", b->slots);
			}
			if (!cases[c].baseline && c != C_PACED) {
				json_kv_double(&j, "vs_socket_copy",
					       m[C_COPY].ok ? m[c].rate /
					       m[C_COPY].rate : NAN);
				json_kv_double(&j, "vs_fd_per_frame",
					       m[C_FDPASS].ok ? m[c].rate /
					       m[C_FDPASS].rate : NAN);
			}
			json_kv_bool(&j, "pinned", b->cpu_prod >= 0);
			if (b->cpu_prod >= 0) {
				json_kv_int(&j, "producer_cpu", b->cpu_prod);
				json_kv_int(&j, "consumer_cpu", b->cpu_cons);
			}
			json_object_end(&j);
		}
	}
	json_array_end(&j);
	json_end(&j);
}

/* The first two CPUs this process may run on, or -1 when fewer. */
static void pick_cpus(struct hbench *b)
{
	cpu_set_t set;
	int i, n = 0;

	b->cpu_prod = b->cpu_cons = -1;
	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (n++ == 0)
			b->cpu_prod = i;
		else
			b->cpu_cons = i;
	}
	if (n < 2)
		b->cpu_prod = b->cpu_cons = -1;
}

int bench_handoff(int argc, char **argv)
{
	struct hbench *b;
	struct dmk_heap *heap = NULL;
	const char *dir = getenv("XDG_RUNTIME_DIR");
	unsigned int r;
	int si, k, ret, status = EXIT_OK;

	b = calloc(1, sizeof(*b));
	if (!b) {
		tool_err("out of memory");
		return EXIT_FAIL;
	}
	ret = parse_args(argc, argv, b);
	if (ret) {
		free(b);
		return ret < 0 ? EXIT_OK : ret;
	}
	b->sh = mmap(NULL, sizeof(*b->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->sh == MAP_FAILED) {
		tool_err("mmap: %s", strerror(errno));
		free(b);
		return EXIT_FAIL;
	}
	if (!dir || !*dir || strlen(dir) > 60)
		dir = "/tmp";
	snprintf(b->path, sizeof(b->path), "%s/dmakit-bench-handoff-%d.sock",
		 dir, (int)getpid());
	pick_cpus(b);

	/* The frames: one pool per size, made before anything is timed. */
	ret = dmk_heap_open(DMK_HEAP_MEMFD, NULL, &heap);
	if (ret) {
		tool_err("memfd heap: %s", dmk_strerror(ret));
		status = EXIT_FAIL;
		goto out;
	}
	for (si = 0; si < b->nsizes; si++) {
		DMK_OPTS(dmk_pool_opts, po, .name = "bench-handoff",
			 .layout = &b->sizes[si].l);

		ret = dmk_pool_new(heap, b->buffers, &po, &b->sizes[si].pool);
		if (ret) {
			tool_err("a pool of %u %s frames: %s", b->buffers,
				 b->sizes[si].name, dmk_strerror(ret));
			status = EXIT_FAIL;
			goto out;
		}
	}

	if (!b->json) {
		printf("bench handoff: NV12 frames from a producer process to "
		       "a consumer process\n");
		if (b->cpu_prod >= 0)
			printf("producer pinned to CPU %d, consumer to CPU "
			       "%d; ", b->cpu_prod, b->cpu_cons);
		else
			printf("not pinned (fewer than 2 CPUs allowed); ");
		printf("%u buffers (memfd), ring of %u slots\n", b->buffers,
		       b->slots);
		printf("%.3g s per case after %.3g s warm-up, %u round%s "
		       "interleaved (order reversed each round); medians of "
		       "the rounds\n", b->seconds, b->warmup, b->rounds,
		       b->rounds == 1 ? "" : "s");
		printf("latency: producer's CLOCK_MONOTONIC timestamp -> "
		       "consumer has read a byte of the frame\n");
		printf("sleeps/frame, cons_cpu: the consumer's voluntary "
		       "context switches per frame, and its CPU time\nover "
		       "the wall time (busy-poll: 100%% unless something "
		       "else ran on its CPU)\n\n");
		fflush(stdout);
	}
	for (r = 0; r < b->rounds; r++) {
		for (si = 0; si < b->nsizes; si++) {
			for (k = 0; k < C_COUNT; k++) {
				enum hcase c = (enum hcase)(r % 2 ? C_COUNT -
							    1 - k : k);
				struct run_res *x = &b->res[si][c][r];

				if (!b->on[c])
					continue;
				run_case(b, &b->sizes[si], c, x);
				if (x->err) {
					status = EXIT_FAIL;
					tool_err("%s %s %s, round %u: %s",
						 b->sizes[si].name,
						 cases[c].kase, cases[c].mode,
						 r + 1, x->why);
				}
			}
		}
	}
	if (b->json)
		print_json(b);
	else
		print_text(b);
	fflush(stdout);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		status = EXIT_FAIL;
	}
out:
	for (si = 0; si < b->nsizes; si++)
		dmk_pool_free(b->sizes[si].pool);
	dmk_heap_close(heap);
	munmap(b->sh, sizeof(*b->sh));
	free(b);
	return status;
}
