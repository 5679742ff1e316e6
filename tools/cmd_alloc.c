// SPDX-License-Identifier: MIT
/*
 * dmakit alloc: allocate one buffer, map it, write a pattern and read it
 * back, then show everything about it: backend, why that backend, size,
 * fds, identity, name, caps, and what the kernel says about its fds in
 * /proc/self/fdinfo and /proc/self/fd.  --hold keeps it alive so it can be
 * looked at from another terminal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* F_GET_SEALS */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "util.h"

#define DEFAULT_SIZE (1ull << 20)

/* Seals newer than some C libraries' headers (include/uapi/linux/fcntl.h). */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010	/* 5.1 */
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020		/* 6.3 */
#endif

struct alloc_args {
	const char *heap;
	const char *needs_arg;
	unsigned int needs;
	uint64_t size;
	const char *name;
	bool populate;
	double hold;
	bool json;
};

/* What the run measured and found, for printing. */
struct alloc_result {
	uint64_t alloc_ns, map_ns, fill_ns, check_ns;
	bool verified;		/* false: read-only mapping, not written */
};

static const char alloc_help[] =
	"Usage: dmakit alloc [--heap NAME] [--needs LIST] [--size SIZE]\n"
	"                    [--name NAME] [--populate] [--hold SECONDS]\n"
	"                    [--json]\n"
	"\n"
	"Allocate one buffer, map it, write a pattern and read it back,\n"
	"and show what it is: backend, heap and why it was chosen, size,\n"
	"fds, identity (dev major:minor, inode), name, caps, and the\n"
	"kernel's /proc/self/fdinfo and /proc/self/fd entries for its fds.\n"
	"\n"
	"Options:\n"
	"  --heap NAME       auto (default), memfd, udmabuf, or a dma-heap\n"
	"                    name such as system or linux,cma\n"
	"  --needs LIST      what the buffer must offer, comma-separated:\n"
	"                    dmabuf, pinnable, contig (default: none)\n"
	"  --size SIZE       bytes, with an optional K, M, G suffix\n"
	"                    (powers of 1024); default 1M\n"
	"  --name NAME       buffer name (memfd name, dma-buf name);\n"
	"                    default: the library's, \"dmakit\"\n"
	"  --populate        allocate the pages up front (DMK_ALLOC_POPULATE)\n"
	"  --hold SECONDS    keep the buffer alive this long after printing\n"
	"                    (\"inf\": until SIGINT/SIGTERM)\n"
	"  --json            one JSON object instead of text\n"
	"  -h, --help        this text\n"
	"\n"
	"Exit status: 0 ok, 1 the allocation or the check failed, 2 usage.\n";

void cmd_alloc_usage(FILE *f)
{
	fputs(alloc_help, f);
}

