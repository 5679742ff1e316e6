// SPDX-License-Identifier: MIT
/*
 * dmakit bench stream: GB/s reading a large file into buffers, page-cached
 * and O_DIRECT, side by side in one run with fio (--ioengine=io_uring, the
 * same block size and depth) and a plain read() loop.  Repetitions are
 * interleaved (dmakit, fio, read, dmakit, fio, read, ...) so that machine
 * noise hits every case alike; each case reports its median.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "util.h"

extern char **environ;

#define DEFAULT_SIZE (1ull << 30)
#define DEFAULT_BS (1ull << 20)
#define DEFAULT_QD 8
#define DEFAULT_REPS 5
#define MAX_REPS 101
#define DEFAULT_NAME "dmakit-bench-stream.dat"

enum mode { M_CACHED, M_DIRECT, M_COUNT };
enum kase { C_DMAKIT, C_FIO, C_READ, C_COUNT };

static const char *const mode_names[M_COUNT] = { "cached", "direct" };
static const char *const case_names[C_COUNT] = { "dmakit", "fio", "read" };

struct sbench {
	const char *file;	/* --file, or the made one */
	char made[PATH_MAX];	/* the file this run made (removed after) */
	const char *dir;
	uint64_t size;
	uint64_t bs;
	unsigned int qd;
	unsigned int bufs;
	uint64_t buf_size;
	unsigned int reps;
	bool modes[M_COUNT];
	bool keep;
	bool json;
	char fio[PATH_MAX];	/* "" when absent */
	char fio_version[64];
	char fs[32];
};

/* One case's samples and what it found. */
struct result {
	double gbps[MAX_REPS];
	unsigned int n;
	bool skipped;
	char reason[256];
	char path[32];		/* dmakit: the path that ran */
	char why[640];
};

static const char bench_stream_help[] =
	"Usage: dmakit bench stream [--size SIZE] [--dir DIR | --file PATH]\n"
	"                           [--bs SIZE] [--qd N] [--bufs N]\n"
	"                           [--buf-size SIZE] [--reps N]\n"
	"                           [--modes cached,direct] [--keep] [--json]\n"
	"\n"
	"Read a large file into buffers and report GB/s, in two modes:\n"
	"  cached  the file is in the page cache (read once first)\n"
	"  direct  O_DIRECT, the file dropped from the page cache before\n"
	"          every repetition (posix_fadvise DONTNEED)\n"
	"and three cases per mode, interleaved (each rep starts with the\n"
	"next case), median of the reps:\n"
	"  dmakit  dmk_stream into a pool of pinnable (memfd) buffers,\n"
	"          registered; chunk = --bs, depth = --qd; cached mode turns\n"
	"          O_DIRECT off, direct mode leaves it to the stream\n"
	"  fio     fio --ioengine=io_uring --rw=read --bs --iodepth\n"
	"          --direct=0|1 on the same file (skipped, saying so, when\n"
	"          fio is not installed)\n"
	"  read    a plain read() loop of --bs into one buffer\n"
	"\n"
	"Options:\n"
	"  --size SIZE      file to make (default 1G), in --dir (default .,\n"
	"                   which should be a real disk filesystem)\n"
	"  --file PATH      use this existing file instead (not removed)\n"
	"  --bs SIZE        block/chunk size (default 1M)\n"
	"  --qd N           I/Os in flight (default 8)\n"
	"  --bufs N         dmakit pool buffers (default: --qd)\n"
	"  --buf-size SIZE  bytes per pool buffer (default: --bs)\n"
	"  --reps N         repetitions per case (default 5)\n"
	"  --modes LIST     cached, direct or both (default both)\n"
	"  --keep           keep the file this run made\n"
	"  --json           a JSON array: one object per case (baselines\n"
	"                   included) with bench, case, mode, file, size,\n"
	"                   bs, qd, reps, gbps_median/min/max, samples;\n"
	"                   dmakit's with path, why, bufs, buf_size and\n"
	"                   ratio_vs_fio; skipped cases with a reason\n"
	"  -h, --help       this text\n";

