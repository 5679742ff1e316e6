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
 * One candidate of a choice report, from the library or reconstructed:
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

/*
 * When dmk_heap_open("auto") fails there is no heap to ask for its report,
 * so rebuild one in the ladder's order (memfd, system, udmabuf, CMA heaps,
 * then any other heap): open every backend by name with the same needs
 * and say what each answered.
 */
static void reconstruct_report(struct json *j, const struct info *in,
			       unsigned int needs)
{
	DMK_OPTS(dmk_heap_opts, opts, .needs = needs);
	const char *names[MAX_HEAPS + 3];
	char reason[256], c1[64], c2[64];
	struct dmk_heap *h;
	bool have_cma = false;
	const char *hint;
	int i, k, n = 0, ret;

	names[n++] = DMK_HEAP_MEMFD;
	names[n++] = "system";
	names[n++] = DMK_HEAP_UDMABUF;
	for (k = 0; k < 2; k++) {
		/* First the CMA heaps, then the others. */
		for (i = 0; i < in->heaps.count; i++) {
			const char *hn = in->heaps.names[i];

			if (!strcmp(hn, "system") ||
			    dmk_heap_is_contig_name(hn) != !k)
				continue;
			names[n++] = hn;
			have_cma |= k == 0;
		}
	}
	for (i = 0; i < n; i++) {
		ret = dmk_heap_open(names[i], &opts, &h);
		if (ret == 0) {
			/* Should not happen when auto failed; say so. */
			emit_candidate(j, names[i], 0, "opens by name with "
				       "these needs, but auto passed it over");
			dmk_heap_close(h);
			continue;
		}
		if (ret == -ENOTSUP) {
			unsigned int has = heap_static_caps(names[i]);

			snprintf(reason, sizeof(reason), "offers %s, not %s",
				 fmt_caps(has, c1, sizeof(c1)),
				 fmt_caps(needs & ~has, c2, sizeof(c2)));
			emit_candidate(j, names[i], 0, reason);
			continue;
		}
		hint = tool_hint(names[i], ret);
		snprintf(reason, sizeof(reason), "%s%s%s%s", dmk_strerror(ret),
			 hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		emit_candidate(j, names[i], ret, reason);
	}
	if (!have_cma && (needs & DMK_CAP_CONTIG))
		emit_candidate(j, "cma", -ENOENT, in->heap_dir ?
			       "no CMA heap in /dev/dma_heap" :
			       "no CMA heap: no /dev/dma_heap (kernel without "
			       "CONFIG_DMABUF_HEAPS)");
}

/* The "auto" choice for one set of needs, with the candidate report. */
static void auto_report(struct json *j, const struct info *in,
			const char *label, unsigned int needs)
{
	DMK_OPTS(dmk_heap_opts, opts, .needs = needs);
	const char *name, *reason;
	struct dmk_heap *h = NULL;
	char caps[64];
	int ret, count, verdict, i;

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
		json_kv_bool(j, "report_reconstructed", ret != 0);
		json_key(j, "candidates");
		json_array_begin(j);
	}

	if (ret == 0) {
		count = dmk_heap_candidate(h, UINT32_MAX, NULL, NULL, NULL);
		for (i = 0; i < count; i++) {
			name = reason = NULL;
			verdict = 0;
			dmk_heap_candidate(h, (unsigned int)i, &name, &verdict,
					   &reason);
			emit_candidate(j, name, verdict, reason);
		}
		dmk_heap_close(h);
	} else {
		if (!j)
			printf("      (auto failed, so the library gives no "
			       "report; each backend opened by name:)\n");
		reconstruct_report(j, in, needs);
	}

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
		auto_report(NULL, in, needs_cases[i].label,
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
		auto_report(&j, in, needs_cases[i].label,
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
