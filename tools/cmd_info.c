// SPDX-License-Identifier: MIT
/*
 * dmakit info: what this machine offers.  Library version, page size,
 * kernel, the dma-heaps, each backend's probe, udmabuf's limits, and what
 * the "auto" heap picks for each combination of needs, with its reasons.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "util.h"

#define MAX_HEAPS 64

struct heap_list {
	int count;
	char *names[MAX_HEAPS];
	bool truncated;
};

struct info {
	struct utsname uts;
	long page_size;
	struct heap_list heaps;
	int enum_ret;		/* dmk_heap_enumerate() */
	bool heap_dir;		/* /dev/dma_heap exists */
	int heap_probe[MAX_HEAPS];
	int udmabuf_probe;
	int memfd_probe;
	int limits_ret;
	uint64_t size_limit;
	unsigned int list_limit;
};

static const struct {
	const char *label;
	unsigned int needs;
} needs_cases[] = {
	{ "none", 0 },
	{ "dmabuf", DMK_CAP_DMABUF },
	{ "pinnable", DMK_CAP_PINNABLE },
	{ "dmabuf,pinnable", DMK_CAP_DMABUF | DMK_CAP_PINNABLE },
	{ "contig", DMK_CAP_CONTIG },
};

static const char info_help[] =
	"Usage: dmakit info [--json]\n"
	"\n"
	"Show what this machine offers for buffers: the library version,\n"
	"page size and kernel, the dma-heaps under /dev/dma_heap, each\n"
	"backend's probe (yes / no: why / error: what), udmabuf's limits,\n"
	"and the backend the \"auto\" heap picks for each set of needs\n"
	"(none, dmabuf, pinnable, dmabuf+pinnable, contig) with the reason\n"
	"every candidate was taken or passed over.\n"
	"\n"
	"Options:\n"
	"  --json      one JSON object with all of the above\n"
	"  -h, --help  this text\n";

void cmd_info_usage(FILE *f)
{
	fputs(info_help, f);
}

static int collect_heap(const char *name, void *user)
{
	struct heap_list *l = user;

	if (l->count == MAX_HEAPS) {
		l->truncated = true;
		return 0;
	}
	l->names[l->count] = strdup(name);
	if (!l->names[l->count])
		return -ENOMEM;
	l->count++;
	return 0;
}

static void info_collect(struct info *in)
{
	struct stat st;
	int i;

	memset(in, 0, sizeof(*in));
	if (uname(&in->uts))
		snprintf(in->uts.release, sizeof(in->uts.release), "unknown");
	in->page_size = sysconf(_SC_PAGESIZE);
	in->heap_dir = stat("/dev/dma_heap", &st) == 0;
	in->enum_ret = dmk_heap_enumerate(collect_heap, &in->heaps);
	for (i = 0; i < in->heaps.count; i++)
		in->heap_probe[i] = dmk_probe_dma_heap(in->heaps.names[i]);
	in->udmabuf_probe = dmk_probe_udmabuf();
	in->memfd_probe = dmk_probe_memfd();
	in->limits_ret = dmk_udmabuf_limits(&in->size_limit, &in->list_limit);
}

static void info_free(struct info *in)
{
	int i;

	for (i = 0; i < in->heaps.count; i++)
		free(in->heaps.names[i]);
}

/* The line for the dma-heap list when it is empty or failed; NULL if not. */
static const char *heaps_status(const struct info *in, char *buf, size_t len)
{
	if (in->enum_ret < 0) {
		snprintf(buf, len, "error: %s", dmk_strerror(in->enum_ret));
		return buf;
	}
	if (in->heaps.count)
		return NULL;
	if (!in->heap_dir)
		return "none: no /dev/dma_heap "
		       "(kernel without CONFIG_DMABUF_HEAPS)";
	return "none: /dev/dma_heap is empty (no heap driver registered)";
}

/* "yes", "no: why" or "error: what" for a probe result. */
static const char *probe_text(int ret, const char *why_not, char *buf,
			      size_t len)
{
	if (ret > 0)
		return "yes";
	if (ret == 0)
		snprintf(buf, len, "no: %s", why_not);
	else
		snprintf(buf, len, "error: %s", dmk_strerror(ret));
	return buf;
}

static const char *why_not_heap = "the heap exists but does not allocate";
static const char *why_not_udmabuf =
	"no /dev/udmabuf (kernel built without CONFIG_UDMABUF?)";
