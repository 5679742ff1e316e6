// SPDX-License-Identifier: MIT
/*
 * dmakit top: who holds which dma-buf and memfd, live.
 *
 * Every refresh takes a dmk_stats snapshot of all processes (shares need
 * every holder, so filters apply to what is shown, never to what is
 * scanned), selects buffers by --pid, --name and --exporter, sums each
 * process's numbers over the selected buffers, and draws: memory and
 * pressure, the kernel's dma-buf totals per exporter, totals, optionally
 * the GPU memory classification, a process table and a buffer table.
 * Processes that cannot be read are rows of their own, never left out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "util.h"

enum sort_key { SORT_PSS, SORT_SIZE, SORT_PID, SORT_NAME };

static const char *const sort_names[] = {
	[SORT_PSS] = "pss", [SORT_SIZE] = "size", [SORT_PID] = "pid",
	[SORT_NAME] = "name",
};

struct top_args {
	bool once, json, gpu;
	uint64_t count;		/* refreshes; 0: until q or a signal */
	double interval;
	enum sort_key sort;
	pid_t pid;		/* 0: any */
	const char *name;
	const char *exporter;
};

/* One process row: the library's view plus sums over selected buffers. */
struct row {
	struct dmk_stats_proc_info pi;
	uint32_t nbufs, fd_refs, map_refs;
	uint64_t referenced, proportional;
};

/* One selected buffer. */
struct bufrow {
	size_t idx;
	struct dmk_stats_buf_info bi;
	pid_t first_pid;
};

struct view {
	struct dmk_stats_snapshot *snap;
	struct row *rows;
	size_t nrows;
	struct bufrow *bufs;
	size_t nbufs;
	uint64_t sel_bytes;
	bool pid_found;
};

static const char top_help[] =
	"Usage: dmakit top [--once | --count N] [--interval S]\n"
	"                  [--sort size|pss|pid|name] [--pid N]\n"
	"                  [--name SUBSTR] [--exporter NAME] [--gpu] [--json]\n"
	"\n"
	"Show which processes hold dma-bufs and memfds and how much memory\n"
	"that is, from the kernel's own accounting (/proc/<pid>/fd, fdinfo\n"
	"and maps).  A buffer is identified by its inode, so one that is\n"
	"shared, dup'ed or mapped counts once in the totals and once per\n"
	"process holding it.  Per process: buffers, bytes referenced, and\n"
	"the proportional share (each buffer's size divided by the number of\n"
	"processes holding it).  Per buffer: inode, exporter (\"memfd\" for\n"
	"memfds), name, size and holders as PID:Nf+Mm (N fds, M mappings).\n"
	"Also: memory and pressure (/proc/meminfo, PSI), the kernel's dma-buf\n"
	"totals per exporter (/sys/kernel/dmabuf or debugfs, when there),\n"
	"and processes that cannot be read (marked unreadable, with why).\n"
	"\n"
	"By default the view refreshes every second until q or Ctrl-C.\n"
	"\n"
	"Options:\n"
	"  --once            one snapshot, then exit\n"
	"  --count N         N refreshes, then exit\n"
	"  --interval S      seconds between refreshes (default 1)\n"
	"  --sort KEY        pss (default), size, pid or name\n"
	"  --pid N           only process N and the buffers it holds\n"
	"  --name SUBSTR     only buffers whose name contains SUBSTR\n"
	"  --exporter NAME   only buffers from this exporter (system,\n"
	"                    udmabuf, ..., or memfd)\n"
	"  --gpu             also say, per Vulkan device, whether its memory\n"
	"                    is system memory (unified) or its own (discrete)\n"
	"  --json            one snapshot as JSON (implies --once)\n"
	"  -h, --help        this text\n"
	"\n"
	"Filters select buffers; process numbers are then summed over the\n"
	"selected buffers, with shares still divided among all holders.\n"
	"\n"
	"Exit status: 0 ok, 1 the scan failed (or --pid names no process),\n"
	"2 usage.\n";

void cmd_top_usage(FILE *f)
{
	fputs(top_help, f);
}

