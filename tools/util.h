/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the dmakit commands: errors and exit codes, option
 * parsing, a small JSON writer, sizes and times.
 */
#ifndef DMAKIT_TOOLS_UTIL_H
#define DMAKIT_TOOLS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit status of every command. */
enum {
	EXIT_OK = 0,		/* did what was asked */
	EXIT_FAIL = 1,		/* runtime failure: the machine said no */
	EXIT_USAGE = 2,		/* bad command line */
};

/*
 * A command: @run gets argv with argv[0] the command's own name and returns
 * an exit status.  @usage prints the command's --help text.
 */
struct tool_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *f);
};

int cmd_info(int argc, char **argv);
void cmd_info_usage(FILE *f);
int cmd_alloc(int argc, char **argv);
void cmd_alloc_usage(FILE *f);
int cmd_bench(int argc, char **argv);
void cmd_bench_usage(FILE *f);
int cmd_top(int argc, char **argv);
void cmd_top_usage(FILE *f);
int cmd_stream(int argc, char **argv);
void cmd_stream_usage(FILE *f);
int cmd_serve(int argc, char **argv);
void cmd_serve_usage(FILE *f);
int cmd_attach(int argc, char **argv);
void cmd_attach_usage(FILE *f);
int cmd_clip(int argc, char **argv);
void cmd_clip_usage(FILE *f);
int cmd_detect(int argc, char **argv);
void cmd_detect_usage(FILE *f);

/*
 * A --cascade argument: "lbp" (OpenCV's improved LBP frontal face model),
 * "haar" (its Haar frontalface_default), or a path, returned as is.
 */
const char *detect_cascade_path(const char *arg);

/*
 * The detector's options, shared by `dmakit detect` and `bench detect`:
 * DETECT_LONGOPTS in their getopt tables, detect_opt() in their switch,
 * detect_opts_check() after the loop.
 */
enum {
	OPT_DET_CASCADE = 0x1000, OPT_DET_SCALE, OPT_DET_NEIGHBORS,
	OPT_DET_MIN_SIZE, OPT_DET_MAX_SIZE,
};
#define DETECT_LONGOPTS							\
	{ "cascade", required_argument, NULL, OPT_DET_CASCADE },	\
	{ "scale", required_argument, NULL, OPT_DET_SCALE },		\
	{ "min-neighbors", required_argument, NULL, OPT_DET_NEIGHBORS }, \
	{ "min-size", required_argument, NULL, OPT_DET_MIN_SIZE },	\
	{ "max-size", required_argument, NULL, OPT_DET_MAX_SIZE }

struct dmk_detect_params;

/* Option @c with @arg into @cascade / @p: 0 done, -1 not a detector
 * option, EXIT_USAGE after saying what was wrong. */
int detect_opt(int c, const char *arg, const char **cascade,
	       struct dmk_detect_params *p);

/* The options together: 0, or EXIT_USAGE after saying why. */
int detect_opts_check(const struct dmk_detect_params *p);
int cmd_pipeline(int argc, char **argv);
void cmd_pipeline_usage(FILE *f);

/* Benchmarks registered in cmd_bench.c's benches[], defined elsewhere. */
int bench_stream(int argc, char **argv);
void bench_stream_usage(FILE *f);
int bench_handoff(int argc, char **argv);
void bench_handoff_usage(FILE *f);
int bench_vk(int argc, char **argv);
void bench_vk_usage(FILE *f);
int bench_vkread(int argc, char **argv);
void bench_vkread_usage(FILE *f);
int bench_detect(int argc, char **argv);
void bench_detect_usage(FILE *f);

/*
 * The name errors are reported under, "dmakit alloc" and the like; set
 * by the dispatcher before a command runs.
 */
void tool_set_name(const char *name);
const char *tool_name(void);

/* "<tool name>: <message>\n" on stderr. */
__attribute__((format(printf, 1, 2)))
void tool_err(const char *fmt, ...);

/*
 * A usage error: the message, then a hint to --help, on one line.
 * Returns EXIT_USAGE so callers can `return tool_usage_err(...)`.
 */
__attribute__((format(printf, 1, 2)))
int tool_usage_err(const char *fmt, ...);