static int parse_args(int argc, char **argv, struct alloc_args *a)
{
	enum { OPT_HEAP = 256, OPT_NEEDS, OPT_SIZE, OPT_NAME, OPT_POPULATE,
	       OPT_HOLD, OPT_JSON };
	static const struct option longopts[] = {
		{ "heap", required_argument, NULL, OPT_HEAP },
		{ "needs", required_argument, NULL, OPT_NEEDS },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "populate", no_argument, NULL, OPT_POPULATE },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, ret;

	memset(a, 0, sizeof(*a));
	a->heap = DMK_HEAP_AUTO;
	a->size = DEFAULT_SIZE;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HEAP:
			if (!*optarg)
				return tool_usage_err("--heap: empty name");
			a->heap = optarg;
			break;
		case OPT_NEEDS:
			if (parse_caps(optarg, &a->needs))
				return tool_usage_err("--needs: '%s' is not a "
					"list of dmabuf, pinnable, contig",
					optarg);
			a->needs_arg = optarg;
			break;
		case OPT_SIZE:
			ret = parse_size(optarg, &a->size);
			if (ret == -ERANGE)
				return tool_usage_err("--size: '%s' does not "
						      "fit in 64 bits", optarg);
			if (ret)
				return tool_usage_err("--size: '%s' is not a "
					"size such as 4096, 4K, 8M or 1G",
					optarg);
			if (a->size == 0)
				return tool_usage_err("--size: must be more "
						      "than 0");
			break;
		case OPT_NAME:
			a->name = optarg;
			break;
		case OPT_POPULATE:
			a->populate = true;
			break;
		case OPT_HOLD:
			if (parse_seconds(optarg, &a->hold))
				return tool_usage_err("--hold: '%s' is not a "
					"number of seconds (or inf)", optarg);
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'h':
			cmd_alloc_usage(stdout);
			return -1;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* One line saying why dmk_heap_open(@heap, needs) failed. */
static void heap_open_err(const char *heap, unsigned int needs, int err)
{
	char c1[64], c2[64];
	const char *hint;

	if (err == -ENOTSUP && !strcmp(heap, DMK_HEAP_AUTO)) {
		tool_err("auto: %s (no backend here offers %s; 'dmakit info' "
			 "shows why)", dmk_strerror(err),
			 fmt_caps(needs, c1, sizeof(c1)));
		return;
	}
	if (err == -ENOTSUP) {
		tool_err("%s: %s (it offers %s, not %s)", heap,
			 dmk_strerror(err),
			 fmt_caps(heap_static_caps(heap), c1, sizeof(c1)),
			 fmt_caps(needs & ~heap_static_caps(heap), c2,
				  sizeof(c2)));
		return;
	}
	hint = tool_hint(heap, err);
	tool_err("%s: %s%s%s%s", heap, dmk_strerror(err), hint ? " (" : "",
		 hint ? hint : "", hint ? ")" : "");
}

/* The word at offset @i of the pattern: distinct per word and per run. */
static inline uint64_t pattern(uint64_t seed, uint64_t i)
{
	return (i * 0x9e3779b97f4a7c15ull) ^ seed;
}

/*
 * Write the pattern through the mapping and read it back, each inside a
 * CPU-access bracket.  Returns 0, -EIO on a mismatch (reported), or -errno
 * from the brackets.
 */
static int fill_and_check(struct dmk_buf *buf, void *map, uint64_t size,
			  struct alloc_result *res)
{
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
	uint64_t nwords = size / 8, i, want, got, t0;
	volatile uint64_t *w = map;
	int ret;

	t0 = now_ns();
	ret = dmk_buf_begin_cpu(buf, DMK_SYNC_WRITE);
	if (ret < 0) {
		tool_err("begin CPU write: %s", dmk_strerror(ret));
		return ret;
	}
	for (i = 0; i < nwords; i++)
		w[i] = pattern(seed, i);
	ret = dmk_buf_end_cpu(buf, DMK_SYNC_WRITE);
	if (ret < 0) {
		tool_err("end CPU write: %s", dmk_strerror(ret));
		return ret;
	}
	res->fill_ns = now_ns() - t0;

	t0 = now_ns();
	ret = dmk_buf_begin_cpu(buf, DMK_SYNC_READ);
	if (ret < 0) {
		tool_err("begin CPU read: %s", dmk_strerror(ret));
		return ret;
	}
	for (i = 0; i < nwords; i++) {
		want = pattern(seed, i);
		got = w[i];
		if (got != want)
			break;
	}
	ret = dmk_buf_end_cpu(buf, DMK_SYNC_READ);
	if (i < nwords) {
		tool_err("verify: mismatch at byte %" PRIu64 ": wrote "
			 "0x%016" PRIx64 ", read 0x%016" PRIx64,
			 i * 8, want, got);
		return -EIO;
	}
	if (ret < 0) {
		tool_err("end CPU read: %s", dmk_strerror(ret));
		return ret;
	}
	res->check_ns = now_ns() - t0;
	res->verified = true;
	return 0;
}

/* A memfd's seals as "shrink,grow,seal", "none", or "?" on error. */
static const char *fmt_seals(int fd, char *buf, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{ F_SEAL_SEAL, "seal" },
		{ F_SEAL_SHRINK, "shrink" },
		{ F_SEAL_GROW, "grow" },
		{ F_SEAL_WRITE, "write" },
		{ F_SEAL_FUTURE_WRITE, "future_write" },
		{ F_SEAL_EXEC, "exec" },
	};
	size_t i, off = 0;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0) {
		snprintf(buf, len, "? (%s)", strerror(errno));
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names) && off < len; i++) {
		if (!(seals & names[i].bit))
			continue;
		seals &= ~names[i].bit;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? "," : "", names[i].name);
	}
	if (seals && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%s0x%x",
					off ? "," : "", (unsigned int)seals);
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

/* ---- /proc views of an fd ---- */

static void fd_link(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		snprintf(buf, len, "(readlink: %s)", strerror(errno));
	else
		buf[n] = '\0';
}

static ssize_t fd_info(int fd, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return read_text(path, buf, len);
}