static int parse_args(int argc, char **argv, struct top_args *a)
{
	enum { OPT_ONCE = 256, OPT_COUNT, OPT_INTERVAL, OPT_SORT, OPT_PID,
	       OPT_NAME, OPT_EXPORTER, OPT_GPU, OPT_JSON };
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "exporter", required_argument, NULL, OPT_EXPORTER },
		{ "gpu", no_argument, NULL, OPT_GPU },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_count = false;
	uint64_t v;
	size_t i;
	int c;

	memset(a, 0, sizeof(*a));
	a->interval = 1;
	a->sort = SORT_PSS;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ONCE:
			a->once = true;
			break;
		case OPT_COUNT:
			if (parse_uint(optarg, 1, UINT32_MAX, &a->count))
				return tool_usage_err("--count: '%s' is not a "
						      "number from 1", optarg);
			have_count = true;
			break;
		case OPT_INTERVAL:
			if (parse_seconds(optarg, &a->interval) ||
			    !isfinite(a->interval) || a->interval < 0.01 ||
			    a->interval > 86400)
				return tool_usage_err("--interval: '%s' is not "
					"a number of seconds from 0.01",
					optarg);
			break;
		case OPT_SORT:
			for (i = 0; i < ARRAY_SIZE(sort_names); i++)
				if (!strcmp(optarg, sort_names[i]))
					break;
			if (i == ARRAY_SIZE(sort_names))
				return tool_usage_err("--sort: '%s' is not "
					"size, pss, pid or name", optarg);
			a->sort = (enum sort_key)i;
			break;
		case OPT_PID:
			if (parse_uint(optarg, 1, INT32_MAX, &v))
				return tool_usage_err("--pid: '%s' is not a "
						      "process id", optarg);
			a->pid = (pid_t)v;
			break;
		case OPT_NAME:
			a->name = optarg;
			break;
		case OPT_EXPORTER:
			if (!*optarg)
				return tool_usage_err("--exporter: empty "
						      "name");
			a->exporter = optarg;
			break;
		case OPT_GPU:
			a->gpu = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_top_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	if (a->once && have_count)
		return tool_usage_err("--once and --count: choose one");
	if (a->json && have_count && a->count != 1)
		return tool_usage_err("--json takes one snapshot; drop "
				      "--count");
	if (a->once || a->json)
		a->count = 1;
	return 0;
}

/* ---- numbers ---- */

/* "512B", "1.5M", "23G": short, for tables. */
static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int i = -1;

	if (v == DMK_STATS_UNKNOWN) {
		snprintf(buf, len, "?");
		return buf;
	}
	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%uB", (unsigned int)v);
	else if (d < 10)
		snprintf(buf, len, "%.1f%c", d, units[i]);
	else
		snprintf(buf, len, "%.0f%c", d, units[i]);
	return buf;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* ---- selection ---- */

static bool buf_selected(const struct top_args *a,
			 const struct dmk_stats_snapshot *s, size_t i,
			 const struct dmk_stats_buf_info *bi)
{
	struct dmk_stats_holder_info h = { .sz = sizeof(h) };
	uint32_t j;

	if (a->name && !strstr(bi->name, a->name))
		return false;
	if (a->exporter && strcmp(bi->exporter, a->exporter))
		return false;
	if (!a->pid)
		return true;
	for (j = 0; j < bi->nholders; j++)
		if (!dmk_stats_holder(s, i, j, &h) && h.pid == a->pid)
			return true;
	return false;
}

static const struct top_args *sort_args;

static int cmp_rows(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	int c = 0;

	/* Unreadable processes last, by pid. */
	if (a->pi.readable != b->pi.readable)
		return a->pi.readable ? -1 : 1;
	if (!a->pi.readable)
		return a->pi.pid < b->pi.pid ? -1 : a->pi.pid > b->pi.pid;
	switch (sort_args->sort) {
	case SORT_PSS:
		c = a->proportional > b->proportional ? -1 :
		    a->proportional < b->proportional;
		break;
	case SORT_SIZE:
		c = a->referenced > b->referenced ? -1 :
		    a->referenced < b->referenced;
		break;
	case SORT_NAME:
		c = strcmp(a->pi.comm, b->pi.comm);
		break;
	case SORT_PID:
		break;
	}
	if (c)
		return c;
	return a->pi.pid < b->pi.pid ? -1 : a->pi.pid > b->pi.pid;
}