/*
 * Report the option getopt_long() refused (it returned '?' or ':' with
 * opterr = 0 and a leading ':' in its optstring).  Returns EXIT_USAGE.
 */
int tool_bad_option(int ret, int argc, char **argv);

/*
 * The hint for an error from a backend, or NULL: what a missing device
 * node or an unsupported need usually means on a Linux machine.
 * @heap: the heap name the error came from ("udmabuf", "system", ...).
 */
const char *tool_hint(const char *heap, int err);

/*
 * What a backend of this name offers, as heap.h documents it: memfd
 * pinnable; udmabuf dmabuf+pinnable; a dma-heap dmabuf (+contig for a CMA
 * heap).
 */
unsigned int heap_static_caps(const char *name);

/* MemAvailable from /proc/meminfo, in bytes; -errno. */
int mem_available(uint64_t *bytes);

/* ---- parsing ---- */

/*
 * A size: decimal digits with an optional binary suffix K, M, G, T, P, E
 * (also KiB, MiB, ... and lower case), e.g. "4096", "4K", "8M", "1G".
 * Return: 0, -EINVAL (not a size), -ERANGE (does not fit in 64 bits).
 */
int parse_size(const char *s, uint64_t *out);

/* An unsigned decimal in [min, max]; -EINVAL or -ERANGE. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Seconds as a non-negative decimal ("2", "0.5") or "inf" (-> INFINITY). */
int parse_seconds(const char *s, double *out);

/*
 * Walk a comma-separated list: returns the next item in @item (at most
 * @len - 1 bytes) and advances *@cursor; 0 at the end, 1 for an item,
 * -ENAMETOOLONG for an item that does not fit, -EINVAL for an empty item.
 */
int list_next(const char **cursor, char *item, size_t len);

/* "4K", "1M", "1.5M" (exact when possible), written to @buf. */
const char *fmt_size(uint64_t size, char *buf, size_t len);

/* DMK_CAP_* bits as "dmabuf,pinnable", or "none". */
const char *fmt_caps(unsigned int caps, char *buf, size_t len);

/* "dmabuf,pinnable,contig" (or "none") to DMK_CAP_* bits; -EINVAL. */
int parse_caps(const char *s, unsigned int *caps);

/* ---- time ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* Summary of a sample of durations in nanoseconds. */
struct stats {
	size_t n;
	double min_us, median_us, p99_us, mean_us, max_us;
};

/* Sorts @ns in place. */
void stats_compute(uint64_t *ns, size_t n, struct stats *st);

/* ---- files ---- */

/*
 * Read a small text file (procfs) into @buf, NUL-terminated, truncated to
 * @len - 1 bytes.  Return: bytes read or -errno.
 */
ssize_t read_text(const char *path, char *buf, size_t len);

/* ---- JSON ---- */

#define JSON_MAX_DEPTH 16

/*
 * A streaming JSON writer with two-space indentation.  Strings are escaped
 * as RFC 8259 asks: quote, backslash and control characters, and bytes that
 * are not valid UTF-8 become U+FFFD so the output always parses.  Nesting
 * mistakes are the caller's bug; the writer does not check them beyond
 * JSON_MAX_DEPTH.
 */
struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH];	/* no member written yet at depth */
	bool key;			/* a key was written, value is next */
};

void json_init(struct json *j, FILE *f);
/* Finish the document with a newline. */
void json_end(struct json *j);

void json_key(struct json *j, const char *key);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_string(struct json *j, const char *s);
void json_int(struct json *j, long long v);
void json_uint(struct json *j, unsigned long long v);
/* Non-finite values are written as null (JSON has no NaN). */
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* Key and value in one call, inside an object. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, long long v);
void json_kv_uint(struct json *j, const char *key, unsigned long long v);
void json_kv_double(struct json *j, const char *key, double v);
void json_kv_bool(struct json *j, const char *key, bool v);
void json_kv_null(struct json *j, const char *key);

/* Write @s as a quoted, escaped JSON string to @f (no writer state). */
void json_write_string(FILE *f, const char *s);

#endif /* DMAKIT_TOOLS_UTIL_H */