void bench_stream_usage(FILE *f)
{
	fputs(bench_stream_help, f);
}

static int parse_args(int argc, char **argv, struct sbench *b)
{
	enum { OPT_SIZE = 256, OPT_DIR, OPT_FILE, OPT_BS, OPT_QD, OPT_BUFS,
	       OPT_BUF_SIZE, OPT_REPS, OPT_MODES, OPT_KEEP, OPT_JSON };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "bs", required_argument, NULL, OPT_BS },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "bufs", required_argument, NULL, OPT_BUFS },
		{ "buf-size", required_argument, NULL, OPT_BUF_SIZE },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "modes", required_argument, NULL, OPT_MODES },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *cur;
	char item[32];
	uint64_t v;
	int c, ret, m;

	memset(b, 0, sizeof(*b));
	b->size = DEFAULT_SIZE;
	b->bs = DEFAULT_BS;
	b->qd = DEFAULT_QD;
	b->reps = DEFAULT_REPS;
	b->dir = ".";
	b->modes[M_CACHED] = b->modes[M_DIRECT] = true;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SIZE:
			if (parse_size(optarg, &b->size) || !b->size)
				return tool_usage_err("--size: '%s' is not a "
					"size such as 256M or 1G", optarg);
			break;
		case OPT_DIR:
			b->dir = optarg;
			break;
		case OPT_FILE:
			b->file = optarg;
			break;
		case OPT_BS:
			if (parse_size(optarg, &b->bs) || !b->bs ||
			    b->bs > DMK_STREAM_MAX_CHUNK)
				return tool_usage_err("--bs: '%s' is not a "
					"size from 1 to 1G", optarg);
			break;
		case OPT_QD:
			if (parse_uint(optarg, 1, DMK_STREAM_MAX_DEPTH, &v))
				return tool_usage_err("--qd: '%s' is not a "
					"number from 1 to %u", optarg,
					DMK_STREAM_MAX_DEPTH);
			b->qd = (unsigned int)v;
			break;
		case OPT_BUFS:
			if (parse_uint(optarg, 1, DMK_POOL_MAX, &v))
				return tool_usage_err("--bufs: '%s' is not a "
					"number from 1 to %u", optarg,
					DMK_POOL_MAX);
			b->bufs = (unsigned int)v;
			break;
		case OPT_BUF_SIZE:
			if (parse_size(optarg, &b->buf_size) || !b->buf_size)
				return tool_usage_err("--buf-size: '%s' is "
					"not a size", optarg);
			break;
		case OPT_REPS:
			if (parse_uint(optarg, 1, MAX_REPS, &v))
				return tool_usage_err("--reps: '%s' is not a "
					"number from 1 to %u", optarg,
					MAX_REPS);
			b->reps = (unsigned int)v;
			break;
		case OPT_MODES:
			b->modes[M_CACHED] = b->modes[M_DIRECT] = false;
			cur = optarg;
			while ((ret = list_next(&cur, item, sizeof(item))) >
			       0) {
				for (m = 0; m < M_COUNT; m++)
					if (!strcmp(item, mode_names[m]))
						break;
				if (m == M_COUNT)
					return tool_usage_err("--modes: '%s' "
						"is not cached or direct",
						item);
				b->modes[m] = true;
			}
			if (ret < 0)
				return tool_usage_err("--modes: '%s' is not a "
						      "list", optarg);
			break;
		case OPT_KEEP:
			b->keep = true;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			bench_stream_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	if (!b->bufs)
		b->bufs = b->qd;
	if (!b->buf_size)
		b->buf_size = b->bs;
	return 0;
}