static int cmp_bufs(const void *x, const void *y)
{
	const struct bufrow *a = x, *b = y;
	uint64_t sa, sb;
	int c = 0;

	switch (sort_args->sort) {
	case SORT_PSS:
		sa = a->bi.size / (a->bi.nholders ? a->bi.nholders : 1);
		sb = b->bi.size / (b->bi.nholders ? b->bi.nholders : 1);
		c = sa > sb ? -1 : sa < sb;
		break;
	case SORT_SIZE:
		c = a->bi.size > b->bi.size ? -1 : a->bi.size < b->bi.size;
		break;
	case SORT_NAME:
		c = strcmp(a->bi.name, b->bi.name);
		break;
	case SORT_PID:
		c = a->first_pid < b->first_pid ? -1 :
		    a->first_pid > b->first_pid;
		break;
	}
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void view_free(struct view *v)
{
	dmk_stats_snapshot_free(v->snap);
	free(v->rows);
	free(v->bufs);
	memset(v, 0, sizeof(*v));
}

static int view_build(const struct top_args *a, struct view *v)
{
	struct dmk_stats_holder_info h = { .sz = sizeof(h) };
	size_t nb, np, i, j;
	struct row *r;
	int ret;

	memset(v, 0, sizeof(*v));
	ret = dmk_stats_snapshot_new(NULL, &v->snap);
	if (ret)
		return ret;
	nb = dmk_stats_nbufs(v->snap);
	np = dmk_stats_nprocs(v->snap);
	v->rows = calloc(np ? np : 1, sizeof(*v->rows));
	v->bufs = calloc(nb ? nb : 1, sizeof(*v->bufs));
	if (!v->rows || !v->bufs) {
		view_free(v);
		return -ENOMEM;
	}
	for (i = 0; i < np; i++) {
		v->rows[i].pi.sz = sizeof(v->rows[i].pi);
		dmk_stats_proc(v->snap, i, &v->rows[i].pi);
		if (v->rows[i].pi.pid == a->pid)
			v->pid_found = true;
	}
	for (i = 0; i < nb; i++) {
		struct bufrow *b = &v->bufs[v->nbufs];

		b->bi.sz = sizeof(b->bi);
		if (dmk_stats_buf(v->snap, i, &b->bi) ||
		    !buf_selected(a, v->snap, i, &b->bi))
			continue;
		b->idx = i;
		v->nbufs++;
		v->sel_bytes = add_sat(v->sel_bytes, b->bi.size);
		for (j = 0; j < b->bi.nholders; j++) {
			if (dmk_stats_holder(v->snap, i, j, &h))
				continue;
			if (!j)
				b->first_pid = h.pid;
			r = &v->rows[h.proc];
			r->nbufs++;
			r->fd_refs += h.fd_refs;
			r->map_refs += h.map_refs;
			r->referenced = add_sat(r->referenced, b->bi.size);
			r->proportional = add_sat(r->proportional,
						  b->bi.size /
						  b->bi.nholders);
		}
	}
	/* Keep the processes that hold a selected buffer, and every one
	 * that could not be read (it might). */
	for (i = 0; i < np; i++) {
		r = &v->rows[i];
		if (a->pid && r->pi.pid != a->pid)
			continue;
		/* --pid N shows N even when it holds nothing. */
		if (!r->nbufs && r->pi.readable && !a->pid)
			continue;
		v->rows[v->nrows++] = *r;
	}
	sort_args = a;
	qsort(v->rows, v->nrows, sizeof(*v->rows), cmp_rows);
	qsort(v->bufs, v->nbufs, sizeof(*v->bufs), cmp_bufs);
	return 0;
}

/* ---- GPU ---- */

static const char *gpu_type_name(enum dmk_stats_gpu_type t)
{
	switch (t) {
	case DMK_STATS_GPU_INTEGRATED:
		return "integrated";
	case DMK_STATS_GPU_DISCRETE:
		return "discrete";
	case DMK_STATS_GPU_VIRTUAL:
		return "virtual";
	case DMK_STATS_GPU_CPU:
		return "cpu";
	default:
		return "other";
	}
}

/* ---- text output ---- */

/*
 * The frame is drawn into a memory stream and written at once, so the
 * screen never shows half a frame.  On a live terminal, lines are cut to
 * its width and tables to its height (saying how many rows are not shown).
 */
struct out {
	FILE *f;
	bool clip;
	unsigned int cols, rows_left;
};

__attribute__((format(printf, 2, 3)))
static void line(struct out *o, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (o->clip) {
		if (!o->rows_left)
			return;
		o->rows_left--;
		if (n > o->cols)
			n = o->cols;
	}
	fwrite(buf, 1, n, o->f);
	fputc('\n', o->f);
}

static void text_memory(struct out *o, const struct dmk_stats_snapshot *s)
{
	struct dmk_stats_memory m = { .sz = sizeof(m) };
	char t[16], av[16], sh[16], ct[16], cf[16], cma[64], psi[160];

	dmk_stats_memory(s, &m);
	cma[0] = '\0';
	if (m.cma_total != DMK_STATS_UNKNOWN)
		snprintf(cma, sizeof(cma), ", CMA %s free of %s",
			 human(m.cma_free, cf, sizeof(cf)),
			 human(m.cma_total, ct, sizeof(ct)));
	if (m.meminfo_err)
		line(o, "Memory:   unknown (/proc/meminfo: %s)",
		     dmk_strerror(m.meminfo_err));
	else
		line(o, "Memory:   %s total, %s available, %s shmem%s",
		     human(m.total, t, sizeof(t)),
		     human(m.available, av, sizeof(av)),
		     human(m.shmem, sh, sizeof(sh)), cma);
	if (m.psi_err) {
		line(o, "Pressure: unavailable (/proc/pressure/memory: %s%s)",
		     dmk_strerror(m.psi_err),
		     m.psi_err == -ENOENT ? ", kernel without CONFIG_PSI?" :
					    "");
		return;
	}
	snprintf(psi, sizeof(psi), "some %.2f %.2f %.2f",
		 m.psi_some.avg10, m.psi_some.avg60, m.psi_some.avg300);
	if (m.psi_full_valid)
		snprintf(psi + strlen(psi), sizeof(psi) - strlen(psi),
			 ", full %.2f %.2f %.2f", m.psi_full.avg10,
			 m.psi_full.avg60, m.psi_full.avg300);
	line(o, "Pressure: %s (%% of time stalled on memory, avg10 avg60 "
	     "avg300)", psi);
}

static void text_heaps(struct out *o, const struct dmk_stats_snapshot *s)
{
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_heap_info hi = { .sz = sizeof(hi) };
	char buf[512], b1[16];
	size_t i, off = 0;

	dmk_stats_heaps(s, &h);
	if (h.source == DMK_STATS_SRC_NONE) {
		line(o, "Kernel:   dma-buf totals unavailable: no "
		     "/sys/kernel/dmabuf (CONFIG_DMABUF_SYSFS_STATS) and no "
		     "readable debugfs dma_buf/bufinfo (%s)",
		     dmk_strerror(h.err));
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < h.nexporters && off < sizeof(buf); i++) {
		if (dmk_stats_heap(s, i, &hi))
			continue;
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"%s%s %u / %s", i ? ", " : "",
					hi.exporter, hi.nbufs,
					human(hi.bytes, b1, sizeof(b1)));
	}
	line(o, "Kernel:   %u dma-bufs, %s in all (%s)%s%s", h.nbufs,
	     human(h.bytes, b1, sizeof(b1)),
	     h.source == DMK_STATS_SRC_SYSFS ? "sysfs" : "debugfs",
	     h.nexporters ? ": " : "", buf);
}

