// SPDX-License-Identifier: MIT
/*
 * Cascade loading (the Debian models, and every way a file can be wrong)
 * and the CPU detector against OpenCV 4.6 itself: tests/opencv_detect.py
 * runs cv2 on the same gray pixels (PGMs it writes), and the boxes are
 * compared here.  Tests that need /usr/bin/python3 with cv2, opencv-data
 * or matplotlib's sample photo skip without them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/detect.h>

#include "detect_internal.h"
#include "helpers.h"

extern char **environ;

#define PYTHON ((char *)dmk_test_python())
#define SCRIPT "tests/opencv_detect.py"
#define CASCADES "/usr/share/opencv4"
#define LBP_XML CASCADES "/lbpcascades/lbpcascade_frontalface_improved.xml"
#define HAAR_XML CASCADES "/haarcascades/haarcascade_frontalface_default.xml"
#define OLD_XML \
	CASCADES "/haarcascades/haarcascade_licence_plate_rus_16stages.xml"
#define GRACE "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
#define MAX_IMAGES 256
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_BOXES 4096

/* ---- logging: the last message the library gave ---- */

static char last_log[512];

static void log_cb(enum dmk_log_level level, const char *fmt, va_list ap,
		   void *user)
{
	(void)level;
	(void)user;
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
}

static void log_init(void)
{
	last_log[0] = '\0';
	dmk_set_log(log_cb, NULL, DMK_LOG_DEBUG);
}

/* ---- a scratch directory per test, removed by the fini fixture ---- */

static char tmpdir[64];