/* ---- the file ---- */

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xef53:
		return "ext4";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x01021994:
		return "tmpfs";
	case 0x858458f6:
		return "ramfs";
	case 0x6969:
		return "nfs";
	case 0x794c7630:
		return "overlayfs";
	case 0x01021997:
		return "9p";
	case 0x2fc12fc1:
		return "zfs";
	case 0xf2f52010:
		return "f2fs";
	}
	return "unknown";
}

/* Make the file: @size bytes of a cheap pattern (not zeros, so no
 * filesystem can keep it sparse or compressed), synced to the disk. */
static int make_file(struct sbench *b)
{
	const size_t step = 4u << 20;
	uint64_t *block, done = 0, i;
	int fd, ret = 0;

	if (snprintf(b->made, sizeof(b->made), "%s/" DEFAULT_NAME, b->dir) >=
	    (int)sizeof(b->made)) {
		tool_err("--dir: path too long");
		return -ENAMETOOLONG;
	}
	fd = open(b->made, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		tool_err("%s: %s", b->made, strerror(errno));
		b->made[0] = '\0';
		return ret;
	}
	block = malloc(step);
	if (!block) {
		close(fd);
		return -ENOMEM;
	}
	while (done < b->size) {
		size_t n = b->size - done < step ? (size_t)(b->size - done) :
						    step;
		ssize_t w;

		for (i = 0; i < step / 8; i++)
			block[i] = (done + i * 8) * 0x9e3779b97f4a7c15ull;
		w = write(fd, block, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			tool_err("%s: writing: %s", b->made, strerror(-ret));
			break;
		}
		done += (uint64_t)w;
	}
	free(block);
	if (!ret && fsync(fd)) {
		ret = -errno;
		tool_err("%s: fsync: %s", b->made, strerror(errno));
	}
	close(fd);
	b->file = b->made;
	return ret;
}

/* Drop the file from the page cache (it is clean: synced when made). */
static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* Read the whole file once through the page cache. */
static void warm_cache(const char *path, uint64_t bs)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(bs);

	if (fd >= 0 && buf)
		while (read(fd, buf, bs) > 0)
			;
	free(buf);
	if (fd >= 0)
		close(fd);
}

/* ---- the cases ---- */

static int case_dmakit(struct sbench *b, enum mode m, struct dmk_pool *pool,
		       double *gbps, struct result *res)
{
	DMK_OPTS(dmk_stream_opts, so, .queue_depth = b->qd,
		 .chunk_size = b->bs, .max_requests = b->bufs + 8);
	DMK_OPTS(dmk_stream_stats, st);
	struct dmk_stream_done done[64];
	struct dmk_stream *s = NULL;
	uint64_t next = 0, bytes = 0, t0, t1;
	unsigned int i, busy = 0;
	const char *why;
	bool eof = false;
	int ret, n, k, f;

	ret = dmk_stream_new(m == M_CACHED ? DMK_STREAM_NO_DIRECT : 0, &so,
			     &s);
	if (ret)
		return ret;
	f = dmk_stream_open_file(s, b->file, DMK_STREAM_READ, 0);
	if (f < 0) {
		ret = f;
		goto out;
	}
	ret = dmk_stream_register_pool(s, pool);
	if (ret < 0)
		goto out;

	t0 = now_ns();
	for (i = 0; i < b->bufs && next < b->size; i++) {
		DMK_OPTS(dmk_stream_req, rq, .buf = dmk_pool_buf(pool, i),
			 .file_off = next, .len = b->buf_size, .tag = i,
			 .flags = DMK_STREAM_REQ_MORE);

		ret = dmk_stream_submit(s, &rq);
		if (ret < 0)
			goto out;
		next += b->buf_size;
		busy++;
	}
	while (busy) {
		n = dmk_stream_reap(s, done, ARRAY_SIZE(done), -1);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			ret = n;
			goto out;
		}
		for (k = 0; k < n; k++) {
			unsigned int id = (unsigned int)done[k].tag;

			busy--;
			if (done[k].res < 0) {
				ret = (int)done[k].res;
				goto out;
			}
			bytes += (uint64_t)done[k].res;
			if ((uint64_t)done[k].res < b->buf_size)
				eof = true;
			if (eof || next >= b->size)
				continue;
			{
				DMK_OPTS(dmk_stream_req, rq,
					 .buf = dmk_pool_buf(pool, id),
					 .file_off = next, .len = b->buf_size,
					 .tag = id,
					 .flags = DMK_STREAM_REQ_MORE);

				ret = dmk_stream_submit(s, &rq);
				if (ret < 0)
					goto out;
			}
			next += b->buf_size;
			busy++;
		}
	}
	t1 = now_ns();
	if (bytes != b->size) {
		ret = -EIO;
		goto out;
	}
	*gbps = (double)bytes / ((t1 - t0) / 1e9) / 1e9;
	dmk_stream_stats(s, &st);
	snprintf(res->path, sizeof(res->path), "%s",
		 dmk_stream_path_name((int)st.ran));
	dmk_stream_path(s, (unsigned int)f, &why);
	snprintf(res->why, sizeof(res->why), "%s", why);
	ret = 0;