static void text_totals(struct out *o, const struct top_args *a,
			const struct view *v)
{
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	char b1[16], b2[16], b3[16], b4[16], filters[512];

	dmk_stats_totals(v->snap, &t);
	line(o, "Procs:    %u unreadable, %u holding buffers, %u scanned",
	     t.nunreadable, t.nholding, t.nprocs);
	line(o, "Buffers:  %u, %s counted once: %u dma-buf %s, "
	     "%u memfd %s%s%s%s",
	     t.nbufs, human(t.bytes, b1, sizeof(b1)), t.ndmabufs,
	     human(t.dmabuf_bytes, b2, sizeof(b2)), t.nmemfds,
	     human(t.memfd_bytes, b3, sizeof(b3)),
	     t.udmabuf_bytes ? " (udmabuf over memfd pages: " : "",
	     t.udmabuf_bytes ? human(t.udmabuf_bytes, b4, sizeof(b4)) : "",
	     t.udmabuf_bytes ? ")" : "");
	if (!a->pid && !a->name && !a->exporter)
		return;
	filters[0] = '\0';
	if (a->pid)
		snprintf(filters, sizeof(filters), " pid %d%s", (int)a->pid,
			 v->pid_found ? "" : " (gone)");
	if (a->name)
		snprintf(filters + strlen(filters),
			 sizeof(filters) - strlen(filters), " name ~ %s",
			 a->name);
	if (a->exporter)
		snprintf(filters + strlen(filters),
			 sizeof(filters) - strlen(filters), " exporter %s",
			 a->exporter);
	line(o, "Selected: %zu buffers, %s (filters:%s)", v->nbufs,
	     human(v->sel_bytes, b1, sizeof(b1)), filters);
}