static void tmp_init(void)
{
	log_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dmk-detect-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void tmp_fini(void)
{
	struct dirent *de;
	DIR *d;

	if (!tmpdir[0])
		return;
	d = opendir(tmpdir);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	while (off < len) {
		ssize_t r = write(fd, (const char *)data + off, len - off);

		cr_assert_gt(r, 0, "write %s: %s", path, strerror(errno));
		off += (size_t)r;
	}
	close(fd);
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* ---- the OpenCV side ---- */

static const char *script(void)
{
	return dmk_test_srcfile(SCRIPT);
}

/* Skip (or fail under DMK_TEST_REQUIRE_ALL) without cv2 and the data. */
static void require_opencv(void)
{
	char *argv[] = { PYTHON, (char *)script(), "check", NULL };

	dmk_test_require(!access(PYTHON, X_OK) ? 1 : 0,
			 "no python with cv2 (/usr/bin/python3 or $DMK_PYTHON)");
	dmk_test_require(!access(script(), R_OK) ? 1 : 0,
			 "cannot find " SCRIPT " (set DMK_SRCDIR)");
	dmk_test_require(dmk_test_run(argv, NULL) == 0 ? 1 : 0,
			 "no cv2 in the python (python3-opencv)");
	dmk_test_require(!access(LBP_XML, R_OK) && !access(HAAR_XML, R_OK) ?
			 1 : 0, "no face cascades (opencv-data)");
	dmk_test_require(!access(GRACE, R_OK) ? 1 : 0,
			 "no " GRACE " (python-matplotlib-data)");
}

static void require_cascades(void)
{
	dmk_test_require(!access(LBP_XML, R_OK) && !access(HAAR_XML, R_OK) ?
			 1 : 0, "no face cascades (opencv-data)");
}

/*
 * Gray PGMs of the test photos (and synthetic ones); returns how many.
 * The photos: matplotlib's, and those in $DMK_TEST_IMAGES (default
 * build/test-images, where tests/data/fetch-images.sh puts them; set but
 * empty: none, e.g. for a slow emulated machine).
 */
static size_t prepare(char **paths, size_t max, char **text)
{
	const char *dir = getenv("DMK_TEST_IMAGES");
	char *argv[] = { PYTHON, (char *)script(), "prepare", tmpdir, GRACE,
			 (char *)(dir ? dir : "build/test-images"), NULL };
	char *save, *line;
	size_t n = 0;

	cr_assert_neq(tmpdir[0], '\0', "no scratch directory");
	if (dir && !*dir)
		argv[5] = NULL;
	cr_assert_eq(dmk_test_run(argv, text), 0, "opencv_detect.py prepare failed");
	for (line = strtok_r(*text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save))
		paths[n++] = line;
	cr_assert_geq(n, 5, "prepare wrote %zu images", n);
	return n;
}

struct image {
	uint32_t w, h;
	uint8_t *px;
};

static void read_pgm(const char *path, struct image *img)
{
	size_t len, hdr;
	char *buf = read_text(path, &len);
	unsigned int w, h, maxval;
	int used = 0;

	cr_assert_eq(sscanf(buf, "P5 %u %u %u%n", &w, &h, &maxval, &used), 3,
		     "%s: not a binary PGM", path);
	hdr = (size_t)used + 1;
	cr_assert_eq(maxval, 255);
	cr_assert_geq(len, hdr + (size_t)w * h, "%s: short", path);
	img->w = w;
	img->h = h;
	img->px = malloc((size_t)w * h);
	cr_assert_not_null(img->px);
	memcpy(img->px, buf + hdr, (size_t)w * h);
	free(buf);
}

static void write_pgm(const char *path, const uint8_t *px, uint32_t w,
		      uint32_t h)
{
	size_t hl, len = (size_t)w * h;
	char *buf = malloc(len + 64);

	cr_assert_not_null(buf);
	hl = (size_t)sprintf(buf, "P5\n%u %u\n255\n", w, h);
	memcpy(buf + hl, px, len);
	write_file(path, buf, hl + len);
	free(buf);
}

struct result {
	char *image;
	double ms;
	struct dmk_rect *boxes;
	size_t n;
};

/* One JSON line of opencv_detect.py detect (its fixed shape only). */
static void parse_result(char *line, struct result *r)
{
	char *p = strstr(line, "\"image\": \""), *e;

	cr_assert_not_null(p, "bad line: %.80s", line);
	r->image = p + 10;
	e = strchr(r->image, '"');
	cr_assert_not_null(e);
	*e = '\0';
	p = strstr(e + 1, "\"ms\": ");
	cr_assert_not_null(p);
	r->ms = strtod(p + 6, NULL);
	p = strstr(p, "\"boxes\": [");
	cr_assert_not_null(p);
	p += 10;
	r->n = 0;
	r->boxes = calloc(MAX_BOXES, sizeof(*r->boxes));
	cr_assert_not_null(r->boxes);
	for (;;) {
		int32_t v[4];
		int i;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			break;
		cr_assert_eq(*p, '[', "bad boxes: %.40s", p);
		p++;
		for (i = 0; i < 4; i++) {
			v[i] = (int32_t)strtol(p, &e, 10);
			cr_assert_neq(e, p, "bad box: %.40s", p);
			p = e;
			while (*p == ' ' || *p == ',')
				p++;
		}
		cr_assert_eq(*p, ']');
		p++;
		cr_assert_lt(r->n, MAX_BOXES);
		r->boxes[r->n++] = (struct dmk_rect){ v[0], v[1], v[2], v[3] };
	}
}

/* opencv_detect.py detect on @paths; one result each, in order. */
static void opencv_detect(const char *cascade, double scale, int neigh,
			  uint32_t minsz, uint32_t maxsz, char **paths,
			  size_t n, struct result *res, char **text)
{
	char sc[32], nb[16], mn[16], mx[16], *argv[MAX_IMAGES + 12];
	char *save, *line;
	size_t i, k = 0;

	snprintf(sc, sizeof(sc), "%.17g", scale);
	snprintf(nb, sizeof(nb), "%d", neigh);
	snprintf(mn, sizeof(mn), "%u", minsz);
	snprintf(mx, sizeof(mx), "%u", maxsz);
	argv[k++] = PYTHON;
	argv[k++] = (char *)script();
	argv[k++] = "detect";
	argv[k++] = (char *)cascade;
	argv[k++] = sc;
	argv[k++] = nb;
	argv[k++] = mn;
	argv[k++] = mn;
	argv[k++] = mx;
	argv[k++] = mx;
	for (i = 0; i < n; i++)
		argv[k++] = paths[i];
	argv[k] = NULL;
	cr_assert_eq(dmk_test_run(argv, text), 0, "opencv_detect.py detect failed");
	line = strtok_r(*text, "\n", &save);
	for (i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
		cr_assert_not_null(line, "no result for %s", paths[i]);
		parse_result(line, &res[i]);
		cr_assert_str_eq(res[i].image, paths[i]);
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double iou(const struct dmk_rect *a, const struct dmk_rect *b)
{
	int64_t x1 = a->x > b->x ? a->x : b->x, y1 = a->y > b->y ? a->y : b->y;
	int64_t x2 = (int64_t)a->x + a->w < (int64_t)b->x + b->w ?
		     (int64_t)a->x + a->w : (int64_t)b->x + b->w;
	int64_t y2 = (int64_t)a->y + a->h < (int64_t)b->y + b->h ?
		     (int64_t)a->y + a->h : (int64_t)b->y + b->h;
	int64_t inter = x2 > x1 && y2 > y1 ? (x2 - x1) * (y2 - y1) : 0;
	int64_t uni = (int64_t)a->w * a->h + (int64_t)b->w * b->h - inter;

	return uni > 0 ? (double)inter / (double)uni : 0;
}

/* OpenCV's boxes that one of ours matches (IoU >= 0.5, one to one). */
static size_t match(const struct dmk_rect *cv, size_t ncv,
		    const struct dmk_rect *ours, size_t nours)
{
	bool used[MAX_BOXES] = { false };
	size_t i, j, matched = 0;

	for (i = 0; i < ncv; i++) {
		double best = 0.5;
		size_t bj = SIZE_MAX;

		for (j = 0; j < nours; j++)
			if (!used[j] && iou(&cv[i], &ours[j]) >= best) {
				best = iou(&cv[i], &ours[j]);
				bj = j;
			}
		if (bj != SIZE_MAX) {
			used[bj] = true;
			matched++;
		}
	}
	return matched;
}

static int rect_cmp(const void *a, const void *b)
{
	const struct dmk_rect *x = a, *y = b;

	if (x->x != y->x)
		return x->x < y->x ? -1 : 1;
	if (x->y != y->y)
		return x->y < y->y ? -1 : 1;
	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return x->h < y->h ? -1 : x->h > y->h;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * Both detectors on every prepared image.  @exact: the boxes must be the
 * same (as sets; OpenCV's order depends on its threads); otherwise the
 * contract: >= 95% of OpenCV's boxes matched, <= 5% more of ours.
 */
static void agree(const char *cascade, double scale, int neigh,
		  uint32_t minsz, uint32_t maxsz, bool exact, size_t only_first)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = scale,
		 .min_neighbors = neigh, .min_w = minsz, .min_h = minsz,
		 .max_w = maxsz, .max_h = maxsz);
	char *paths[MAX_IMAGES], *ptext, *dtext;
	struct result res[MAX_IMAGES];
	size_t n, i, tot_cv = 0, tot_ours = 0, tot_match = 0, tot_diff = 0;
	double t_cv = 0, t_ours = 0;
	struct dmk_cascade *c;
	struct dmk_rect *ours;
	size_t replen = 0;
	char *report;
	FILE *rep;
	int ret;

	require_opencv();
	n = prepare(paths, MAX_IMAGES, &ptext);
	if (only_first && n > only_first)
		n = only_first;
	opencv_detect(cascade, scale, neigh, minsz, maxsz, paths, n, res,
		      &dtext);
	ret = dmk_cascade_load(cascade, &c);
	cr_assert_eq(ret, 0, "load %s: %s", cascade, strerror(-ret));
	ours = calloc(MAX_BOXES, sizeof(*ours));
	cr_assert_not_null(ours);

	/* One block, not interleaved with the tests running beside. */
	rep = open_memstream(&report, &replen);
	cr_assert_not_null(rep);
	fprintf(rep, "detect %s scale %.2f neighbors %d min %u max %u:\n",
		base(cascade), scale, neigh, minsz, maxsz);
	for (i = 0; i < n; i++) {
		struct image img;
		size_t got, m;
		double t;

		read_pgm(paths[i], &img);
		t = now_ms();
		ret = dmk_detect_cpu(c, img.px, img.w, img.h, img.w, &p, ours,
				     MAX_BOXES, &got);
		t = now_ms() - t;
		cr_assert_eq(ret, 0, "%s: %s", paths[i], strerror(-ret));
		cr_assert_leq(got, MAX_BOXES);
		m = match(res[i].boxes, res[i].n, ours, got);
		fprintf(rep, "  %-34s %4ux%-4u opencv %3zu ours %3zu matched "
			"%3zu extra %3zu | opencv %7.1f ms, ours %7.1f ms\n",
			base(paths[i]), img.w, img.h, res[i].n, got, m,
			got - m, res[i].ms, t);
		if (exact) {
			qsort(ours, got, sizeof(*ours), rect_cmp);
			qsort(res[i].boxes, res[i].n, sizeof(*ours), rect_cmp);
			if (got != res[i].n ||
			    memcmp(ours, res[i].boxes, got * sizeof(*ours)))
				tot_diff++;
		}
		tot_cv += res[i].n;
		tot_ours += got;
		tot_match += m;
		t_cv += res[i].ms;
		t_ours += t;
		free(img.px);
		free(res[i].boxes);
	}
	fprintf(rep, "  total: opencv %zu boxes, ours %zu, matched %.1f%%, "
		"extra %.1f%%; %zu images, opencv %.1f ms, ours %.1f ms\n",
		tot_cv, tot_ours, tot_cv ? 100.0 * tot_match / tot_cv : 100.0,
		tot_cv ? 100.0 * (tot_ours - tot_match) / tot_cv : 0.0, n,
		t_cv, t_ours);
	fclose(rep);
	fputs(report, stderr);
	free(report);
	free(ours);
	free(ptext);
	free(dtext);
	dmk_cascade_free(c);

	cr_assert_gt(tot_cv, 0, "OpenCV found nothing: a useless comparison");
	if (exact)
		cr_assert_eq(tot_diff, 0, "%zu images whose candidates differ "
			     "from OpenCV's", tot_diff);
	cr_assert_geq(tot_match * 100, tot_cv * 95, "only %zu of OpenCV's "
		      "%zu boxes matched", tot_match, tot_cv);
	cr_assert_leq((tot_ours - tot_match) * 100, tot_cv * 5, "%zu extra "
		      "boxes for OpenCV's %zu", tot_ours - tot_match, tot_cv);
}

/* ---- loading ---- */

static void check_model(const struct dmk_cascade *c)
{
	uint32_t i, nweaks = 0;

	for (i = 0; i < c->nstages; i++) {
		cr_assert_eq((uint32_t)c->stages[i].first, nweaks);
		nweaks += (uint32_t)c->stages[i].count;
	}
	cr_assert_eq(nweaks, c->nweaks);
	for (i = 0; i < c->nnodes; i++)
		cr_assert_lt((uint32_t)c->nodes[i].feature, c->nfeatures);
	for (i = 0; i < c->nweaks; i++)
		cr_assert_eq((uint32_t)(c->weaks[i].first_leaf -
					c->weaks[i].first_node), i);
}

DMK_TEST(detect, load_lbp, .init = log_init)
{
	struct dmk_cascade *c = NULL;
	uint32_t w, h;
	int ret;

	require_cascades();
	ret = dmk_cascade_load(LBP_XML, &c);
	cr_assert_eq(ret, 0, "%s: %s (%s)", LBP_XML, strerror(-ret), last_log);
	cr_assert_eq(dmk_cascade_kind(c), DMK_CASCADE_LBP);
	dmk_cascade_window(c, &w, &h);
	cr_assert_eq(w, 45);
	cr_assert_eq(h, 45);
	cr_assert_eq(c->nstages, 19);
	cr_assert_eq(c->nfeatures, 142);
	cr_assert(c->stump_based);
	cr_assert_eq(c->nnodes, c->nweaks);
	cr_assert_eq(c->nleaves, 2 * c->nweaks);
	cr_assert_not_null(c->subsets);
	/* Stage 0's first stump: "0 -1 26 -1 -1 -17409 ...", leaves. */
	cr_assert_eq(c->stages[0].count, 6);
	cr_assert_eq(c->stumps[0].feature, 26);
	cr_assert_eq(c->subsets[2], -17409);
	cr_assert_float_eq(c->stumps[0].left, -9.9726462364196777e-01f, 1e-7);
	cr_assert_float_eq(c->stages[0].threshold,
			   -4.1617846488952637f - 1e-5f, 1e-7);
	check_model(c);
	dmk_cascade_free(c);
}

DMK_TEST(detect, load_haar, .init = log_init)
{
	struct dmk_cascade *c = NULL;
	uint32_t w, h;
	int ret;

	require_cascades();
	ret = dmk_cascade_load(HAAR_XML, &c);
	cr_assert_eq(ret, 0, "%s: %s (%s)", HAAR_XML, strerror(-ret),
		     last_log);
	cr_assert_eq(dmk_cascade_kind(c), DMK_CASCADE_HAAR);
	dmk_cascade_window(c, &w, &h);
	cr_assert_eq(w, 24);
	cr_assert_eq(h, 24);
	cr_assert_eq(c->nstages, 25);
	cr_assert_eq(c->nfeatures, 2913);
	cr_assert(c->stump_based);
	cr_assert_null(c->subsets);
	/* Feature 0: "6 4 12 9 -1." and "6 7 12 3 3.". */
	cr_assert_eq(c->haar[0].nrects, 2);
	cr_assert_eq(c->haar[0].rect[1][1], 7);
	cr_assert_float_eq(c->haar[0].weight[1], 3.f, 0);
	cr_assert_float_eq(c->stumps[0].threshold, -3.1511999666690826e-02f,
			   1e-9);
	check_model(c);
	dmk_cascade_free(c);
}

/*
 * Every cascade Debian ships loads, or is refused as not supported (old
 * format, tilted features): never a crash, a leak or another error.
 */
DMK_TEST(detect, load_every_debian_cascade, .init = log_init)
{
	const char *dirs[] = { CASCADES "/haarcascades",
			       CASCADES "/lbpcascades" };
	size_t i, loaded = 0, refused = 0;

	require_cascades();
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		cr_assert_not_null(d, "%s: %s", dirs[i], strerror(errno));
		while ((de = readdir(d))) {
			struct dmk_cascade *c = NULL;
			char path[PATH_MAX];
			int ret;

			if (!strstr(de->d_name, ".xml"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i],
				 de->d_name);
			ret = dmk_cascade_load(path, &c);
			cr_assert(ret == 0 || ret == -ENOTSUP, "%s: %s (%s)",
				  path, strerror(-ret), last_log);
			if (ret) {
				cr_assert_null(c);
				refused++;
				continue;
			}
			check_model(c);
			dmk_cascade_free(c);
			loaded++;
		}
		closedir(d);
	}
	cr_assert_geq(loaded, 10);
	cr_assert_geq(refused, 1);
}

DMK_TEST(detect, old_format_not_supported, .init = log_init)
{
	struct dmk_cascade *c = (struct dmk_cascade *)0x1;

	dmk_test_require(!access(OLD_XML, R_OK) ? 1 : 0,
			 "no " OLD_XML " (opencv-data)");
	cr_assert_eq(dmk_cascade_load(OLD_XML, &c), -ENOTSUP);
	cr_assert_eq(c, (struct dmk_cascade *)0x1, "*out written on failure");
	cr_assert_not_null(strstr(last_log, "old-format"), "log: %s",
			   last_log);
}

/* A copy of @src with the first (or every) @find replaced. */
static char *edit(const char *src, const char *find, const char *repl,
		  bool all)
{
	size_t fl = strlen(find), rl = strlen(repl), n = 0, len;
	const char *p = src, *q;
	char *out, *o;

	for (q = src; (q = strstr(q, find)); q += fl)
		n++;
	cr_assert_gt(n, 0, "\"%s\" is not in the cascade", find);
	if (!all)
		n = 1;
	len = strlen(src) + n * rl + 1;
	out = malloc(len);
	cr_assert_not_null(out);
	o = out;
	while (n-- && (q = strstr(p, find))) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, repl, rl);
		o += rl;
		p = q + fl;
	}
	strcpy(o, p);
	return out;
}

enum { LBP, HAAR };

struct bad_case {
	int src;		/* LBP (LBP_XML) or HAAR (HAAR_XML) */
	const char *find, *repl;
	bool all;
	int err;
};

static const struct bad_case bad_cases[] = {
	/* counts: huge, negative, wrong, not numbers */
	{ LBP, "<stageNum>19<", "<stageNum>1000000000<", false, -E2BIG },
	{ LBP, "<stageNum>19<", "<stageNum>-3<", false, -EINVAL },
	{ LBP, "<stageNum>19<", "<stageNum>18<", false, -EINVAL },
	{ LBP, "<stageNum>19<", "<stageNum>19x<", false, -EINVAL },
	{ LBP, "<stageNum>19<", "<stageNum>99999999999999999999999<",
	  false, -EINVAL },
	{ LBP, "<stageNum>19<", "<stageNum>19 19<", false, -EINVAL },
	{ LBP, "<stageNum>19</stageNum>",
	  "<stageNum>19</stageNum><stageNum>19</stageNum>", false, -EINVAL },
	{ LBP, "<maxWeakCount>6<", "<maxWeakCount>20000<", false,
	  -E2BIG },
	{ LBP, "<maxWeakCount>6<", "<maxWeakCount>7<", false, -EINVAL },
	{ LBP, "<maxWeakCount>6<", "<maxWeakCount>0<", false, -EINVAL },
	{ LBP, "<maxWeakCount>100<", "<maxWeakCount>5<", false, -EINVAL },
	{ LBP, "<width>45<", "<width>300<", false, -E2BIG },
	{ LBP, "<width>45<", "<width>0<", false, -EINVAL },
	{ LBP, "<height>45<", "<height>-45<", false, -EINVAL },
	/* indices out of range */
	{ LBP, "0 -1 26 -1 -1 -17409", "0 -1 142 -1 -1 -17409", false,
	  -EINVAL },
	{ LBP, "0 -1 26 -1 -1 -17409", "0 -1 -26 -1 -1 -17409", false,
	  -EINVAL },
	{ LBP, "0 -1 26 -1 -1 -17409", "0 -5 26 -1 -1 -17409", false,
	  -EINVAL },
	{ LBP, "0 -1 26 -1 -1 -17409", "1 -1 26 -1 -1 -17409", false,
	  -EINVAL },
	{ LBP, "0 -1 26 -1 -1 -17409", "0 -1 26 -1 -1 4294967296", false,
	  -EINVAL },
	{ LBP, "-17409 -1 -1 -1 -1 -1</internalNodes>",
	  "-17409 -1 -1 -1 -1</internalNodes>", false, -EINVAL },
	/* leaves: too few, not numbers, not finite */
	{ LBP, "-9.9726462364196777e-001 -3.8938775658607483e-001",
	  "-9.9726462364196777e-001", false, -EINVAL },
	{ LBP, "-9.9726462364196777e-001 -3.8938775658607483e-001",
	  "-9.97e-001 abc", false, -EINVAL },
	{ LBP, "-9.9726462364196777e-001 -3.8938775658607483e-001",
	  "-9.97e-001 -3.89e-001 1", false, -EINVAL },
	{ LBP, "<stageThreshold>-4.1617846488952637e+000<",
	  "<stageThreshold>nan<", false, -EINVAL },
	{ LBP, "<stageThreshold>-4.1617846488952637e+000<",
	  "<stageThreshold>1e300<", false, -EINVAL },
	{ LBP, "<stageThreshold>-4.1617846488952637e+000<",
	  "<stageThreshold><", false, -EINVAL },
	/* features outside the window */
	{ LBP, " 0 0 1 1</rect>",
	  " 40 0 5 1</rect>", false, -EINVAL },
	{ LBP, " 0 0 1 1</rect>",
	  " -1 0 1 1</rect>", false, -EINVAL },
	{ LBP, " 0 0 1 1</rect>",
	  " 0 0 0 1</rect>", false, -EINVAL },
	{ LBP, " 0 0 1 1</rect>",
	  " 0 0 1</rect>", false, -EINVAL },
	{ LBP, " 0 0 1 1</rect>",
	  " 0 0 1 1 1</rect>", false, -EINVAL },
	/* missing or unknown elements and kinds */
	{ LBP, "<stageType>BOOST</stageType>", "", false, -EINVAL },
	{ LBP, "<stageType>BOOST<", "<stageType>GENTLE<", false, -EINVAL },
	{ LBP, "<featureType>LBP<", "<featureType>HOG<", false, -ENOTSUP },
	{ LBP, "<featureType>LBP<", "<featureType>SIFT<", false, -EINVAL },
	{ LBP, "<maxCatCount>256<", "<maxCatCount>0<", false, -EINVAL },
	{ LBP, "features>", "unused>", true, -EINVAL },
	{ LBP, "leafValues>", "leaves>", true, -EINVAL },
	{ LBP, "<weakClassifiers>", "<weakClassifiers><bogus/>", false,
	  -EINVAL },
	/* not safe XML: a DTD (entities), markup in a value */
	{ LBP, "<?xml version=\"1.0\"?>",
	  "<?xml version=\"1.0\"?>\n<!DOCTYPE opencv_storage "
	  "[<!ENTITY e \"45\">]>", false, -EINVAL },
	{ LBP, "<width>45<", "<width><b>45</b><", false, -EINVAL },
	{ LBP, "</opencv_storage>", "", false, -EINVAL },
	/* Haar: tilted, too many rects, outside, short nodes */
	{ HAAR, "</rects></_>", "</rects>\n      <tilted>1</tilted></_>",
	  false, -ENOTSUP },
	{ HAAR, "</rects></_>", "</rects>\n      <tilted>2</tilted></_>",
	  false, -EINVAL },
	{ HAAR, "6 4 12 9 -1.</_>",
	  "6 4 12 9 -1.</_><_>0 0 1 1 1.</_><_>0 0 1 1 1.</_>", false,
	  -EINVAL },
	{ HAAR, "6 4 12 9 -1.</_>", "16 4 12 9 -1.</_>", false, -EINVAL },
	{ HAAR, "6 4 12 9 -1.</_>", "6 4 12 9</_>", false, -EINVAL },
	{ HAAR, "6 4 12 9 -1.</_>", "6 4 12 9 -1. 2.</_>", false,
	  -EINVAL },
	{ HAAR, "0 -1 0 -3.1511999666690826e-02",
	  "0 -1 2913 -3.1511999666690826e-02", false, -EINVAL },
	{ HAAR, "0 -1 0 -3.1511999666690826e-02", "0 -1 0", false,
	  -EINVAL },
	{ HAAR, "<maxCatCount>0<", "<maxCatCount>256<", false, -EINVAL },
	{ HAAR, "<width>24<", "<width>2<", false, -EINVAL },
};

DMK_TEST(detect, malformed_rejected, .init = tmp_init, .fini = tmp_fini)
{
	char *lbp, *haar, path[128];
	size_t i;

	require_cascades();
	lbp = read_text(LBP_XML, NULL);
	haar = read_text(HAAR_XML, NULL);
	/* Unedited, both load: the cases below fail for their edit. */
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct dmk_cascade *c = (struct dmk_cascade *)0x1;
		char *text = edit(bc->src == LBP ? lbp : haar, bc->find,
				  bc->repl, bc->all);
		int ret;

		tmp_path(path, sizeof(path), "bad.xml");
		write_file(path, text, strlen(text));
		free(text);
		last_log[0] = '\0';
		ret = dmk_cascade_load(path, &c);
		cr_assert_eq(ret, bc->err, "case %zu (\"%s\" -> \"%s\"): %d "
			     "(%s), wanted %d", i, bc->find, bc->repl, ret,
			     strerror(-ret), bc->err);
		cr_assert_eq(c, (struct dmk_cascade *)0x1,
			     "case %zu: *out written on failure", i);
		cr_assert_neq(last_log[0], '\0', "case %zu: nothing logged", i);
	}
	free(lbp);
	free(haar);
}