out:
	dmk_stream_free(s);
	return ret;
}

static int case_read(struct sbench *b, enum mode m, double *gbps)
{
	uint64_t bytes = 0, t0, t1;
	void *buf;
	ssize_t n;
	int fd, ret = 0;

	if (posix_memalign(&buf, 4096, b->bs))
		return -ENOMEM;
	fd = open(b->file, O_RDONLY | O_CLOEXEC |
		  (m == M_DIRECT ? O_DIRECT : 0));
	if (fd < 0) {
		ret = -errno;
		free(buf);
		return ret;
	}
	t0 = now_ns();
	for (;;) {
		n = read(fd, buf, b->bs);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		bytes += (uint64_t)n;
	}
	t1 = now_ns();
	close(fd);
	free(buf);
	if (!ret && bytes != b->size)
		ret = -EIO;
	if (!ret)
		*gbps = (double)bytes / ((t1 - t0) / 1e9) / 1e9;
	return ret;
}

/* Find fio in PATH; its version. */
static bool fio_find(struct sbench *b)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], cand[PATH_MAX + 8];
	const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin";
	FILE *f;

	while (*p) {
		size_t n = strcspn(p, ":");

		if (n && n + 4 < sizeof(b->fio)) {
			memcpy(dir, p, n);
			dir[n] = '\0';
			snprintf(cand, sizeof(cand), "%s/fio", dir);
			if (!access(cand, X_OK)) {
				memcpy(b->fio, cand, n + 5);
				break;
			}
		}
		p += n;
		if (*p == ':')
			p++;
	}
	if (!b->fio[0])
		return false;
	f = popen("fio --version 2>/dev/null", "r");
	if (f) {
		if (fgets(b->fio_version, sizeof(b->fio_version), f))
			b->fio_version[strcspn(b->fio_version, "\n")] = '\0';
		pclose(f);
	}
	return true;
}

/* The number after "key": in @json, at or after @from. */
static bool json_number(const char *from, const char *key, double *out)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(from, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ' || *p == ':' || *p == '\t')
		p++;
	return sscanf(p, "%lf", out) == 1;
}

/* Run fio with @args, its JSON on stdout into @out; 0 or -errno, with the
 * first line fio wrote to stderr in @err. */