static void text_gpu(struct out *o, const struct dmk_stats_gpu *g, int gerr)
{
	struct dmk_stats_gpu_info gi = { .sz = sizeof(gi) };
	char b1[16], b2[16];
	size_t i;

	if (gerr) {
		line(o, "GPU:      %s", gerr == -ENODEV ?
		     "no Vulkan device" : dmk_strerror(gerr));
		return;
	}
	for (i = 0; i < dmk_stats_gpu_ndevs(g); i++) {
		if (dmk_stats_gpu_dev(g, i, &gi))
			continue;
		if (gi.unified)
			line(o, "GPU:      %s (%s): unified, %s of heaps in "
			     "system memory (%s)", gi.name,
			     gpu_type_name(gi.type),
			     human(gi.system_bytes, b1, sizeof(b1)),
			     gi.reason);
		else
			line(o, "GPU:      %s (%s): discrete, %s of its own, "
			     "%s of system memory it can use (%s)", gi.name,
			     gpu_type_name(gi.type),
			     human(gi.device_bytes, b1, sizeof(b1)),
			     human(gi.system_bytes, b2, sizeof(b2)),
			     gi.reason);
	}
}

static void text_procs(struct out *o, const struct view *v,
		       unsigned int max)
{
	char b1[16], b2[16];
	size_t i, shown;

	line(o, "%8s %-16s %5s %11s %12s %5s %5s", "PID", "COMM", "BUFS",
	     "REFERENCED", "PROPORTIONAL", "FDS", "MAPS");
	for (i = 0, shown = 0; i < v->nrows; i++) {
		const struct row *r = &v->rows[i];

		if (max && shown + 1 >= max && i + 1 < v->nrows) {
			size_t k, unreadable = 0;

			for (k = i; k < v->nrows; k++)
				unreadable += !v->rows[k].pi.readable;
			line(o, "%8s ... %zu more processes, %zu of them "
			     "unreadable (--once lists all)", "",
			     v->nrows - i, unreadable);
			return;
		}
		shown++;
		if (!r->pi.readable) {
			line(o, "%8d %-16.16s %5s %11s %12s  unreadable: %s%s",
			     (int)r->pi.pid, r->pi.comm, "?", "?", "?",
			     dmk_strerror(r->pi.err),
			     r->nbufs ? " (partly read)" : "");
			continue;
		}
		line(o, "%8d %-16.16s %5u %11s %12s %5u %5u", (int)r->pi.pid,
		     r->pi.comm, r->nbufs,
		     human(r->referenced, b1, sizeof(b1)),
		     human(r->proportional, b2, sizeof(b2)), r->fd_refs,
		     r->map_refs);
	}
	if (!v->nrows)
		line(o, "%8s (no process holds a selected buffer)", "");
}

static void text_bufs(struct out *o, const struct view *v, unsigned int max)
{
	struct dmk_stats_holder_info h = { .sz = sizeof(h) };
	char holders[1024], b1[16];
	size_t i, off;
	uint32_t j;

	line(o, "%10s %-10s %-24s %8s  %s", "INODE", "EXPORTER", "NAME",
	     "SIZE", "HOLDERS (pid:fds+maps)");
	for (i = 0; i < v->nbufs; i++) {
		const struct bufrow *b = &v->bufs[i];

		if (max && i + 1 >= max && i + 1 < v->nbufs) {
			line(o, "%10s ... %zu more buffers (--once lists all)",
			     "", v->nbufs - i);
			return;
		}
		off = 0;
		holders[0] = '\0';
		for (j = 0; j < b->bi.nholders && off < sizeof(holders); j++) {
			if (dmk_stats_holder(v->snap, b->idx, j, &h))
				continue;
			off += (size_t)snprintf(holders + off,
						sizeof(holders) - off,
						"%s%d:%uf+%um", j ? " " : "",
						(int)h.pid, h.fd_refs,
						h.map_refs);
		}
		line(o, "%10ju %-10.10s %-24.24s %7s%s  %s",
		     (uintmax_t)b->bi.ino,
		     b->bi.exporter[0] ? b->bi.exporter : "?",
		     b->bi.name[0] ? b->bi.name : "-",
		     human(b->bi.size, b1, sizeof(b1)),
		     b->bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED ? "~" : " ",
		     holders);
	}
	if (!v->nbufs)
		line(o, "%10s (no buffer selected)", "");
}