static const char *why_not_memfd =
	"no memfd_create or no sealing (kernel without CONFIG_MEMFD_CREATE?)";

static const char *verdict_text(int verdict)
{
	if (verdict > 0)
		return "chosen";
	if (verdict == 0)
		return "passed over";
	return "unavailable";
}

/*
 * One candidate of a choice report:
 * text mode prints a line, JSON mode an object.
 */
static void emit_candidate(struct json *j, const char *name, int verdict,
			   const char *reason)
{
	if (!name)
		name = "?";
	if (!reason)
		reason = "";
	if (!j) {
		printf("      %-12s %-12s %s\n", name, verdict_text(verdict),
		       reason);
		return;
	}
	json_object_begin(j);
	json_kv_string(j, "name", name);
	json_kv_int(j, "verdict", verdict);
	json_kv_string(j, "verdict_text", verdict_text(verdict));
	json_kv_string(j, "reason", reason);
	json_object_end(j);
}

/* The candidate report, as dmk_heap_opts.report hands it over. */
struct report {
	int n;
	struct {
		char name[64];
		int verdict;
		char reason[256];
	} c[16];
};

static void collect_candidate(const char *name, int verdict,
			      const char *reason, void *user)
{
	struct report *r = user;

	if (r->n == (int)ARRAY_SIZE(r->c))
		return;
	snprintf(r->c[r->n].name, sizeof(r->c[r->n].name), "%s", name);
	r->c[r->n].verdict = verdict;
	snprintf(r->c[r->n].reason, sizeof(r->c[r->n].reason), "%s", reason);
	r->n++;
}

/*
 * The "auto" choice for one set of needs, with the candidate report (the
 * library gives it through opts.report, on failure too).
 */
static void auto_report(struct json *j, const char *label,
			unsigned int needs)
{
	struct report rep = { .n = 0 };
	DMK_OPTS(dmk_heap_opts, opts, .needs = needs,
		 .report = collect_candidate, .report_user = &rep);
	struct dmk_heap *h = NULL;
	char caps[64];
	int ret, i;

	ret = dmk_heap_open(DMK_HEAP_AUTO, &opts, &h);
	if (!j) {
		if (ret == 0)
			printf("  needs %-16s -> %s (backend %s, caps %s)\n",
			       label, dmk_heap_name(h),
			       dmk_backend_name(dmk_heap_backend(h)),
			       fmt_caps(dmk_heap_caps(h), caps, sizeof(caps)));
		else
			printf("  needs %-16s -> none: %s\n", label,
			       ret == -ENOTSUP ? "no backend here offers it" :
			       dmk_strerror(ret));
	} else {
		json_object_begin(j);
		json_kv_string(j, "needs", label);
		json_kv_uint(j, "needs_bits", needs);
		json_kv_bool(j, "ok", ret == 0);
		if (ret == 0) {
			json_kv_string(j, "heap", dmk_heap_name(h));
			json_kv_string(j, "backend",
				       dmk_backend_name(dmk_heap_backend(h)));
			json_kv_string(j, "caps",
				       fmt_caps(dmk_heap_caps(h), caps,
						sizeof(caps)));
			json_kv_null(j, "error");
		} else {
			json_kv_null(j, "heap");
			json_kv_null(j, "backend");
			json_kv_null(j, "caps");
			json_kv_string(j, "error", dmk_strerror(ret));
		}
		json_key(j, "candidates");
		json_array_begin(j);
	}
	for (i = 0; i < rep.n; i++)
		emit_candidate(j, rep.c[i].name, rep.c[i].verdict,
			       rep.c[i].reason);
	dmk_heap_close(h);
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
}