DMK_TEST(detect, bad_files_rejected, .init = tmp_init, .fini = tmp_fini)
{
	static const char *const junk[] = {
		"hello, world\n",
		"<?xml version=\"1.0\"?>\n<opencv_storage></opencv_storage>\n",
		"<?xml version=\"1.0\"?>\n<other><cascade/></other>\n",
		"<?xml version=\"1.0\"?>\n<opencv_storage><cascade>"
		"</cascade></opencv_storage>\n",
	};
	struct dmk_cascade *c = NULL;
	char path[128], *text;
	size_t len, cut, i;

	cr_assert_eq(dmk_cascade_load("/nonexistent/cascade.xml", &c),
		     -ENOENT);
	cr_assert_eq(dmk_cascade_load(tmpdir, &c), -EISDIR);
	cr_assert_eq(dmk_cascade_load("/dev/null", &c), -EINVAL);
	cr_assert_eq(dmk_cascade_load(NULL, &c), -EINVAL);

	tmp_path(path, sizeof(path), "empty.xml");
	write_file(path, "", 0);
	cr_assert_eq(dmk_cascade_load(path, &c), -EINVAL);
	cr_assert_not_null(strstr(last_log, "empty"), "log: %s", last_log);

	for (i = 0; i < ARRAY_SIZE(junk); i++) {
		write_file(path, junk[i], strlen(junk[i]));
		cr_assert_eq(dmk_cascade_load(path, &c), -EINVAL, "\"%s\"",
			     junk[i]);
	}
	cr_assert_null(c);

	require_cascades();
	/* Truncated anywhere: a parse error, never a half model. */
	text = read_text(LBP_XML, &len);
	for (cut = 1; cut < len; cut += len / 7) {
		write_file(path, text, cut);
		cr_assert_eq(dmk_cascade_load(path, &c), -EINVAL,
			     "truncated at %zu", cut);
	}
	free(text);
	cr_assert_null(c);
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/*
 * Random damage to a real file: whatever loads must be safe to run (the
 * detector trusts the checked model), whatever does not load fails with
 * one of the documented errors; no crash, no leak (the fixture checks).
 */
DMK_TEST(detect, mutated_files_safe, .init = tmp_init, .fini = tmp_fini)
{
	static const char alphabet[] = "0123456789-+.eE <>/_x\n";
	char *orig, *buf, path[128];
	size_t len, iter, loaded = 0;
	uint8_t img[96 * 96];
	struct dmk_rect r[64];
	uint32_t seed = 12345;

	require_cascades();
	orig = read_text(LBP_XML, &len);
	buf = malloc(len + 64);
	cr_assert_not_null(buf);
	for (iter = 0; iter < sizeof(img); iter++)
		img[iter] = (uint8_t)lcg(&seed);
	tmp_path(path, sizeof(path), "mutant.xml");
	for (iter = 0; iter < 300; iter++) {
		struct dmk_cascade *c = NULL;
		size_t blen = len, k, nmut = 1 + lcg(&seed) % 3, n;
		int ret;

		memcpy(buf, orig, len);
		for (k = 0; k < nmut; k++) {
			size_t at = lcg(&seed) % blen, span;

			switch (lcg(&seed) % 3) {
			case 0:	/* one character */
				buf[at] = alphabet[lcg(&seed) %
						   (sizeof(alphabet) - 1)];
				break;
			case 1:	/* cut a span */
				span = 1 + lcg(&seed) % 20;
				if (span > blen - at)
					span = blen - at;
				memmove(buf + at, buf + at + span,
					blen - at - span);
				blen -= span;
				break;
			default:	/* a big number */
				memmove(buf + at + 9, buf + at, blen - at);
				memcpy(buf + at, "999999999", 9);
				blen += 9;
				break;
			}
			if (blen + 9 >= len + 64 || blen < 2)
				break;
		}
		write_file(path, buf, blen);
		ret = dmk_cascade_load(path, &c);
		cr_assert(ret == 0 || ret == -EINVAL || ret == -E2BIG ||
			  ret == -ENOTSUP, "mutant %zu: %s", iter,
			  strerror(-ret));
		if (ret)
			continue;
		loaded++;
		check_model(c);
		ret = dmk_detect_cpu(c, img, 96, 96, 96, NULL, r, 64, &n);
		cr_assert_eq(ret, 0, "mutant %zu: detect: %s", iter,
			     strerror(-ret));
		dmk_cascade_free(c);
	}
	/* Some damage (in comments, in leaf digits) leaves a valid file. */
	cr_assert_gt(loaded, 0);
	free(buf);
	free(orig);
}

/* ---- parameters ---- */

struct big_params {
	struct dmk_detect_params p;
	uint64_t future;
};

DMK_TEST(detect, bad_params_rejected, .init = log_init)
{
	struct dmk_rect r[4] = { { 0 } };
	struct dmk_cascade *c;
	uint8_t img[64 * 64];
	struct big_params big;
	size_t n = 99;
	int ret;

	require_cascades();
	ret = dmk_cascade_load(LBP_XML, &c);
	cr_assert_eq(ret, 0);
	memset(img, 128, sizeof(img));
	{
		DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.0);

		cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &p, r, 4, &n),
			     -EINVAL);
		p.scale_factor = 0.5;
		cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &p, r, 4, &n),
			     -EINVAL);
		p.scale_factor = __builtin_nan("");
		cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &p, r, 4, &n),
			     -EINVAL);
		p.scale_factor = __builtin_inf();
		cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &p, r, 4, &n),
			     -EINVAL);
		/* So close to 1 that the scales would never end. */
		p.scale_factor = 1 + 1e-15;
		cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &p, r, 4, &n),
			     -EINVAL);
	}
	memset(&big, 0, sizeof(big));
	big.p.sz = sizeof(big);
	big.future = 1;
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &big.p, r, 4, &n),
		     -EINVAL);
	big.future = 0;
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, &big.p, r, 4, &n), 0);

	cr_assert_eq(dmk_detect_cpu(c, img, 0, 64, 64, NULL, r, 4, &n),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 63, NULL, r, 4, &n),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 1 << 20, 64, NULL, r, 4, &n),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(c, NULL, 64, 64, 64, NULL, r, 4, &n),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, NULL, NULL, 4, &n),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, NULL, r, 4, NULL),
		     -EINVAL);
	cr_assert_eq(dmk_detect_cpu(NULL, img, 64, 64, 64, NULL, r, 4, &n),
		     -EINVAL);
	/* Smaller than the window, or flat: nothing, no error. */
	cr_assert_eq(dmk_detect_cpu(c, img, 40, 40, 64, NULL, r, 4, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(dmk_detect_cpu(c, img, 64, 64, 64, NULL, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	dmk_cascade_free(c);
}

DMK_TEST(detect, group_bad_args)
{
	struct dmk_rect r[2] = { { 0, 0, 10, 10 }, { 100, 0, 10, 10 } };
	size_t n = 2;

	cr_assert_eq(dmk_group_rects(r, &n, -1, 0.2), -EINVAL);
	cr_assert_eq(dmk_group_rects(r, &n, 1, -0.2), -EINVAL);
	cr_assert_eq(dmk_group_rects(r, &n, 1, __builtin_nan("")), -EINVAL);
	cr_assert_eq(dmk_group_rects(NULL, &n, 1, 0.2), -EINVAL);
	cr_assert_eq(dmk_group_rects(r, NULL, 1, 0.2), -EINVAL);
	/* No threshold: as they were. */
	cr_assert_eq(dmk_group_rects(r, &n, 0, 0.2), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(r[1].x, 100);
	n = 0;
	cr_assert_eq(dmk_group_rects(NULL, &n, 3, 0.2), 0);
}

/* ---- against OpenCV ---- */

/* Clusters of jittered boxes, some nested in bigger ones. */
static size_t make_clusters(struct dmk_rect *r, uint32_t seed)
{
	size_t n = 0;
	int k, j;

	for (k = 0; k < 12; k++) {
		int32_t x = (int32_t)(lcg(&seed) % 600);
		int32_t y = (int32_t)(lcg(&seed) % 400);
		int32_t s = 20 + (int32_t)(lcg(&seed) % 120);
		int members = 1 + (int)(lcg(&seed) % 9);

		if (k % 3 == 2 && n) {
			/* Inside the previous cluster's first box. */
			x = r[n - 1].x + r[n - 1].w / 4;
			y = r[n - 1].y + r[n - 1].h / 4;
			s = r[n - 1].w / 2;
		}
		for (j = 0; j < members; j++) {
			int32_t d = s / 10 + 1;

			r[n].x = x + (int32_t)(lcg(&seed) % (2 * d + 1)) - d;
			r[n].y = y + (int32_t)(lcg(&seed) % (2 * d + 1)) - d;
			r[n].w = s + (int32_t)(lcg(&seed) % (d + 1));
			r[n].h = r[n].w;
			n++;
		}
	}
	return n;
}

DMK_TEST(detect, group_like_opencv, .init = tmp_init, .fini = tmp_fini)
{
	static const int thresholds[] = { 1, 2, 3, 5 };
	static const double epss[] = { 0.2, 0.5 };
	struct dmk_rect in[256], mine[256], cv[256];
	size_t t, e, nin, n, ncv, total = 0;
	uint32_t seed;

	require_opencv();
	for (seed = 1; seed <= 6; seed++) {
		char json[16384], path[128], *out;
		size_t len = 0, i;

		nin = make_clusters(in, seed);
		len += (size_t)snprintf(json + len, sizeof(json) - len, "[");
		for (i = 0; i < nin; i++)
			len += (size_t)snprintf(json + len, sizeof(json) - len,
						"%s[%d, %d, %d, %d]",
						i ? ", " : "", in[i].x,
						in[i].y, in[i].w, in[i].h);
		len += (size_t)snprintf(json + len, sizeof(json) - len, "]");
		cr_assert_lt(len, sizeof(json) - 1);
		tmp_path(path, sizeof(path), "rects.json");
		write_file(path, json, len);

		for (t = 0; t < ARRAY_SIZE(thresholds); t++)
			for (e = 0; e < ARRAY_SIZE(epss); e++) {
				char th[8], ep[16], line[64];
				char *argv[] = { PYTHON, (char *)script(),
						 "group", th, ep, path, NULL };
				struct result r;
				int ret;

				snprintf(th, sizeof(th), "%d", thresholds[t]);
				snprintf(ep, sizeof(ep), "%g", epss[e]);
				cr_assert_eq(dmk_test_run(argv, &out), 0);
				/* Reuse the detect-line parser. */
				snprintf(line, sizeof(line),
					 "{\"image\": \"-\", \"ms\": 0, "
					 "\"boxes\": ");
				{
					size_t ll = strlen(line) +
						    strlen(out) + 1;
					char *full = malloc(ll);

					cr_assert_not_null(full);
					snprintf(full, ll, "%s%s", line, out);
					parse_result(full, &r);
					free(full);
				}
				free(out);
				ncv = r.n;
				memcpy(cv, r.boxes, ncv * sizeof(*cv));
				free(r.boxes);

				memcpy(mine, in, nin * sizeof(*in));
				n = nin;
				ret = dmk_group_rects(mine, &n, thresholds[t],
						      epss[e]);
				cr_assert_eq(ret, 0);
				qsort(mine, n, sizeof(*mine), rect_cmp);
				qsort(cv, ncv, sizeof(*cv), rect_cmp);
				cr_assert_eq(n, ncv, "seed %u threshold %d eps "
					     "%g: %zu groups, OpenCV %zu",
					     seed, thresholds[t], epss[e], n,
					     ncv);
				cr_assert_arr_eq(mine, cv, n * sizeof(*cv),
						 "seed %u threshold %d eps %g: "
						 "groups differ", seed,
						 thresholds[t], epss[e]);
				total += n;
			}
	}
	cr_assert_gt(total, 20, "too few groups to mean anything");
}

/* The pyramid: bit for bit what cv2.resize(INTER_LINEAR_EXACT) makes. */
DMK_TEST(detect, resize_like_opencv, .init = tmp_init, .fini = tmp_fini)
{
	static const char *const sizes[] = {
		"465x545", "256x300", "255x299", "135x158", "129x151",
		"128x150", "64x75", "17x20", "1x1", "2x3", "512x10",
		"20x600", "700x800", "1024x1200", "513x601", "37x1000",
	};
	char src[128], noise[128], *argv[ARRAY_SIZE(sizes) + 6];
	const char *inputs[2];
	struct image in, out;
	uint8_t *mine;
	uint32_t seed = 7;
	size_t i, k, s;

	require_opencv();
	/* A photo, and noise with hard edges everywhere. */
	tmp_path(src, sizeof(src), "in.pgm");
	{
		char *pargv[] = { PYTHON, (char *)script(), "prepare", tmpdir,
				  GRACE, NULL };
		char *text;

		cr_assert_eq(dmk_test_run(pargv, &text), 0);
		k = strcspn(text, "\n");
		text[k] = '\0';
		cr_assert_eq(rename(text, src), 0);
		free(text);
	}
	in.w = 331;
	in.h = 257;
	in.px = malloc((size_t)in.w * in.h);
	cr_assert_not_null(in.px);
	for (i = 0; i < (size_t)in.w * in.h; i++)
		in.px[i] = (uint8_t)lcg(&seed);
	tmp_path(noise, sizeof(noise), "noise.pgm");
	write_pgm(noise, in.px, in.w, in.h);
	free(in.px);
	inputs[0] = src;
	inputs[1] = noise;

	for (s = 0; s < 2; s++) {
		read_pgm(inputs[s], &in);
		k = 0;
		argv[k++] = PYTHON;
		argv[k++] = (char *)script();
		argv[k++] = "resize";
		argv[k++] = (char *)inputs[s];
		argv[k++] = tmpdir;
		for (i = 0; i < ARRAY_SIZE(sizes); i++)
			argv[k++] = (char *)sizes[i];
		argv[k] = NULL;
		cr_assert_eq(dmk_test_run(argv, NULL), 0);
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			char path[128], name[32];
			size_t p;

			snprintf(name, sizeof(name), "%s.pgm", sizes[i]);
			tmp_path(path, sizeof(path), name);
			read_pgm(path, &out);
			mine = malloc((size_t)out.w * out.h);
			cr_assert_not_null(mine);
			cr_assert_eq(dmk__resize_u8(in.px, in.w, in.h, in.w,
						    mine, out.w, out.h, out.w),
				     0);
			for (p = 0; p < (size_t)out.w * out.h; p++)
				if (mine[p] != out.px[p])
					break;
			cr_assert_eq(p, (size_t)out.w * out.h, "%s from %s: "
				     "pixel (%zu, %zu) is %u, OpenCV's %u",
				     sizes[i], base(inputs[s]), p % out.w,
				     p / out.w, mine[p], out.px[p]);
			free(mine);
			free(out.px);
		}
		free(in.px);
	}
}

/*
 * With minNeighbors 0 detectMultiScale returns every window the cascade
 * accepted: ours must be exactly OpenCV's (photo and synthetic variants),
 * for stumps and, through a cascade of 3-node trees, for trees.
 */
static void candidates_exact(const char *cascade, bool trees)
{
	char tree[128];

	if (trees) {
		char *argv[] = { PYTHON, (char *)script(), "mktree",
				 (char *)cascade, tree, NULL };

		require_opencv();
		tmp_path(tree, sizeof(tree), "tree.xml");
		cr_assert_eq(dmk_test_run(argv, NULL), 0);
		cascade = tree;
	}
	agree(cascade, 1.1, 0, 0, 0, true, 5);
	if (trees) {
		struct dmk_cascade *c;

		cr_assert_eq(dmk_cascade_load(cascade, &c), 0);
		cr_assert_not(c->stump_based);
		cr_assert_eq(c->max_tree_nodes, 3);
		dmk_cascade_free(c);
	}
}

DMK_TEST(detect, candidates_exact_lbp, .init = tmp_init, .fini = tmp_fini)
{
	candidates_exact(LBP_XML, false);
}

DMK_TEST(detect, candidates_exact_haar, .init = tmp_init, .fini = tmp_fini)
{
	candidates_exact(HAAR_XML, false);
}

DMK_TEST(detect, candidates_exact_lbp_trees, .init = tmp_init,
	 .fini = tmp_fini)
{
	candidates_exact(LBP_XML, true);
}

DMK_TEST(detect, candidates_exact_haar_trees, .init = tmp_init,
	 .fini = tmp_fini)
{
	candidates_exact(HAAR_XML, true);
}

/*
 * Size limits: a band of scales, and single-scale requests (min == max),
 * one on a scale, one between scales (OpenCV then takes the closest).
 */
DMK_TEST(detect, candidates_exact_sizes, .init = tmp_init, .fini = tmp_fini)
{
	agree(LBP_XML, 1.1, 0, 50, 60, true, 5);
	agree(LBP_XML, 1.1, 0, 100, 100, true, 5);
	agree(HAAR_XML, 1.1, 0, 58, 58, true, 5);
}

/* The contract, on every photo: default parameters and stricter ones. */
DMK_TEST(detect, agree_lbp_default, .init = tmp_init, .fini = tmp_fini)
{
	agree(LBP_XML, 1.1, 3, 0, 0, false, 0);
}

DMK_TEST(detect, agree_lbp_strict, .init = tmp_init, .fini = tmp_fini)
{
	agree(LBP_XML, 1.2, 5, 30, 0, false, 0);
}

DMK_TEST(detect, agree_haar_default, .init = tmp_init, .fini = tmp_fini)
{
	agree(HAAR_XML, 1.1, 3, 0, 0, false, 0);
}

DMK_TEST(detect, agree_haar_strict, .init = tmp_init, .fini = tmp_fini)
{
	agree(HAAR_XML, 1.2, 5, 30, 0, false, 0);
}
