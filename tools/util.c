// SPDX-License-Identifier: MIT
/* Helpers shared by the dmakit commands. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/dmakit.h>

#include "util.h"

static const char *cur_name = "dmakit";

void tool_set_name(const char *name)
{
	cur_name = name;
}

const char *tool_name(void)
{
	return cur_name;
}

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", cur_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_usage_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", cur_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s --help')\n", cur_name);
	return EXIT_USAGE;
}

int tool_bad_option(int ret, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	bool is_long = !strncmp(arg, "--", 2);
	int len = (int)strcspn(arg, "=");

	/*
	 * With opterr = 0 getopt_long() leaves optopt at the short option
	 * (or a long option's val) and the word it was parsing at
	 * argv[optind - 1].
	 */
	if (ret == ':') {
		if (is_long)
			return tool_usage_err("option '%.*s' needs an argument",
					      len, arg);
		return tool_usage_err("option '-%c' needs an argument",
				      optopt);
	}
	if (is_long || !optopt)
		return tool_usage_err("unknown option '%.*s'", len, arg);
	return tool_usage_err("unknown option '-%c'", optopt);
}

const char *tool_hint(const char *heap, int err)
{
	static char hint[160];
	struct stat st;

	if (err > 0)
		err = -err;
	if (!heap)
		heap = "";
	if (!strcmp(heap, "udmabuf")) {
		switch (err) {
		case -ENOENT:
			return "no /dev/udmabuf: "
			       "kernel built without CONFIG_UDMABUF?";
		case -EACCES:
		case -EPERM:
			return "no permission to open /dev/udmabuf";
		case -E2BIG:
		case -EINVAL:
			return "larger than udmabuf's size_limit_mb? "
			       "see 'dmakit info'";
		}
		return NULL;
	}
	if (!strcmp(heap, "memfd")) {
		switch (err) {
		case -ENOSYS:
			return "kernel without memfd_create";
		case -EFBIG:
		case -ENOMEM:
			return "more memory than this machine can give";
		}
		return NULL;
	}
	if (!strcmp(heap, "auto")) {
		if (err == -ENOTSUP)
			return "no backend here offers what --needs asks; "
			       "'dmakit info' shows why";
		if (err == -ENOMEM || err == -EFBIG)
			return "more memory than this machine can give";
		return NULL;
	}
	/* A dma-heap name. */
	switch (err) {
	case -ENOENT:
		if (stat("/dev/dma_heap", &st) && !strcmp(heap, "system"))
			return "no /dev/dma_heap: "
			       "kernel built without CONFIG_DMABUF_HEAPS?";
		if (stat("/dev/dma_heap", &st)) {
			snprintf(hint, sizeof(hint),
				 "not auto, memfd or udmabuf, and no "
				 "/dev/dma_heap/%.64s: this kernel has no "
				 "dma-heaps (CONFIG_DMABUF_HEAPS)", heap);
			return hint;
		}
		snprintf(hint, sizeof(hint), "no /dev/dma_heap/%.64s; "
			 "'dmakit info' lists the heaps", heap);
		return hint;
	case -EACCES:
	case -EPERM:
		snprintf(hint, sizeof(hint),
			 "no permission to open /dev/dma_heap/%.64s", heap);
		return hint;
	case -EINVAL:
		return "not a valid heap name";
	case -ENOMEM:
		return "more memory than this heap can give";
	}
	return NULL;
}

unsigned int heap_static_caps(const char *name)
{
	if (!strcmp(name, DMK_HEAP_MEMFD))
		return DMK_CAP_PINNABLE;
	if (!strcmp(name, DMK_HEAP_UDMABUF))
		return DMK_CAP_DMABUF | DMK_CAP_PINNABLE;
	return DMK_CAP_DMABUF |
	       (dmk_heap_is_contig_name(name) ? DMK_CAP_CONTIG : 0);
}

int mem_available(uint64_t *bytes)
{
	char text[4096], *p;
	unsigned long long kb;
	ssize_t n;

	n = read_text("/proc/meminfo", text, sizeof(text));
	if (n < 0)
		return (int)n;
	p = strstr(text, "MemAvailable:");
	if (!p || sscanf(p, "MemAvailable: %llu kB", &kb) != 1)
		return -ENOENT;
	*bytes = (uint64_t)kb << 10;
	return 0;
}