static void print_text(const struct info *in)
{
	const char *status;
	char buf[256], sz[32];
	size_t i;
	int h;

	printf("dmakit %s\n", dmk_version());
	printf("kernel:     %s %s %s\n", in->uts.sysname, in->uts.release,
	       in->uts.machine);
	printf("page size:  %ld\n", in->page_size);

	status = heaps_status(in, buf, sizeof(buf));
	if (status) {
		printf("dma-heaps:  %s\n", status);
	} else {
		printf("dma-heaps: ");
		for (h = 0; h < in->heaps.count; h++)
			printf(" %s%s", in->heaps.names[h],
			       dmk_heap_is_contig_name(in->heaps.names[h]) ?
			       " (contig)" : "");
		printf("%s\n", in->heaps.truncated ? " ..." : "");
	}

	printf("\nbackends:\n");
	for (h = 0; h < in->heaps.count; h++)
		printf("  dma-heap %-16s %s\n", in->heaps.names[h],
		       probe_text(in->heap_probe[h], why_not_heap, buf,
				  sizeof(buf)));
	printf("  %-25s %s\n", "udmabuf",
	       probe_text(in->udmabuf_probe, why_not_udmabuf, buf,
			  sizeof(buf)));
	printf("  %-25s %s\n", "memfd",
	       probe_text(in->memfd_probe, why_not_memfd, buf, sizeof(buf)));

	if (in->limits_ret == 0)
		printf("\nudmabuf limits: size_limit %s (%" PRIu64 " bytes), "
		       "list_limit %u\n",
		       fmt_size(in->size_limit, sz, sizeof(sz)),
		       in->size_limit, in->list_limit);
	else if (in->udmabuf_probe > 0)
		printf("\nudmabuf limits: error: %s\n",
		       dmk_strerror(in->limits_ret));

	printf("\nauto choice (needs -> heap; then every candidate):\n");
	for (i = 0; i < ARRAY_SIZE(needs_cases); i++)
		auto_report(NULL, needs_cases[i].label,
			    needs_cases[i].needs);
}

static void json_probe(struct json *j, int ret, const char *why_not)
{
	char buf[256];

	json_object_begin(j);
	json_kv_string(j, "result", probe_text(ret, why_not, buf,
					       sizeof(buf)));
	json_kv_int(j, "value", ret);
	json_object_end(j);
}

static void print_json(const struct info *in)
{
	const char *status;
	struct json j;
	char buf[256];
	size_t i;
	int h;

	json_init(&j, stdout);
	json_object_begin(&j);
	json_kv_string(&j, "version", dmk_version());
	json_kv_int(&j, "page_size", in->page_size);

	json_key(&j, "kernel");
	json_object_begin(&j);
	json_kv_string(&j, "sysname", in->uts.sysname);
	json_kv_string(&j, "release", in->uts.release);
	json_kv_string(&j, "version", in->uts.version);
	json_kv_string(&j, "machine", in->uts.machine);
	json_object_end(&j);

	json_key(&j, "dma_heaps");
	json_object_begin(&j);
	json_kv_bool(&j, "dev_dma_heap", in->heap_dir);
	status = heaps_status(in, buf, sizeof(buf));
	json_kv_string(&j, "status", status ? status : "ok");
	json_kv_bool(&j, "truncated", in->heaps.truncated);
	json_key(&j, "names");
	json_array_begin(&j);
	for (h = 0; h < in->heaps.count; h++)
		json_string(&j, in->heaps.names[h]);
	json_array_end(&j);
	json_object_end(&j);

	json_key(&j, "probes");
	json_object_begin(&j);
	json_key(&j, "dma_heap");
	json_object_begin(&j);
	for (h = 0; h < in->heaps.count; h++) {
		json_key(&j, in->heaps.names[h]);
		json_probe(&j, in->heap_probe[h], why_not_heap);
	}
	json_object_end(&j);
	json_key(&j, "udmabuf");
	json_probe(&j, in->udmabuf_probe, why_not_udmabuf);
	json_key(&j, "memfd");
	json_probe(&j, in->memfd_probe, why_not_memfd);
	json_object_end(&j);

	json_key(&j, "udmabuf_limits");
	if (in->limits_ret == 0) {
		json_object_begin(&j);
		json_kv_uint(&j, "size_limit", in->size_limit);
		json_kv_uint(&j, "list_limit", in->list_limit);
		json_object_end(&j);
	} else {
		json_null(&j);
	}

	json_key(&j, "auto");
	json_array_begin(&j);
	for (i = 0; i < ARRAY_SIZE(needs_cases); i++)
		auto_report(&j, needs_cases[i].label,
			    needs_cases[i].needs);
	json_array_end(&j);

	json_object_end(&j);
	json_end(&j);
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct info in;
	bool json = false;
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			cmd_info_usage(stdout);
			return EXIT_OK;
		default:
			return tool_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		return tool_usage_err("unexpected argument '%s'", argv[optind]);

	info_collect(&in);
	if (json)
		print_json(&in);
	else
		print_text(&in);
	info_free(&in);
	if (fflush(stdout) || ferror(stdout)) {
		tool_err("writing output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