static void draw_text(FILE *f, const struct top_args *a, const struct view *v,
		      const struct dmk_stats_gpu *g, int gerr, bool live_tty)
{
	struct out o = { .f = f };
	unsigned int room = 0, procs_max = 0, bufs_max = 0;
	char when[64];
	struct winsize ws;
	time_t now = time(NULL);
	struct tm tm;

	if (live_tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) &&
	    ws.ws_row > 4 && ws.ws_col > 20) {
		o.clip = true;
		o.cols = ws.ws_col;
		o.rows_left = ws.ws_row - 1;
	}
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (a->count != 1)
		line(&o, "dmakit top  %s  every %gs, sorted by %s%s", when,
		     a->interval, sort_names[a->sort],
		     live_tty ? "  (q quits)" : "");
	text_memory(&o, v->snap);
	text_heaps(&o, v->snap);
	text_totals(&o, a, v);
	if (a->gpu)
		text_gpu(&o, g, gerr);
	if (o.clip) {
		/* Split what is left between the two tables (headers and
		 * the blank lines take 4). */
		room = o.rows_left > 6 ? o.rows_left - 4 : 2;
		procs_max = room / 2;
		if (v->nbufs < room - procs_max)
			procs_max = room - (unsigned int)v->nbufs;
		if (procs_max < 1)
			procs_max = 1;
		bufs_max = room - procs_max;
		if (bufs_max < 1)
			bufs_max = 1;
	}
	line(&o, "%s", "");
	text_procs(&o, v, procs_max);
	line(&o, "%s", "");
	text_bufs(&o, v, bufs_max);
}

/* ---- JSON ---- */

static void json_kv_bytes(struct json *j, const char *key, uint64_t v)
{
	if (v == DMK_STATS_UNKNOWN)
		json_kv_null(j, key);
	else
		json_kv_uint(j, key, v);
}

static void json_kv_err(struct json *j, const char *key, int err)
{
	if (err)
		json_kv_string(j, key, dmk_strerror(err));
	else
		json_kv_null(j, key);
}

static void json_psi(struct json *j, const char *key, bool valid,
		     const struct dmk_stats_psi *p)
{
	json_key(j, key);
	if (!valid) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_kv_double(j, "avg10", p->avg10);
	json_kv_double(j, "avg60", p->avg60);
	json_kv_double(j, "avg300", p->avg300);
	json_kv_uint(j, "total_us", p->total_us);
	json_object_end(j);
}