/* ---- parsing ---- */

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	const char *u;
	uint64_t v = 0;
	unsigned int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -ERANGE;
	}
	if (*s) {
		u = strchr(units, *s >= 'a' ? *s - 'a' + 'A' : *s);
		if (u && *s) {
			shift = 10 * (unsigned int)(u - units + 1);
			s++;
			if (!strcmp(s, "iB") || !strcmp(s, "ib") ||
			    !strcmp(s, "B") || !strcmp(s, "b"))
				s += strlen(s);
		} else if (!strcmp(s, "B") || !strcmp(s, "b")) {
			s++;
		}
	}
	if (*s)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -ERANGE;
	}
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "inf") || !strcmp(s, "forever")) {
		*out = INFINITY;
		return 0;
	}
	/* strtod takes "nan", hex and exponents; keep to plain decimals. */
	if (!*s || strspn(s, "0123456789.") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int list_next(const char **cursor, char *item, size_t len)
{
	const char *p = *cursor, *comma;
	size_t n;

	if (!p || !*p)
		return 0;
	comma = strchr(p, ',');
	n = comma ? (size_t)(comma - p) : strlen(p);
	*cursor = comma ? comma + 1 : p + n;
	if (n == 0)
		return -EINVAL;
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(item, p, n);
	item[n] = '\0';
	return 1;
}

const char *fmt_size(uint64_t size, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	unsigned int i;

	for (i = ARRAY_SIZE(units) - 1; i > 0; i--) {
		uint64_t unit = 1ULL << (10 * i);

		if (size >= unit && size % unit == 0) {
			snprintf(buf, len, "%llu%c",
				 (unsigned long long)(size / unit),
				 units[i - 1]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)size);
	return buf;
}

static const struct {
	const char *name;
	unsigned int bit;
} cap_names[] = {
	{ "dmabuf", DMK_CAP_DMABUF },
	{ "pinnable", DMK_CAP_PINNABLE },
	{ "contig", DMK_CAP_CONTIG },
};

const char *fmt_caps(unsigned int caps, char *buf, size_t len)
{
	size_t i, off = 0;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(cap_names); i++) {
		if (!(caps & cap_names[i].bit))
			continue;
		caps &= ~cap_names[i].bit;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					"%s%s", off ? "," : "",
					cap_names[i].name);
	}
	if (caps)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					"%s0x%x", off ? "," : "", caps);
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

int parse_caps(const char *s, unsigned int *caps)
{
	const char *cur = s;
	unsigned int bits = 0;
	char item[32];
	size_t i;
	int ret;

	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "none")) {
		*caps = 0;
		return 0;
	}
	while ((ret = list_next(&cur, item, sizeof(item))) > 0) {
		for (i = 0; i < ARRAY_SIZE(cap_names); i++)
			if (!strcmp(item, cap_names[i].name))
				break;
		if (i == ARRAY_SIZE(cap_names))
			return -EINVAL;
		bits |= cap_names[i].bit;
	}
	if (ret < 0)
		return -EINVAL;
	*caps = bits;
	return 0;
}

/* ---- time ---- */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void stats_compute(uint64_t *ns, size_t n, struct stats *st)
{
	long double sum = 0;
	size_t i, rank;

	memset(st, 0, sizeof(*st));
	st->n = n;
	if (!n)
		return;
	qsort(ns, n, sizeof(*ns), cmp_u64);
	for (i = 0; i < n; i++)
		sum += ns[i];
	st->min_us = ns[0] / 1e3;
	st->max_us = ns[n - 1] / 1e3;
	st->mean_us = (double)(sum / n) / 1e3;
	if (n % 2)
		st->median_us = ns[n / 2] / 1e3;
	else
		st->median_us = (ns[n / 2 - 1] + ns[n / 2]) / 2e3;
	/* Nearest rank: the smallest value with 99% of the sample at or below. */
	rank = (n * 99 + 99) / 100;
	st->p99_us = ns[rank - 1] / 1e3;
}

/* ---- files ---- */

ssize_t read_text(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (err)
		return err;
	buf[off] = '\0';
	return (ssize_t)off;
}

/* ---- JSON ---- */

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

static void json_indent(struct json *j)
{
	int i;

	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Separator and indentation before a value or a key. */
static void json_pre(struct json *j)
{
	if (j->key) {
		j->key = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->depth)
		json_indent(j);
}

void json_key(struct json *j, const char *key)
{
	json_pre(j);
	json_write_string(j->f, key);
	fputs(": ", j->f);
	j->key = true;
}

static void json_open(struct json *j, char c)
{
	json_pre(j);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->first[j->depth] = true;
}

static void json_close(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth)
		j->depth--;
	if (!empty)
		json_indent(j);
	fputc(c, j->f);
}

void json_object_begin(struct json *j)
{
	json_open(j, '{');
}

void json_object_end(struct json *j)
{
	json_close(j, '}');
}

void json_array_begin(struct json *j)
{
	json_open(j, '[');
}

void json_array_end(struct json *j)
{
	json_close(j, ']');
}

/*
 * Length of the valid UTF-8 sequence at @s, or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included).
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned int c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;		/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;		/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;		/* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;		/* past U+10FFFF */
		return 4;
	}
	return 0;
}

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	fputc('"', f);
	while (s && *s) {
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n - 1;
		}
		s++;
	}
	fputc('"', f);
}

void json_string(struct json *j, const char *s)
{
	json_pre(j);
	if (s)
		json_write_string(j->f, s);
	else
		fputs("null", j->f);
}

void json_int(struct json *j, long long v)
{
	json_pre(j);
	fprintf(j->f, "%lld", v);
}

void json_uint(struct json *j, unsigned long long v)
{
	json_pre(j);
	fprintf(j->f, "%llu", v);
}

void json_double(struct json *j, double v)
{
	json_pre(j);
	if (isfinite(v))
		fprintf(j->f, "%.3f", v);
	else
		fputs("null", j->f);
}

void json_bool(struct json *j, bool v)
{
	json_pre(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	json_pre(j);
	fputs("null", j->f);
}

void json_kv_string(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_kv_int(struct json *j, const char *key, long long v)
{
	json_key(j, key);
	json_int(j, v);
}

void json_kv_uint(struct json *j, const char *key, unsigned long long v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kv_double(struct json *j, const char *key, double v)
{
	json_key(j, key);
	json_double(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}

void json_kv_null(struct json *j, const char *key)
{
	json_key(j, key);
	json_null(j);
}