static void print_fd_text(int fd, const char *role)
{
	char link[512], info[8192], *line, *save = NULL;
	ssize_t n;

	fd_link(fd, link, sizeof(link));
	printf("\nfd %d (%s) -> %s\n", fd, role, link);
	n = fd_info(fd, info, sizeof(info));
	if (n < 0) {
		printf("  /proc/self/fdinfo/%d: %s\n", fd, strerror((int)-n));
		return;
	}
	printf("  /proc/self/fdinfo/%d:\n", fd);
	for (line = strtok_r(info, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("    %s\n", line);
}

static void print_fd_json(struct json *j, int fd, const char *role)
{
	char link[512], info[8192], *line, *save = NULL, *colon, *val;
	char seen[64][32];
	int nseen = 0, k;
	ssize_t n;

	fd_link(fd, link, sizeof(link));
	n = fd_info(fd, info, sizeof(info));
	json_object_begin(j);
	json_kv_int(j, "fd", fd);
	json_kv_string(j, "role", role);
	json_kv_string(j, "link", link);
	json_key(j, "fdinfo");
	if (n < 0) {
		json_null(j);
		json_kv_string(j, "fdinfo_error", strerror((int)-n));
		json_object_end(j);
		return;
	}
	/*
	 * "key:\tvalue" lines become members; a key that repeats (several
	 * locks, say) keeps its first value so the object stays
	 * unambiguous, and the raw text is there too.
	 */
	json_object_begin(j);
	for (line = strtok_r(info, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (k = 0; k < nseen; k++)
			if (!strcmp(seen[k], line))
				break;
		if (k < nseen)
			continue;
		if (nseen < 64 && strlen(line) < sizeof(seen[0]))
			strcpy(seen[nseen++], line);
		val = colon + 1;
		val += strspn(val, " \t");
		json_kv_string(j, line, val);
	}
	json_object_end(j);
	fd_info(fd, info, sizeof(info));
	json_kv_string(j, "fdinfo_text", info);
	json_object_end(j);
}

/* ---- output ---- */

static void print_text(const struct alloc_args *a, struct dmk_heap *h,
		       struct dmk_buf *buf, void *map,
		       const struct alloc_result *res)
{
	const char *name, *reason;
	char s1[32], caps[64], needs[64], seals[96];
	dev_t dev;
	ino_t ino;
	int fd = dmk_buf_fd(buf), memfd = dmk_buf_memfd(buf);
	int i, count, verdict;

	dmk_buf_identity(buf, &dev, &ino);
	printf("backend:   %s\n", dmk_backend_name(dmk_buf_backend(buf)));
	printf("heap:      %s (asked: %s, needs: %s)\n", dmk_heap_name(h),
	       a->heap, fmt_caps(a->needs, needs, sizeof(needs)));
	printf("why:\n");
	count = dmk_heap_candidate(h, UINT32_MAX, NULL, NULL, NULL);
	for (i = 0; i < count; i++) {
		name = reason = NULL;
		verdict = 0;
		dmk_heap_candidate(h, (unsigned int)i, &name, &verdict,
				   &reason);
		printf("  %-12s %-12s %s\n", name ? name : "?",
		       verdict > 0 ? "chosen" : verdict == 0 ? "passed over" :
		       dmk_strerror(verdict), reason ? reason : "");
	}
	printf("size:      %s (%" PRIu64 " bytes; asked %" PRIu64 ")\n",
	       fmt_size(dmk_buf_size(buf), s1, sizeof(s1)),
	       dmk_buf_size(buf), a->size);
	printf("fd:        %d\n", fd);
	if (memfd == fd)
		printf("memfd:     %d (the same fd)\n", memfd);
	else if (memfd >= 0)
		printf("memfd:     %d\n", memfd);
	else
		printf("memfd:     none\n");
	if (memfd >= 0)
		printf("seals:     %s\n", fmt_seals(memfd, seals,
						  sizeof(seals)));
	printf("identity:  dev %u:%u inode %" PRIu64 "\n", major(dev),
	       minor(dev), (uint64_t)ino);
	printf("name:      \"%s\"\n", dmk_buf_name(buf));
	printf("caps:      %s\n", fmt_caps(dmk_buf_caps(buf), caps,
					   sizeof(caps)));
	printf("mapping:   %p, %s\n", map,
	       dmk_buf_writable(buf) ? "read-write" : "read-only");
	if (res->verified)
		printf("verify:    ok, %" PRIu64 " bytes written and read "
		       "back (write %.1f us, read %.1f us)\n",
		       dmk_buf_size(buf) / 8 * 8, res->fill_ns / 1e3,
		       res->check_ns / 1e3);
	else
		printf("verify:    skipped: read-only mapping\n");
	printf("timing:    alloc %.1f us, map %.1f us%s\n",
	       res->alloc_ns / 1e3, res->map_ns / 1e3,
	       a->populate ? " (populated)" : "");

	print_fd_text(fd, memfd == fd ? "memfd" : "dma-buf");
	if (memfd >= 0 && memfd != fd)
		print_fd_text(memfd, "memfd");
}

static void print_json(const struct alloc_args *a, struct dmk_heap *h,
		       struct dmk_buf *buf, void *map,
		       const struct alloc_result *res)
{
	const char *name, *reason;
	char caps[64], needs[64], addr[32], seals[96];
	struct json j;
	dev_t dev;
	ino_t ino;
	int fd = dmk_buf_fd(buf), memfd = dmk_buf_memfd(buf);
	int i, count, verdict;

	dmk_buf_identity(buf, &dev, &ino);
	json_init(&j, stdout);
	json_object_begin(&j);
	json_kv_string(&j, "backend", dmk_backend_name(dmk_buf_backend(buf)));
	json_kv_string(&j, "heap", dmk_heap_name(h));
	json_kv_string(&j, "heap_asked", a->heap);
	json_kv_string(&j, "needs", fmt_caps(a->needs, needs, sizeof(needs)));
	json_key(&j, "why");
	json_array_begin(&j);
	count = dmk_heap_candidate(h, UINT32_MAX, NULL, NULL, NULL);
	for (i = 0; i < count; i++) {
		name = reason = NULL;
		verdict = 0;
		dmk_heap_candidate(h, (unsigned int)i, &name, &verdict,
				   &reason);
		json_object_begin(&j);
		json_kv_string(&j, "name", name);
		json_kv_int(&j, "verdict", verdict);
		json_kv_string(&j, "reason", reason);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_kv_uint(&j, "size", dmk_buf_size(buf));
	json_kv_uint(&j, "size_asked", a->size);
	json_kv_int(&j, "fd", fd);
	if (memfd >= 0) {
		json_kv_int(&j, "memfd", memfd);
		json_kv_string(&j, "seals", fmt_seals(memfd, seals,
						      sizeof(seals)));
	} else {
		json_kv_null(&j, "memfd");
		json_kv_null(&j, "seals");
	}
	json_key(&j, "identity");
	json_object_begin(&j);
	json_kv_uint(&j, "dev_major", major(dev));
	json_kv_uint(&j, "dev_minor", minor(dev));
	json_kv_uint(&j, "ino", (uint64_t)ino);
	json_object_end(&j);
	json_kv_string(&j, "name", dmk_buf_name(buf));
	json_kv_string(&j, "caps", fmt_caps(dmk_buf_caps(buf), caps,
					    sizeof(caps)));
	json_kv_uint(&j, "caps_bits", dmk_buf_caps(buf));
	snprintf(addr, sizeof(addr), "%p", map);
	json_kv_string(&j, "map", addr);
	json_kv_bool(&j, "writable", dmk_buf_writable(buf));
	json_kv_bool(&j, "populate", a->populate);
	json_kv_bool(&j, "verified", res->verified);
	json_kv_double(&j, "alloc_us", res->alloc_ns / 1e3);
	json_kv_double(&j, "map_us", res->map_ns / 1e3);
	if (res->verified) {
		json_kv_double(&j, "write_us", res->fill_ns / 1e3);
		json_kv_double(&j, "read_us", res->check_ns / 1e3);
	}
	json_kv_int(&j, "pid", getpid());
	json_key(&j, "fds");
	json_array_begin(&j);
	print_fd_json(&j, fd, memfd == fd ? "memfd" : "dma-buf");
	if (memfd >= 0 && memfd != fd)
		print_fd_json(&j, memfd, "memfd");
	json_array_end(&j);
	json_object_end(&j);
	json_end(&j);
}

/*
 * Keep the buffer until @seconds pass or SIGINT/SIGTERM/SIGHUP arrives;
 * the signals are blocked and waited for, so the buffer is always released
 * by the normal path.
 */
static void hold(double seconds, bool json, struct dmk_buf *buf)
{
	struct timespec ts;
	sigset_t set, old;
	FILE *f = json ? stderr : stdout;
	uint64_t deadline, left;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);

	if (isinf(seconds))
		fprintf(f, "\nholding the buffer (pid %d, fd %d) until "
			"Ctrl-C\n", getpid(), dmk_buf_fd(buf));
	else
		fprintf(f, "\nholding the buffer (pid %d, fd %d) for %g s; "
			"Ctrl-C releases it\n", getpid(), dmk_buf_fd(buf),
			seconds);
	fprintf(f, "  look: cat /proc/%d/fdinfo/%d; ls -l /proc/%d/fd\n",
		getpid(), dmk_buf_fd(buf), getpid());
	fflush(f);

	if (isinf(seconds)) {
		do {
			sig = sigwaitinfo(&set, NULL);
		} while (sig < 0 && errno == EINTR);
	} else {
		/*
		 * Against a deadline, so an EINTR (a SIGSTOP/SIGCONT pair)
		 * does not restart the whole wait.
		 */
		deadline = now_ns() + (uint64_t)(seconds * 1e9);
		do {
			left = deadline - now_ns();
			if ((int64_t)left <= 0)
				break;
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			sig = sigtimedwait(&set, NULL, &ts);
		} while (sig < 0 && errno == EINTR);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int cmd_alloc(int argc, char **argv)
{
	DMK_OPTS(dmk_heap_opts, hopts);
	DMK_OPTS(dmk_alloc_opts, aopts);
	struct alloc_result res = { 0 };
	struct alloc_args a;
	struct dmk_heap *h;
	struct dmk_buf *buf;
	uint64_t t0, avail, limit;
	char s1[32], hbuf[128];
	const char *hint;
	void *map;
	int ret, status = EXIT_FAIL;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return EXIT_OK;		/* --help */
	if (ret > 0)
		return ret;

	hopts.needs = a.needs;
	aopts.name = a.name;
	aopts.flags = a.populate ? DMK_ALLOC_POPULATE : 0;

	ret = dmk_heap_open(a.heap, &hopts, &h);
	if (ret < 0) {
		heap_open_err(a.heap, a.needs, ret);
		/* A name the library cannot parse is a usage error. */
		return ret == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}

	/*
	 * Every byte gets written: more than the machine has available would
	 * end in the OOM killer, not in an error message.
	 */
	if (!mem_available(&avail) && a.size > avail) {
		tool_err("%s: %s is more than the %.1f GiB of memory "
			 "available (MemAvailable); not allocating",
			 dmk_heap_name(h), fmt_size(a.size, s1, sizeof(s1)),
			 avail / (double)(1ull << 30));
		goto err_heap;
	}

	t0 = now_ns();
	ret = dmk_heap_alloc(h, a.size, &aopts, &buf);
	res.alloc_ns = now_ns() - t0;
	if (ret < 0) {
		hint = ret == -ENAMETOOLONG ?
			"--name too long: dma-buf names hold 31 bytes, "
			"memfd names 249" :
			tool_hint(dmk_heap_name(h), ret);
		/* 6.1 says EINVAL, not E2BIG, past udmabuf's size limit. */
		if ((ret == -EINVAL || ret == -E2BIG) &&
		    dmk_heap_backend(h) == DMK_BACKEND_UDMABUF &&
		    !dmk_udmabuf_limits(&limit, NULL) && a.size > limit) {
			snprintf(hbuf, sizeof(hbuf), "over udmabuf's "
				 "size_limit_mb, %s; the module parameter "
				 "udmabuf.size_limit_mb raises it",
				 fmt_size(limit, s1, sizeof(s1)));
			hint = hbuf;
		}
		tool_err("%s: allocating %" PRIu64 " bytes: %s%s%s%s",
			 dmk_heap_name(h), a.size, dmk_strerror(ret),
			 hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		if (ret == -ENAMETOOLONG)
			status = EXIT_USAGE;
		goto err_heap;
	}

	t0 = now_ns();
	ret = dmk_buf_map(buf, &map);
	res.map_ns = now_ns() - t0;
	if (ret < 0) {
		tool_err("%s: mapping %" PRIu64 " bytes: %s", dmk_heap_name(h),
			 dmk_buf_size(buf), dmk_strerror(ret));
		goto err_buf;
	}

	if (dmk_buf_writable(buf)) {
		ret = fill_and_check(buf, map, dmk_buf_size(buf), &res);
		if (ret < 0)
			goto err_buf;
	}

	if (a.json)
		print_json(&a, h, buf, map, &res);
	else
		print_text(&a, h, buf, map, &res);
	if (fflush(stdout) || ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		goto err_buf;
	}

	if (a.hold > 0)
		hold(a.hold, a.json, buf);
	status = EXIT_OK;

err_buf:
	dmk_buf_put(buf);
err_heap:
	dmk_heap_close(h);
	return status;
}