static int fio_run(struct sbench *b, char *const *args, char *out,
		   size_t len, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	char errpath[] = "/tmp/dmakit-fio-XXXXXX";
	int pipefd[2], efd, status, ret;
	size_t off = 0;
	ssize_t n;
	pid_t pid;

	err[0] = '\0';
	efd = mkostemp(errpath, O_CLOEXEC);
	if (efd < 0)
		return -errno;
	unlink(errpath);
	if (pipe2(pipefd, O_CLOEXEC)) {
		ret = -errno;
		close(efd);
		return ret;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
	ret = posix_spawn(&pid, b->fio, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		close(efd);
		return -ret;
	}
	while ((n = read(pipefd[0], out + off, len - 1 - off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
		if (off == len - 1)
			break;
	}
	out[off] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = pread(efd, err, errlen - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	err[strcspn(err, "\n")] = '\0';
	close(efd);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	return 0;
}

static int case_fio(struct sbench *b, enum mode m, double *gbps,
		    char *why, size_t whylen)
{
	char a_file[PATH_MAX + 16], a_bs[48], a_qd[48], a_size[48];
	char *args[20], err[256];
	char *json;
	const char *rd;
	double bw;
	int i = 0, ret;

	snprintf(a_file, sizeof(a_file), "--filename=%s", b->file);
	snprintf(a_bs, sizeof(a_bs), "--bs=%" PRIu64, b->bs);
	snprintf(a_qd, sizeof(a_qd), "--iodepth=%u", b->qd);
	snprintf(a_size, sizeof(a_size), "--size=%" PRIu64, b->size);
	args[i++] = "fio";
	args[i++] = "--name=dmakit-bench";
	args[i++] = a_file;
	args[i++] = "--ioengine=io_uring";
	args[i++] = "--rw=read";
	args[i++] = a_bs;
	args[i++] = a_qd;
	args[i++] = a_size;
	args[i++] = m == M_DIRECT ? "--direct=1" : "--direct=0";
	/* fio drops the file's cache before a job by default: the cached
	 * mode must keep it. */
	args[i++] = m == M_DIRECT ? "--invalidate=1" : "--invalidate=0";
	args[i++] = "--readonly";
	args[i++] = "--numjobs=1";
	args[i++] = "--output-format=json";
	args[i++] = NULL;

	json = malloc(1 << 20);
	if (!json)
		return -ENOMEM;
	ret = fio_run(b, args, json, 1 << 20, err, sizeof(err));
	if (ret) {
		snprintf(why, whylen, "fio failed: %s", err[0] ? err :
			 strerror(-ret));
		free(json);
		return ret;
	}
	rd = strstr(json, "\"read\"");
	if (!rd || !json_number(rd, "bw_bytes", &bw) || bw <= 0) {
		snprintf(why, whylen, "no read bandwidth in fio's JSON");
		free(json);
		return -EBADMSG;
	}
	*gbps = bw / 1e9;
	free(json);
	return 0;
}

/* ---- reporting ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void summarize(const struct result *r, double *med, double *min,
		      double *max)
{
	double s[MAX_REPS];

	memcpy(s, r->gbps, r->n * sizeof(double));
	qsort(s, r->n, sizeof(double), cmp_double);
	*min = s[0];
	*max = s[r->n - 1];
	*med = r->n % 2 ? s[r->n / 2] : (s[r->n / 2 - 1] + s[r->n / 2]) / 2;
}

static void report(struct sbench *b, struct json *j, enum mode m,
		   struct result res[C_COUNT])
{
	double med[C_COUNT] = { 0 }, mn, mx, ratio;
	int c;
	unsigned int i;

	for (c = 0; c < C_COUNT; c++)
		if (!res[c].skipped && res[c].n)
			summarize(&res[c], &med[c], &mn, &mx);
	for (c = 0; c < C_COUNT; c++) {
		struct result *r = &res[c];

		ratio = c == C_DMAKIT && med[C_FIO] > 0 && !r->skipped ?
			med[C_DMAKIT] / med[C_FIO] : 0;
		if (b->json) {
			json_object_begin(j);
			json_kv_string(j, "bench", "stream");
			json_kv_string(j, "case", case_names[c]);
			json_kv_string(j, "mode", mode_names[m]);
			json_kv_string(j, "file", b->file);
			json_kv_string(j, "fs", b->fs);
			json_kv_uint(j, "size", b->size);
			json_kv_uint(j, "bs", b->bs);
			json_kv_uint(j, "qd", c == C_READ ? 1 : b->qd);
			json_kv_uint(j, "reps", b->reps);
			if (r->skipped) {
				json_kv_bool(j, "skipped", true);
				json_kv_string(j, "reason", r->reason);
				json_object_end(j);
				continue;
			}
			summarize(r, &med[c], &mn, &mx);
			json_kv_double(j, "gbps_median", med[c]);
			json_kv_double(j, "gbps_min", mn);
			json_kv_double(j, "gbps_max", mx);
			json_key(j, "samples");
			json_array_begin(j);
			for (i = 0; i < r->n; i++)
				json_double(j, r->gbps[i]);
			json_array_end(j);
			if (c == C_DMAKIT) {
				json_kv_string(j, "path", r->path);
				json_kv_string(j, "why", r->why);
				json_kv_uint(j, "bufs", b->bufs);
				json_kv_uint(j, "buf_size", b->buf_size);
				json_kv_string(j, "heap", "memfd");
				if (ratio > 0)
					json_kv_double(j, "ratio_vs_fio",
						       ratio);
				else
					json_kv_null(j, "ratio_vs_fio");
			}
			if (c == C_FIO)
				json_kv_string(j, "fio_version",
					       b->fio_version);
			json_object_end(j);
			continue;
		}
		if (r->skipped) {
			printf("%-7s %-7s skipped: %s\n", mode_names[m],
			       case_names[c], r->reason);
			continue;
		}
		summarize(r, &med[c], &mn, &mx);
		printf("%-7s %-7s %8.2f %8.2f %8.2f  %-13s", mode_names[m],
		       case_names[c], med[c], mn, mx,
		       c == C_DMAKIT ? r->path : c == C_FIO ?
		       "io_uring" : "read()");
		if (ratio > 0)
			printf(" %.2fx fio", ratio);
		printf("\n");
	}
}

int bench_stream(int argc, char **argv)
{
	DMK_OPTS(dmk_heap_opts, ho, .needs = DMK_CAP_PINNABLE);
	struct result res[M_COUNT][C_COUNT];
	struct dmk_pool *pool = NULL;
	struct dmk_heap *heap = NULL;
	struct sbench b;
	struct statfs sfs;
	struct stat st;
	struct json j;
	char sz[32], bs[32], why[256];
	unsigned int rep, i;
	int ret, m, c, status = EXIT_OK, fd;

	ret = parse_args(argc, argv, &b);
	if (ret < 0)
		return EXIT_OK;
	if (ret > 0)
		return ret;
	memset(res, 0, sizeof(res));

	if (b.file) {
		if (stat(b.file, &st)) {
			tool_err("--file %s: %s", b.file, strerror(errno));
			return EXIT_FAIL;
		}
		if (!S_ISREG(st.st_mode) || !st.st_size) {
			tool_err("--file %s: not a regular file with data",
				 b.file);
			return EXIT_FAIL;
		}
		b.size = (uint64_t)st.st_size;
	} else if (make_file(&b)) {
		if (b.made[0])
			unlink(b.made);
		return EXIT_FAIL;
	}
	if (!statfs(b.file, &sfs))
		snprintf(b.fs, sizeof(b.fs), "%s", fs_name(sfs.f_type));

	ret = dmk_heap_open(DMK_HEAP_AUTO, &ho, &heap);
	if (!ret) {
		DMK_OPTS(dmk_pool_opts, po, .name = "bench-stream",
			 .buf_size = b.buf_size);

		ret = dmk_pool_new(heap, b.bufs, &po, &pool);
	}
	if (ret) {
		tool_err("allocating %u buffers of %s: %s", b.bufs,
			 fmt_size(b.buf_size, sz, sizeof(sz)),
			 dmk_strerror(ret));
		status = EXIT_FAIL;
		goto out;
	}

	fio_find(&b);
	for (m = 0; m < M_COUNT; m++) {
		if (!b.modes[m]) {
			for (c = 0; c < C_COUNT; c++)
				res[m][c].skipped = true;
			continue;
		}
		if (!b.fio[0]) {
			res[m][C_FIO].skipped = true;
			snprintf(res[m][C_FIO].reason,
				 sizeof(res[m][C_FIO].reason),
				 "fio is not installed (apt-get install fio); "
				 "no fio baseline");
		}
		if (m == M_DIRECT) {
			fd = open(b.file, O_RDONLY | O_DIRECT | O_CLOEXEC);
			if (fd < 0) {
				snprintf(why, sizeof(why), "%s (%s) does not "
					 "take O_DIRECT: %s", b.file, b.fs,
					 strerror(errno));
				for (c = 0; c < C_COUNT; c++) {
					res[m][c].skipped = true;
					snprintf(res[m][c].reason,
						 sizeof(res[m][c].reason),
						 "%s", why);
				}
				continue;
			}
			close(fd);
		}
	}

	if (!b.json) {
		printf("bench stream: %s file %s (%s), bs %s, qd %u, dmakit "
		       "pool %u x %s (memfd, registered)\n",
		       fmt_size(b.size, sz, sizeof(sz)), b.file, b.fs,
		       fmt_size(b.bs, bs, sizeof(bs)), b.qd, b.bufs,
		       fmt_size(b.buf_size, why, sizeof(why)));
		printf("%u reps interleaved (dmakit fio read, fio read dmakit, "
		       "...); GB/s = 1e9 bytes/s; %s\n\n", b.reps,
		       b.fio[0] ? b.fio_version :
		       "fio not installed");
		printf("%-7s %-7s %8s %8s %8s  %s\n", "mode", "case", "median",
		       "min", "max", "path");
		fflush(stdout);
	}

	for (m = 0; m < M_COUNT; m++) {
		if (!b.modes[m] || res[m][C_DMAKIT].skipped)
			continue;
		if (m == M_CACHED)
			warm_cache(b.file, b.bs);
		for (rep = 0; rep < b.reps; rep++) {
			/* Each rep starts with the next case, so no case
			 * always runs right after another (caches of the
			 * disk underneath, the CPU's clock). */
			for (i = 0; i < C_COUNT; i++) {
				struct result *r;
				double g = 0;

				c = (int)((rep + i) % C_COUNT);
				r = &res[m][c];

				if (r->skipped)
					continue;
				if (m == M_DIRECT)
					drop_cache(b.file);
				switch (c) {
				case C_DMAKIT:
					ret = case_dmakit(&b, m, pool, &g, r);
					if (ret)
						snprintf(r->reason,
							 sizeof(r->reason),
							 "dmk_stream: %s",
							 dmk_strerror(ret));
					break;
				case C_FIO:
					ret = case_fio(&b, m, &g, r->reason,
						       sizeof(r->reason));
					break;
				default:
					ret = case_read(&b, m, &g);
					if (ret)
						snprintf(r->reason,
							 sizeof(r->reason),
							 "read: %s",
							 strerror(-ret));
					break;
				}
				if (ret) {
					r->skipped = true;
					if (c != C_FIO)
						status = EXIT_FAIL;
					continue;
				}
				r->gbps[r->n++] = g;
			}
		}
	}

	if (b.json) {
		json_init(&j, stdout);
		json_array_begin(&j);
	}
	for (m = 0; m < M_COUNT; m++)
		if (b.modes[m])
			report(&b, &j, (enum mode)m, res[m]);
	if (b.json) {
		json_array_end(&j);
		json_end(&j);
	}
out:
	dmk_pool_free(pool);
	dmk_heap_close(heap);
	if (b.made[0] && !b.keep)
		unlink(b.made);
	fflush(stdout);
	if (ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return status;
}