static void json_gpu(struct json *j, const struct dmk_stats_gpu *g, int gerr)
{
	struct dmk_stats_gpu_info gi = { .sz = sizeof(gi) };
	struct dmk_stats_gpu_heap_info hi = { .sz = sizeof(hi) };
	size_t i, k;

	json_key(j, "gpu");
	json_object_begin(j);
	json_kv_err(j, "error", gerr);
	json_key(j, "devices");
	json_array_begin(j);
	for (i = 0; !gerr && i < dmk_stats_gpu_ndevs(g); i++) {
		if (dmk_stats_gpu_dev(g, i, &gi))
			continue;
		json_object_begin(j);
		json_kv_string(j, "name", gi.name);
		json_kv_string(j, "type", gpu_type_name(gi.type));
		json_kv_uint(j, "vendor_id", gi.vendor_id);
		json_kv_uint(j, "device_id", gi.device_id);
		json_kv_bool(j, "unified", gi.unified);
		json_kv_string(j, "reason", gi.reason);
		json_kv_uint(j, "system_bytes", gi.system_bytes);
		json_kv_uint(j, "device_bytes", gi.device_bytes);
		json_key(j, "heaps");
		json_array_begin(j);
		for (k = 0; k < gi.nheaps; k++) {
			if (dmk_stats_gpu_heap(g, i, k, &hi))
				continue;
			json_object_begin(j);
			json_kv_uint(j, "size", hi.size);
			json_kv_bool(j, "device_local", hi.device_local);
			json_kv_bool(j, "host_visible", hi.host_visible);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void draw_json(FILE *f, const struct top_args *a, const struct view *v,
		      const struct dmk_stats_gpu *g, int gerr)
{
	struct dmk_stats_memory m = { .sz = sizeof(m) };
	struct dmk_stats_heaps h = { .sz = sizeof(h) };
	struct dmk_stats_heap_info hi = { .sz = sizeof(hi) };
	struct dmk_stats_totals t = { .sz = sizeof(t) };
	struct dmk_stats_holder_info ho = { .sz = sizeof(ho) };
	struct json j;
	char dev[32];
	size_t i, k;

	dmk_stats_memory(v->snap, &m);
	dmk_stats_heaps(v->snap, &h);
	dmk_stats_totals(v->snap, &t);
	json_init(&j, f);
	json_object_begin(&j);
	json_kv_int(&j, "time", (long long)time(NULL));

	json_key(&j, "memory");
	json_object_begin(&j);
	json_kv_err(&j, "error", m.meminfo_err);
	json_kv_bytes(&j, "total", m.total);
	json_kv_bytes(&j, "free", m.free);
	json_kv_bytes(&j, "available", m.available);
	json_kv_bytes(&j, "shmem", m.shmem);
	json_kv_bytes(&j, "cma_total", m.cma_total);
	json_kv_bytes(&j, "cma_free", m.cma_free);
	json_key(&j, "pressure");
	json_object_begin(&j);
	json_kv_err(&j, "error", m.psi_err);
	json_psi(&j, "some", m.psi_some_valid, &m.psi_some);
	json_psi(&j, "full", m.psi_full_valid, &m.psi_full);
	json_object_end(&j);
	json_object_end(&j);

	json_key(&j, "kernel_dmabufs");
	json_object_begin(&j);
	if (h.source == DMK_STATS_SRC_NONE)
		json_kv_null(&j, "source");
	else
		json_kv_string(&j, "source", h.source == DMK_STATS_SRC_SYSFS ?
			       "sysfs" : "debugfs");
	json_kv_err(&j, "error", h.err);
	json_kv_uint(&j, "buffers", h.nbufs);
	json_kv_uint(&j, "bytes", h.bytes);
	json_key(&j, "exporters");
	json_array_begin(&j);
	for (i = 0; i < h.nexporters; i++) {
		if (dmk_stats_heap(v->snap, i, &hi))
			continue;
		json_object_begin(&j);
		json_kv_string(&j, "exporter", hi.exporter);
		json_kv_uint(&j, "buffers", hi.nbufs);
		json_kv_uint(&j, "bytes", hi.bytes);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);

	json_key(&j, "totals");
	json_object_begin(&j);
	json_kv_uint(&j, "buffers", t.nbufs);
	json_kv_uint(&j, "dmabufs", t.ndmabufs);
	json_kv_uint(&j, "memfds", t.nmemfds);
	json_kv_uint(&j, "bytes", t.bytes);
	json_kv_uint(&j, "dmabuf_bytes", t.dmabuf_bytes);
	json_kv_uint(&j, "memfd_bytes", t.memfd_bytes);
	json_kv_uint(&j, "udmabuf_bytes", t.udmabuf_bytes);
	json_kv_uint(&j, "processes", t.nprocs);
	json_kv_uint(&j, "holding", t.nholding);
	json_kv_uint(&j, "unreadable", t.nunreadable);
	json_object_end(&j);

	json_key(&j, "selection");
	json_object_begin(&j);
	if (a->pid)
		json_kv_int(&j, "pid", a->pid);
	else
		json_kv_null(&j, "pid");
	json_kv_string(&j, "name", a->name);
	json_kv_string(&j, "exporter", a->exporter);
	json_kv_string(&j, "sort", sort_names[a->sort]);
	json_kv_uint(&j, "buffers", v->nbufs);
	json_kv_uint(&j, "bytes", v->sel_bytes);
	json_object_end(&j);

	if (a->gpu)
		json_gpu(&j, g, gerr);

	json_key(&j, "processes");
	json_array_begin(&j);
	for (i = 0; i < v->nrows; i++) {
		const struct row *r = &v->rows[i];

		json_object_begin(&j);
		json_kv_int(&j, "pid", r->pi.pid);
		json_kv_string(&j, "comm", r->pi.comm);
		json_kv_uint(&j, "uid", r->pi.uid);
		json_kv_bool(&j, "readable", r->pi.readable);
		json_kv_err(&j, "error", r->pi.err);
		json_kv_uint(&j, "buffers", r->nbufs);
		json_kv_uint(&j, "fd_refs", r->fd_refs);
		json_kv_uint(&j, "map_refs", r->map_refs);
		json_kv_uint(&j, "referenced", r->referenced);
		json_kv_uint(&j, "proportional", r->proportional);
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "buffers");
	json_array_begin(&j);
	for (i = 0; i < v->nbufs; i++) {
		const struct bufrow *b = &v->bufs[i];

		json_object_begin(&j);
		json_kv_string(&j, "kind", b->bi.kind == DMK_STATS_DMABUF ?
			       "dmabuf" : "memfd");
		snprintf(dev, sizeof(dev), "%u:%u", major(b->bi.dev),
			 minor(b->bi.dev));
		json_kv_string(&j, "dev", dev);
		json_kv_uint(&j, "ino", b->bi.ino);
		json_kv_uint(&j, "size", b->bi.size);
		json_kv_bool(&j, "size_estimated",
			     b->bi.flags & DMK_STATS_BUF_SIZE_ESTIMATED);
		json_kv_string(&j, "exporter", b->bi.exporter);
		json_kv_string(&j, "name", b->bi.name);
		json_kv_uint(&j, "fd_refs", b->bi.fd_refs);
		json_kv_uint(&j, "map_refs", b->bi.map_refs);
		if (b->bi.kcount >= 0)
			json_kv_int(&j, "kernel_count", b->bi.kcount);
		else
			json_kv_null(&j, "kernel_count");
		json_key(&j, "holders");
		json_array_begin(&j);
		for (k = 0; k < b->bi.nholders; k++) {
			if (dmk_stats_holder(v->snap, b->idx, k, &ho))
				continue;
			json_object_begin(&j);
			json_kv_int(&j, "pid", ho.pid);
			json_kv_uint(&j, "fd_refs", ho.fd_refs);
			json_kv_uint(&j, "map_refs", ho.map_refs);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_end(&j);
}

/* ---- the live loop ---- */

static volatile sig_atomic_t stop_sig;
static struct termios saved_tio;
static bool tio_saved;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void term_restore(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_saved = false;
	}
}

/* Keys without Enter and without echo, when stdin is a terminal. */
static void term_keys(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return;
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t))
		tio_saved = true;
}

/*
 * Wait @secs for the next refresh; true when the user asked to quit
 * (q, Q, or a signal).
 */
static bool wait_or_quit(double secs)
{
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9), now;
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	bool keys = tio_saved;
	char c;
	int ms;

	while (!stop_sig) {
		now = now_ns();
		if (now >= end)
			return false;
		ms = (int)((end - now + 999999) / 1000000);
		if (!keys) {
			struct timespec ts = { ms / 1000,
					       (long)(ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);	/* EINTR on a signal */
			continue;
		}
		if (poll(&pfd, 1, ms) > 0) {
			if (read(STDIN_FILENO, &c, 1) == 1 &&
			    (c == 'q' || c == 'Q'))
				return true;
			if (pfd.revents & (POLLHUP | POLLERR))
				keys = false;
		}
	}
	return true;
}

int cmd_top(int argc, char **argv)
{
	struct dmk_stats_gpu *gpu = NULL;
	struct top_args a;
	struct sigaction sa;
	struct view v;
	bool live_tty;
	uint64_t n;
	int ret, gerr = 0, status = EXIT_OK;
	char *frame;
	size_t flen;
	FILE *mf;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	if (a.gpu)
		gerr = dmk_stats_gpu_new(0, &gpu);	/* once: it is slow */

	live_tty = a.count != 1 && isatty(STDOUT_FILENO);
	if (a.count != 1) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;	/* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		if (live_tty)
			term_keys();
	}
	for (n = 0; !a.count || n < a.count; n++) {
		ret = view_build(&a, &v);
		if (ret) {
			tool_err("cannot read /proc: %s", dmk_strerror(ret));
			status = EXIT_FAIL;
			break;
		}
		if (!n && a.pid && !v.pid_found) {
			view_free(&v);
			tool_err("no process %d", (int)a.pid);
			status = EXIT_FAIL;
			break;
		}
		mf = open_memstream(&frame, &flen);
		if (!mf) {
			view_free(&v);
			tool_err("out of memory");
			status = EXIT_FAIL;
			break;
		}
		if (a.json)
			draw_json(mf, &a, &v, gpu, gerr);
		else
			draw_text(mf, &a, &v, gpu, gerr, live_tty);
		fclose(mf);
		view_free(&v);
		if (live_tty)
			fputs("\033[H\033[2J", stdout);
		else if (n)
			fputc('\n', stdout);
		fwrite(frame, 1, flen, stdout);
		free(frame);
		fflush(stdout);
		if ((a.count && n + 1 >= a.count) || wait_or_quit(a.interval))
			break;
	}
	term_restore();
	dmk_stats_gpu_free(gpu);
	return status;
}
