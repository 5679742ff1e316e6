// SPDX-License-Identifier: MIT
/*
 * detectvk: the cascade detector on a Vulkan device (lavapipe here)
 * against the CPU reference dmk_detect_cpu(), which tests/test_detect.c
 * holds to OpenCV 4.6: the same hits (min_neighbors 0) and the same
 * grouped boxes, element for element and in the same order, for both
 * Debian face cascades, stumps and trees, on grace_hopper and, when there
 * are photos in $DMK_TEST_IMAGES (default build/test-images), on every
 * photo too; with DMK_TEST_IMAGES set but empty (an emulated machine: the
 * VM tier), on a half-size grace_hopper alone.  The
 * pyramid and integral images are compared word for word with the CPU's
 * dmk__resize_u8() and a plain integral.  Gray pixels come from
 * tests/opencv_detect.py prepare (cv2, the same PGMs test_detect uses);
 * tests that need them skip without /usr/bin/python3 and cv2.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <dmakit/detect.h>
#include <dmakit/vk.h>

#include "detect_internal.h"
#include "helpers.h"
#include "vk_internal.h"

extern char **environ;

/* The python with cv2: $DMK_PYTHON (the GPU machine's), else Debian's. */
#define PYTHON ((char *)dmk_test_python())
#define SCRIPT "tests/opencv_detect.py"
#define CASCADES "/usr/share/opencv4"
#define LBP_XML CASCADES "/lbpcascades/lbpcascade_frontalface_improved.xml"
#define HAAR_XML CASCADES "/haarcascades/haarcascade_frontalface_default.xml"
#define GRACE "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
#define MAX_IMAGES 64
#define MAX_BOXES 65536
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Float stage sums (DMK__DETECTOR_FLOAT, what a device without
 * shaderFloat64 gets) against the CPU's double sums: at most this share
 * of the raw hits may differ, counting both sides' extras.  A float sum
 * of up to ~200 leaves, each ~1, rounds to ~1e-5; a stage sum lands that
 * close to its threshold for a few windows in 10^4 (traincascade puts
 * thresholds on sample sums).  Measured on lavapipe: see float_sums_bounded.
 */
#define FLOAT_MAX_DIFF_SHARE 0.02


/* ---- logging ---- */

static char last_log[512];

static void log_cb(enum dmk_log_level level, const char *fmt, va_list ap,
		   void *user)
{
	(void)user;
	if (level <= DMK_LOG_INFO)
		vsnprintf(last_log, sizeof(last_log), fmt, ap);
}

/* ---- a scratch directory per test ---- */

static char tmpdir[64];

static void tmp_init(void)
{
	last_log[0] = '\0';
	dmk_set_log(log_cb, NULL, DMK_LOG_INFO);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dmk-detectvk-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void tmp_fini(void)
{
	struct dirent *de;
	DIR *d;

	dmk_set_log(NULL, NULL, DMK_LOG_ERROR);
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

/* ---- the OpenCV side: gray PGMs ---- */

static const char *script(void)
{
	return dmk_test_srcfile(SCRIPT);
}

static void require_cascades(void)
{
	dmk_test_require(!access(LBP_XML, R_OK) && !access(HAAR_XML, R_OK) ?
			 1 : 0, "no face cascades (opencv-data)");
}

static void require_opencv(void)
{
	char *argv[] = { PYTHON, (char *)script(), "check", NULL };

	require_cascades();
	dmk_test_require(!access(PYTHON, X_OK) ? 1 : 0,
			 "no python with cv2 (/usr/bin/python3 or "
			 "$DMK_PYTHON)");
	dmk_test_require(!access(script(), R_OK) ? 1 : 0,
			 "cannot find " SCRIPT " (set DMK_SRCDIR)");
	dmk_test_require(dmk_test_run(argv, NULL) == 0 ? 1 : 0,
			 "no cv2 in the python (python3-opencv)");
	dmk_test_require(!access(GRACE, R_OK) ? 1 : 0,
			 "no " GRACE " (python-matplotlib-data)");
}

struct image {
	char name[96];
	uint32_t w, h;
	uint8_t *px;		/* packed rows */
};

static void read_pgm(const char *path, struct image *img)
{
	FILE *f = fopen(path, "re");
	unsigned int w, h, maxval;
	const char *base = strrchr(path, '/');

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fscanf(f, "P5 %u %u %u", &w, &h, &maxval), 3,
		     "%s: not a binary PGM", path);
	cr_assert_eq(fgetc(f), '\n');
	cr_assert_eq(maxval, 255);
	img->w = w;
	img->h = h;
	img->px = malloc((size_t)w * h);
	cr_assert_not_null(img->px);
	cr_assert_eq(fread(img->px, 1, (size_t)w * h, f), (size_t)w * h,
		     "%s: short", path);
	fclose(f);
	snprintf(img->name, sizeof(img->name), "%s", base ? base + 1 : path);
}

/*
 * The test images: grace_hopper (512x600); with @photos, also its
 * synthetic variants and every photo of $DMK_TEST_IMAGES.  With
 * DMK_TEST_IMAGES set but empty (an emulated machine), only its half-size
 * copy (256x300), whatever @photos says.  Returns how many.
 */
static size_t load_images(struct image *imgs, size_t max, bool photos)
{
	const char *dir = getenv("DMK_TEST_IMAGES");
	char *argv[] = { PYTHON, (char *)script(), "prepare", tmpdir, GRACE,
			 (char *)(dir ? dir : "build/test-images"), NULL };
	bool small = dir && !*dir;
	char *text, *save, *line;
	size_t n = 0, i = 0;

	require_opencv();
	if (!photos || small || access(argv[5], R_OK))
		argv[5] = NULL;
	cr_assert_eq(dmk_test_run(argv, &text), 0, "opencv_detect.py prepare failed");
	/* Lines: the photo, its half-size copy, other variants, photos. */
	for (line = strtok_r(text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save), i++) {
		if (small && i != 1)
			continue;
		read_pgm(line, &imgs[n++]);
		if (!photos || small)
			break;
	}
	free(text);
	cr_assert_geq(n, 1);
	if (small)
		cr_assert(strstr(imgs[0].name, "half"), "not the half-size "
			  "copy: %s", imgs[0].name);
	return n;
}

static void free_images(struct image *imgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(imgs[i].px);
}

/* ---- Vulkan ---- */

static struct dmk_vk *vk_open(void)
{
	struct dmk_vk *vk = NULL;
	int ret;

	setenv("XDG_RUNTIME_DIR", "/tmp", 0);
	ret = dmk_vk_new(NULL, &vk);
	if (ret == -ENODEV || ret == -ENOTSUP)
		dmk_test_require(0, "no Vulkan device with compute and "
				 "timeline semaphores");
	cr_assert_eq(ret, 0, "dmk_vk_new: %s", strerror(-ret));
	return vk;
}

static struct dmk_cascade *cascade(const char *path)
{
	struct dmk_cascade *c;
	int ret = dmk_cascade_load(path, &c);

	cr_assert_eq(ret, 0, "%s: %s", path, strerror(-ret));
	return c;
}

/* A gray image in a memfd buffer, imported zero-copy. */
struct gray {
	struct dmk_buf *buf;
	struct dmk_vk_mem *mem;
	uint8_t *map;
	uint64_t offset;
	uint32_t pitch;
};

#define GRAY_OFFSET 4096u	/* not at the start: offsets are honoured */
#define GRAY_PAD 13u		/* pitch = width + 13: pitch is honoured */

static void gray_new(struct dmk_vk *vk, uint32_t w, uint32_t h,
		     struct gray *g)
{
	uint64_t size;
	void *map;
	int ret;

	g->offset = GRAY_OFFSET;
	g->pitch = w + GRAY_PAD;
	size = g->offset + (uint64_t)g->pitch * h;
	size = (size + 4095) & ~4095ull;
	g->buf = dmk_test_alloc("memfd", size, "detectvk-gray");
	cr_assert_eq(dmk_buf_map(g->buf, &map), 0);
	g->map = map;
	/* Padding bytes that a detector reading them would notice. */
	memset(g->map, 0xff, size);
	ret = dmk_vk_import(vk, g->buf, NULL, &g->mem);
	cr_assert_eq(ret, 0, "dmk_vk_import: %s", strerror(-ret));
}

static void gray_put(struct gray *g, const struct image *img)
{
	uint32_t y;

	for (y = 0; y < img->h; y++)
		memcpy(g->map + g->offset + (size_t)y * g->pitch,
		       img->px + (size_t)y * img->w, img->w);
}

static void gray_free(struct gray *g)
{
	dmk_vk_mem_put(g->mem);
	dmk_buf_put(g->buf);
	memset(g, 0, sizeof(*g));
}

/* ---- comparisons ---- */

struct boxes {
	struct dmk_rect *r;
	size_t n;
};

static void cpu_boxes(const struct dmk_cascade *c, const struct image *img,
		      const struct dmk_detect_params *p, struct boxes *b)
{
	int ret;

	b->r = calloc(MAX_BOXES, sizeof(*b->r));
	cr_assert_not_null(b->r);
	ret = dmk_detect_cpu(c, img->px, img->w, img->h, img->w, p, b->r,
			     MAX_BOXES, &b->n);
	cr_assert_eq(ret, 0, "dmk_detect_cpu: %s", strerror(-ret));
	cr_assert_leq(b->n, MAX_BOXES);
}

static void gpu_boxes(struct dmk_detector *det, const struct gray *g,
		      struct boxes *b)
{
	int ret;

	b->r = calloc(MAX_BOXES, sizeof(*b->r));
	cr_assert_not_null(b->r);
	ret = dmk_detector_run(det, g->mem, g->offset, g->pitch, b->r,
			       MAX_BOXES, &b->n);
	cr_assert_eq(ret, 0, "dmk_detector_run: %s (%s)", strerror(-ret),
		     last_log);
	cr_assert_leq(b->n, MAX_BOXES);
}

/* Element for element: both give OpenCV's order. */
static void assert_same(const struct boxes *cpu, const struct boxes *gpu,
			const char *what)
{
	size_t i;

	cr_assert_eq(gpu->n, cpu->n, "%s: %zu boxes on the device, %zu on "
		     "the CPU", what, gpu->n, cpu->n);
	for (i = 0; i < cpu->n; i++)
		cr_assert(!memcmp(&cpu->r[i], &gpu->r[i], sizeof(cpu->r[i])),
			  "%s: box %zu is %d,%d %dx%d on the device, %d,%d "
			  "%dx%d on the CPU", what, i, gpu->r[i].x,
			  gpu->r[i].y, gpu->r[i].w, gpu->r[i].h, cpu->r[i].x,
			  cpu->r[i].y, cpu->r[i].w, cpu->r[i].h);
}

static void boxes_free(struct boxes *b)
{
	free(b->r);
	b->r = NULL;
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

/* Boxes in one list and not the other, as sorted multisets. */
static size_t sym_diff(struct boxes *a, struct boxes *b)
{
	size_t i = 0, j = 0, d = 0;

	qsort(a->r, a->n, sizeof(*a->r), rect_cmp);
	qsort(b->r, b->n, sizeof(*b->r), rect_cmp);
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 :
			rect_cmp(&a->r[i], &b->r[j]);

		if (!c) {
			i++;
			j++;
			continue;
		}
		d++;
		if (c < 0)
			i++;
		else
			j++;
	}
	return d;
}

/* ---- exactness ---- */

struct pset {
	double scale;
	int neighbors;
	uint32_t min, max;
};

/* Raw hits and grouped boxes, default and stricter parameters. */
static const struct pset psets[] = {
	{ 1.1, 0, 0, 0 },
	{ 1.1, 3, 0, 0 },
	{ 1.2, 0, 30, 300 },
	{ 1.2, 5, 30, 300 },
};

static void agree(const char *path, const struct image *imgs, size_t nimgs)
{
	struct dmk_vk *vk = vk_open();
	struct dmk_cascade *c = cascade(path);
	size_t i, k, raw = 0;

	for (k = 0; k < ARRAY_SIZE(psets); k++) {
		DMK_OPTS(dmk_detect_params, p,
			 .scale_factor = psets[k].scale,
			 .min_neighbors = psets[k].neighbors,
			 .min_w = psets[k].min, .min_h = psets[k].min,
			 .max_w = psets[k].max, .max_h = psets[k].max);

		for (i = 0; i < nimgs; i++) {
			const struct image *img = &imgs[i];
			struct dmk_detector *det;
			struct boxes cpu, gpu;
			struct gray g;
			char what[192];
			int ret;

			ret = dmk_detector_new(vk, c, img->w, img->h, &p,
					       &det);
			cr_assert_eq(ret, 0, "dmk_detector_new: %s",
				     strerror(-ret));
			gray_new(vk, img->w, img->h, &g);
			gray_put(&g, img);
			cpu_boxes(c, img, &p, &cpu);
			gpu_boxes(det, &g, &gpu);
			snprintf(what, sizeof(what), "%s, scale %.2f, "
				 "neighbors %d, size %u..%u", img->name,
				 psets[k].scale, psets[k].neighbors,
				 psets[k].min, psets[k].max);
			assert_same(&cpu, &gpu, what);
			if (!psets[k].neighbors)
				raw += cpu.n;
			boxes_free(&cpu);
			boxes_free(&gpu);
			gray_free(&g);
			dmk_detector_free(det);
		}
	}
	/* A comparison of empty lists would prove nothing. */
	cr_assert_gt(raw, 20, "only %zu raw hits in all", raw);
	cr_log_info("detectvk: %s: %zu images x %zu parameter sets agree "
		    "(%zu raw hits)", path, nimgs, ARRAY_SIZE(psets), raw);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

static void agree_photos(const char *path)
{
	struct image imgs[MAX_IMAGES];
	size_t n = load_images(imgs, MAX_IMAGES, true);

	agree(path, imgs, n);
	free_images(imgs, n);
}

DMK_TEST(detectvk, agree_lbp, .init = tmp_init, .fini = tmp_fini)
{
	agree_photos(LBP_XML);
}

DMK_TEST(detectvk, agree_haar, .init = tmp_init, .fini = tmp_fini)
{
	agree_photos(HAAR_XML);
}

/* Trees (the same cascades rewritten as 3-node trees) on grace_hopper. */
static void agree_trees(const char *path)
{
	char tree[128], *argv[] = { PYTHON, (char *)script(), "mktree",
				    (char *)path, tree, NULL };
	struct image img;
	struct dmk_cascade *c;

	load_images(&img, 1, false);
	snprintf(tree, sizeof(tree), "%s/tree.xml", tmpdir);
	cr_assert_eq(dmk_test_run(argv, NULL), 0, "opencv_detect.py mktree failed");
	c = cascade(tree);
	cr_assert_not(c->stump_based);
	dmk_cascade_free(c);
	agree(tree, &img, 1);
	free(img.px);
}

DMK_TEST(detectvk, agree_lbp_trees, .init = tmp_init, .fini = tmp_fini)
{
	agree_trees(LBP_XML);
}

DMK_TEST(detectvk, agree_haar_trees, .init = tmp_init, .fini = tmp_fini)
{
	agree_trees(HAAR_XML);
}

/*
 * The pyramid and its integral images, word for word: every level of
 * INTER_LINEAR_EXACT (odd sizes), exact halvings (scale factor 2 on an
 * image of even sides) and the copy of level 0, against dmk__resize_u8()
 * and a plain integral (squared too, Haar).
 */
static void check_levels(struct dmk_vk *vk, const struct dmk_cascade *c,
			 const struct image *img, double scale)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = scale);
	bool haar = dmk_cascade_kind(c) == DMK_CASCADE_HAAR;
	struct dmk_detector *det;
	struct boxes gpu;
	struct gray g;
	uint32_t i, x, y, nlev = 0, halves = 0, *want, *want2;
	int ret;

	ret = dmk__detector_new(vk, c, img->w, img->h, &p,
				DMK__DETECTOR_HOST, &det);
	cr_assert_eq(ret, 0);
	gray_new(vk, img->w, img->h, &g);
	gray_put(&g, img);
	gpu_boxes(det, &g, &gpu);
	for (i = 0;; i++) {
		struct dmk__scale s;
		uint32_t got, stride;
		uint8_t *lev;

		ret = dmk__detector_level(det, i, &s);
		if (ret == -ENOENT)
			break;
		cr_assert_eq(ret, 0);
		halves += s.w * 2 == img->w && s.h * 2 == img->h;
		lev = malloc((size_t)s.w * s.h);
		stride = s.w + 1;
		want = calloc((size_t)stride * (s.h + 1), sizeof(*want));
		want2 = calloc((size_t)stride * (s.h + 1), sizeof(*want2));
		cr_assert(lev && want && want2);
		cr_assert_eq(dmk__resize_u8(img->px, img->w, img->h, img->w,
					    lev, s.w, s.h, s.w), 0);
		/* The integral, wrapping in uint32 as the device's does. */
		for (y = 1; y <= s.h; y++) {
			uint32_t acc = 0, acc2 = 0, pv;

			for (x = 1; x <= s.w; x++) {
				pv = lev[(size_t)(y - 1) * s.w + x - 1];
				acc += pv;
				acc2 += pv * pv;
				want[y * stride + x] =
					want[(y - 1) * stride + x] + acc;
				want2[y * stride + x] =
					want2[(y - 1) * stride + x] + acc2;
			}
		}
		for (y = 0; y <= s.h; y++) {
			for (x = 0; x <= s.w; x++) {
				cr_assert_eq(dmk__detector_integral(det, i, x,
						y, false, &got), 0);
				cr_assert_eq(got, want[y * stride + x],
					     "%s level %u (%ux%u): integral "
					     "(%u, %u) is %u, not %u",
					     img->name, i, s.w, s.h, x, y, got,
					     want[y * stride + x]);
				if (!haar)
					continue;
				cr_assert_eq(dmk__detector_integral(det, i, x,
						y, true, &got), 0);
				cr_assert_eq(got, want2[y * stride + x],
					     "%s level %u: squared integral "
					     "(%u, %u)", img->name, i, x, y);
			}
		}
		cr_assert_eq(dmk__detector_integral(det, i, s.w + 1, 0, false,
						    &got), -ERANGE);
		free(lev);
		free(want);
		free(want2);
		nlev++;
	}
	cr_assert_gt(nlev, 2);
	if (scale == 2 && !(img->w % 2) && !(img->h % 2))
		cr_assert_geq(halves, 1, "no exact halving checked");
	boxes_free(&gpu);
	gray_free(&g);
	dmk_detector_free(det);
}

DMK_TEST(detectvk, pyramid_exact, .init = tmp_init, .fini = tmp_fini)
{
	struct dmk_cascade *lbp, *haar;
	struct image img, odd;
	uint32_t x, y, seed = 12345;
	struct dmk_vk *vk;

	load_images(&img, 1, false);
	vk = vk_open();
	/* An odd-sized crop with noise: taps at every fraction. */
	odd.w = (img.w / 2) | 1;
	odd.h = (img.h / 3) | 1;
	snprintf(odd.name, sizeof(odd.name), "noisy crop");
	odd.px = malloc((size_t)odd.w * odd.h);
	cr_assert_not_null(odd.px);
	for (y = 0; y < odd.h; y++)
		for (x = 0; x < odd.w; x++) {
			seed = seed * 1103515245u + 12345u;
			odd.px[y * odd.w + x] = (uint8_t)(img.px[(y + img.h /
				8) * img.w + x + img.w / 4] ^
				((seed >> 16) & 0x1f));
		}
	lbp = cascade(LBP_XML);
	haar = cascade(HAAR_XML);
	check_levels(vk, lbp, &img, 1.1);
	check_levels(vk, haar, &img, 2.0);
	check_levels(vk, haar, &odd, 1.07);
	dmk_cascade_free(lbp);
	dmk_cascade_free(haar);
	free(odd.px);
	free(img.px);
	dmk_vk_free(vk);
}

/*
 * Float stage sums, as on a device without shaderFloat64: forced here,
 * the result stays within FLOAT_MAX_DIFF_SHARE of the double one.
 */
DMK_TEST(detectvk, float_sums_bounded, .init = tmp_init, .fini = tmp_fini)
{
	static const char *const paths[] = { LBP_XML, HAAR_XML };
	DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.1);
	struct dmk_vk *vk;
	struct image img;
	size_t k;

	load_images(&img, 1, false);
	vk = vk_open();
	for (k = 0; k < ARRAY_SIZE(paths); k++) {
		struct dmk_cascade *c = cascade(paths[k]);
		struct dmk_detector *det;
		struct boxes cpu, gpu;
		struct gray g;
		size_t d;

		cr_assert_eq(dmk__detector_new(vk, c, img.w, img.h, &p,
					       DMK__DETECTOR_FLOAT, &det), 0);
		cr_assert_not(dmk__detector_f64(det));
		cr_assert(strstr(last_log, "float"), "no note logged: '%s'",
			  last_log);
		gray_new(vk, img.w, img.h, &g);
		gray_put(&g, &img);
		cpu_boxes(c, &img, &p, &cpu);
		gpu_boxes(det, &g, &gpu);
		cr_assert_gt(cpu.n, 10);
		d = sym_diff(&cpu, &gpu);
		cr_log_info("detectvk: float sums, %s: %zu of %zu raw hits "
			    "differ", paths[k], d, cpu.n);
		cr_assert_leq((double)d, FLOAT_MAX_DIFF_SHARE * cpu.n,
			      "%zu of %zu hits differ with float sums", d,
			      cpu.n);
		boxes_free(&cpu);
		boxes_free(&gpu);
		gray_free(&g);
		dmk_detector_free(det);
		dmk_cascade_free(c);
	}
	free(img.px);
	dmk_vk_free(vk);
}

/*
 * The passes one by one (dmk__detector_record_upto(): rows, cols, walk,
 * then a pass a stage), on a frame of the default clip's size: each
 * prefix, replayed after the full chain ran, leaves the counters of the
 * stages it ran equal to the full run's and those it did not at 0 (the
 * rows pass resets them every replay).  With --verbose it logs what each
 * pass adds to a frame's time: how BENCHMARKS.md's profile was taken
 * (noisy where other work shares the CPU).
 */
DMK_TEST(detectvk, pass_profile, .init = tmp_init, .fini = tmp_fini)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.1);
	uint32_t k, s, npasses, nstages, full[64], got;
	double prev = 0, best, t;
	struct dmk_detector *det;
	struct dmk_vk_chain *ch;
	struct dmk_cascade *c;
	struct timespec t0, t1;
	struct dmk_vk *vk;
	struct image img;
	struct gray g;
	int r;

	load_images(&img, 1, false);
	vk = vk_open();
	c = cascade(LBP_XML);
	nstages = c->nstages;
	cr_assert_leq(nstages, ARRAY_SIZE(full));
	cr_assert_eq(dmk_detector_new(vk, c, img.w, img.h, &p, &det), 0);
	npasses = dmk__detector_passes(det);
	cr_assert_eq(npasses, 2 + nstages);
	gray_new(vk, img.w, img.h, &g);
	gray_put(&g, &img);
	for (k = 1; k <= npasses + 1; k++) {
		/* The full chain first (k = npasses + 1 is all of it). */
		uint32_t upto = k == 1 ? UINT32_MAX : k - 1;

		cr_assert_eq(dmk_vk_chain_new(vk, &ch), 0);
		cr_assert_eq(dmk__detector_record_upto(det, ch, g.mem,
						       g.offset, g.pitch,
						       upto), 0);
		cr_assert_eq(dmk_vk_chain_end(ch), 0);
		best = 1e9;
		/* A chain's first run costs more on lavapipe: the best of
		 * the next two. */
		for (r = 0; r < 3; r++) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			cr_assert_eq(dmk_vk_chain_run(ch), 0);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			t = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
			if (r)
				best = t < best ? t : best;
		}
		dmk_vk_chain_free(ch);
		for (s = 0; s < nstages; s++) {
			cr_assert_eq(dmk__detector_survivors(det, s, &got), 0);
			if (k == 1)
				full[s] = got;
			else if (s + 3 <= upto)
				cr_assert_eq(got, full[s], "pass %u: stage %u "
					     "let %u through, not %u", upto, s,
					     got, full[s]);
			else
				cr_assert_eq(got, 0, "pass %u: stage %u's "
					     "counter is %u", upto, s, got);
		}
		if (k == 1) {
			cr_assert_gt(full[0], 0);
			cr_assert_gt(full[nstages - 1], 0, "no hit");
			cr_log_info("detectvk: %s, %ux%u: %.2f ms a frame",
				    dmk_vk_device_name(vk), img.w, img.h, best);
			continue;
		}
		cr_log_info("detectvk: pass %2u (%s): +%.2f ms (%.2f ms)",
			    upto, upto == 1 ? "rows" : upto == 2 ? "cols" :
			    upto == 3 ? "walk, stage 0" : "a stage", best - prev,
			    best);
		prev = best;
	}
	cr_assert_eq(dmk__detector_survivors(det, nstages, &got), -ENOENT);
	gray_free(&g);
	free(img.px);
	dmk_detector_free(det);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

/* ---- in a chain after a conversion ---- */

/*
 * An NV12 frame whose Y plane is the photo (chroma neutral), converted
 * to GRAY8 at its own size (a copy of Y) by dmk_vk_chain_convert(), then
 * the detector, in one chain: the CPU's boxes on the Y plane.  The chain
 * is replayed: the hits are reset by the chain itself.
 */
DMK_TEST(detectvk, chain_after_convert, .init = tmp_init, .fini = tmp_fini)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.1,
		 .min_neighbors = 3);
	DMK_OPTS(dmk_vk_convert, cv);
	struct dmk_vk *vk;
	struct dmk_cascade *c;
	struct dmk_frame_layout l;
	struct dmk_detector *det;
	struct dmk_buf *src, *dst;
	struct dmk_vk_mem *ms, *md;
	struct dmk_vk_chain *chain;
	struct boxes cpu, gpu;
	struct image img;
	uint8_t *sp, *dp;
	void *map;
	uint32_t y, run;
	uint64_t dst_size;

	load_images(&img, 1, false);
	vk = vk_open();
	c = cascade(LBP_XML);
	cr_assert_eq(dmk_frame_layout_init(&l, DRM_FORMAT_NV12, img.w, img.h,
					   NULL), 0);
	src = dmk_test_alloc("memfd", (l.size + 4095) & ~4095ull,
			     "detectvk-nv12");
	cr_assert_eq(dmk_buf_map(src, &map), 0);
	sp = map;
	memset(sp, 128, l.size);
	for (y = 0; y < img.h; y++)
		memcpy(sp + l.offset[0] + (size_t)y * l.pitch[0],
		       img.px + (size_t)y * img.w, img.w);
	dst_size = ((uint64_t)img.w * img.h + 4095) & ~4095ull;
	dst = dmk_test_alloc("memfd", dst_size, "detectvk-gray8");
	cr_assert_eq(dmk_buf_map(dst, &map), 0);
	dp = map;
	cr_assert_eq(dmk_vk_import(vk, src, NULL, &ms), 0);
	cr_assert_eq(dmk_vk_import(vk, dst, NULL, &md), 0);

	cr_assert_eq(dmk_detector_new(vk, c, img.w, img.h, &p, &det), 0);
	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	cv.kind = DMK_VK_CONVERT_GRAY8;
	cv.src = ms;
	cv.src_layout = l;
	cv.dst = md;
	cv.out_w = img.w;
	cv.out_h = img.h;
	cr_assert_eq(dmk_vk_chain_convert(chain, &cv), 0);
	cr_assert_eq(dmk_detector_record(det, chain, md, 0, img.w), 0);
	cr_assert_eq(dmk_vk_chain_end(chain), 0);

	cpu_boxes(c, &img, &p, &cpu);
	cr_assert_gt(cpu.n, 0, "no face on the CPU");
	gpu.r = calloc(MAX_BOXES, sizeof(*gpu.r));
	cr_assert_not_null(gpu.r);
	for (run = 0; run < 2; run++) {
		memset(dp, 0, dst_size);
		cr_assert_eq(dmk_vk_chain_run(chain), 0);
		cr_assert(!memcmp(dp, img.px, (size_t)img.w * img.h),
			  "GRAY8 is not the Y plane");
		cr_assert_eq(dmk_detector_collect(det, gpu.r, MAX_BOXES,
						  &gpu.n), 0);
		assert_same(&cpu, &gpu, run ? "replay" : "first run");
	}
	boxes_free(&cpu);
	boxes_free(&gpu);
	dmk_vk_chain_free(chain);
	dmk_detector_free(det);
	dmk_vk_mem_put(ms);
	dmk_vk_mem_put(md);
	dmk_buf_put(src);
	dmk_buf_put(dst);
	free(img.px);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

/*
 * Frames of different content in turn, through the chains the detector
 * caches per gray buffer, then through one buffer rewritten between
 * runs: each frame gets its own boxes, none of the previous one's.
 */
DMK_TEST(detectvk, frames_in_turn, .init = tmp_init, .fini = tmp_fini)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.2,
		 .min_neighbors = 0);
	struct dmk_cascade *c;
	struct dmk_vk *vk;
	struct image img[2];
	struct boxes cpu[2], gpu;
	struct dmk_detector *det;
	struct gray g[2];
	uint32_t i, x, y;

	load_images(&img[0], 1, false);
	vk = vk_open();
	c = cascade(LBP_XML);
	/* The second frame: the photo mirrored, so other windows hit. */
	img[1] = img[0];
	img[1].px = malloc((size_t)img[0].w * img[0].h);
	cr_assert_not_null(img[1].px);
	for (y = 0; y < img[0].h; y++)
		for (x = 0; x < img[0].w; x++)
			img[1].px[y * img[0].w + x] =
				img[0].px[y * img[0].w + img[0].w - 1 - x];
	cr_assert_eq(dmk_detector_new(vk, c, img[0].w, img[0].h, &p, &det),
		     0);
	for (i = 0; i < 2; i++) {
		gray_new(vk, img[i].w, img[i].h, &g[i]);
		gray_put(&g[i], &img[i]);
		cpu_boxes(c, &img[i], &p, &cpu[i]);
	}
	/* The frames must tell apart (sym_diff sorts: on copies). */
	{
		struct boxes a, b;

		cpu_boxes(c, &img[0], &p, &a);
		cpu_boxes(c, &img[1], &p, &b);
		cr_assert_gt(sym_diff(&a, &b), 0, "mirroring changed nothing");
		boxes_free(&a);
		boxes_free(&b);
	}
	for (i = 0; i < 6; i++) {
		gpu_boxes(det, &g[i % 2], &gpu);
		assert_same(&cpu[i % 2], &gpu, i % 2 ? "mirrored" : "plain");
		boxes_free(&gpu);
	}
	/* One buffer, new content each frame. */
	for (i = 0; i < 4; i++) {
		gray_put(&g[0], &img[i % 2]);
		gpu_boxes(det, &g[0], &gpu);
		assert_same(&cpu[i % 2], &gpu, "rewritten buffer");
		boxes_free(&gpu);
	}
	for (i = 0; i < 2; i++) {
		gray_free(&g[i]);
		free(img[i].px);
	}
	free(cpu[0].r);
	free(cpu[1].r);
	dmk_detector_free(det);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

/*
 * No allocation on the frame path: dmk_detector_collect() makes none,
 * and dmk_detector_run() on a cached chain makes no more than running a
 * chain does by itself (the driver's own, if any).
 */
DMK_TEST(detectvk, no_alloc_per_frame, .init = tmp_init, .fini = tmp_fini)
{
	DMK_OPTS(dmk_detect_params, p, .scale_factor = 1.2);
	struct dmk_rect rects[64];
	struct dmk_detector *det;
	struct dmk_vk_chain *chain;
	struct dmk_cascade *c;
	struct dmk_vk *vk;
	struct image img;
	struct gray g;
	long n_collect, n_run, n_chain;
	size_t n;
	int i, ret = 0;

	if (!DMK_TEST_CAN_COUNT_ALLOCS)
		cr_skip_test("allocations are not counted under ASan");
	load_images(&img, 1, false);
	vk = vk_open();
	c = cascade(LBP_XML);
	cr_assert_eq(dmk_detector_new(vk, c, img.w, img.h, &p, &det), 0);
	gray_new(vk, img.w, img.h, &g);
	gray_put(&g, &img);
	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, g.offset,
					 g.pitch), 0);
	cr_assert_eq(dmk_vk_chain_end(chain), 0);
	/* Warm up: the cached chain, the driver's first submissions. */
	for (i = 0; i < 2; i++) {
		ret |= dmk_detector_run(det, g.mem, g.offset, g.pitch, rects,
					ARRAY_SIZE(rects), &n);
		ret |= dmk_vk_chain_run(chain);
	}
	cr_assert_eq(ret, 0);

	dmk_test_count_allocs_start();
	for (i = 0; i < 20; i++)
		ret |= dmk_detector_collect(det, rects, ARRAY_SIZE(rects), &n);
	n_collect = dmk_test_count_allocs_stop();
	dmk_test_count_allocs_start();
	for (i = 0; i < 5; i++)
		ret |= dmk_vk_chain_run(chain);
	n_chain = dmk_test_count_allocs_stop();
	dmk_test_count_allocs_start();
	for (i = 0; i < 5; i++)
		ret |= dmk_detector_run(det, g.mem, g.offset, g.pitch, rects,
					ARRAY_SIZE(rects), &n);
	n_run = dmk_test_count_allocs_stop();
	cr_assert_eq(ret, 0);
	cr_assert_gt(n, 0, "no face found");
	cr_assert_eq(n_collect, 0, "%ld allocations in 20 collects",
		     n_collect);
	cr_assert_leq(n_run, n_chain, "%ld allocations in 5 detector runs, "
		      "%ld in 5 runs of a chain", n_run, n_chain);
	cr_log_info("detectvk: 5 frames: %ld allocations (the driver's: %ld "
		    "in 5 bare chain runs)", n_run, n_chain);
	dmk_vk_chain_free(chain);
	gray_free(&g);
	free(img.px);
	dmk_detector_free(det);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

/* ---- errors ---- */

DMK_TEST(detectvk, small_image_no_faces, .init = tmp_init, .fini = tmp_fini)
{
	struct dmk_cascade *c;
	struct dmk_detector *det;
	struct dmk_rect r[4];
	struct dmk_vk *vk;
	struct image img;
	struct gray g;
	size_t n = 99;

	require_cascades();
	vk = vk_open();
	c = cascade(LBP_XML);	/* a 45x45 window */
	img.w = 44;
	img.h = 60;
	img.px = malloc((size_t)img.w * img.h);
	cr_assert_not_null(img.px);
	memset(img.px, 77, (size_t)img.w * img.h);
	cr_assert_eq(dmk_detector_new(vk, c, img.w, img.h, NULL, &det), 0);
	gray_new(vk, img.w, img.h, &g);
	gray_put(&g, &img);
	cr_assert_eq(dmk_detector_run(det, g.mem, g.offset, g.pitch, r, 4,
				      &n), 0);
	cr_assert_eq(n, 0);
	/* Also a 1x1 image. */
	dmk_detector_free(det);
	cr_assert_eq(dmk_detector_new(vk, c, 1, 1, NULL, &det), 0);
	n = 99;
	cr_assert_eq(dmk_detector_run(det, g.mem, g.offset, g.pitch, r, 4,
				      &n), 0);
	cr_assert_eq(n, 0);
	dmk_detector_free(det);
	gray_free(&g);
	free(img.px);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}

DMK_TEST(detectvk, bad_arguments, .init = tmp_init, .fini = tmp_fini)
{
	DMK_OPTS(dmk_detect_params, bad_scale, .scale_factor = 0.9);
	DMK_OPTS(dmk_detect_params, tiny_scale, .scale_factor = 1.00001);
	struct dmk_detect_params future;
	struct dmk_vk *vk, *vk2;
	struct dmk_cascade *c;
	struct dmk_detector *det = NULL;
	struct dmk_vk_chain *chain, *other;
	struct dmk_vk_mem *own;
	struct dmk_rect r[4];
	struct gray g;
	size_t n;

	require_cascades();
	vk = vk_open();
	c = cascade(LBP_XML);
	cr_assert_eq(dmk_detector_new(NULL, c, 64, 64, NULL, &det), -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, NULL, 64, 64, NULL, &det), -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, c, 64, 64, NULL, NULL), -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, c, 0, 64, NULL, &det), -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, c, 64, 0, NULL, &det), -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, c, 16385, 64, NULL, &det),
		     -EINVAL);
	cr_assert_eq(dmk_detector_new(vk, c, 64, 64, &bad_scale, &det),
		     -EINVAL);
	cr_assert(strstr(last_log, "scale"), "log: '%s'", last_log);
	cr_assert_eq(dmk_detector_new(vk, c, 640, 480, &tiny_scale, &det),
		     -EINVAL);
	/* A params struct from a newer library with a field we lack. */
	{
		unsigned char big[sizeof(future) + 8];

		memset(big, 0, sizeof(big));
		future.sz = sizeof(big);
		future.scale_factor = 1.1;
		memcpy(big, &future, sizeof(future));
		big[sizeof(future) + 2] = 1;
		cr_assert_eq(dmk_detector_new(vk, c, 64, 64,
				(struct dmk_detect_params *)big, &det),
			     -EINVAL);
	}
	cr_assert_null(det, "*out written on failure");

	cr_assert_eq(dmk_detector_new(vk, c, 200, 100, NULL, &det), 0);
	gray_new(vk, 200, 100, &g);
	cr_assert_eq(dmk_vk_chain_new(vk, &chain), 0);
	/* pitch < width; unaligned offset; NULLs. */
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, 0, 199), -EINVAL);
	cr_assert(strstr(last_log, "pitch"), "log: '%s'", last_log);
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, 8, 200), -EINVAL);
	cr_assert_eq(dmk_detector_record(NULL, chain, g.mem, 0, 200),
		     -EINVAL);
	cr_assert_eq(dmk_detector_record(det, NULL, g.mem, 0, 200), -EINVAL);
	cr_assert_eq(dmk_detector_record(det, chain, NULL, 0, 200), -EINVAL);
	cr_assert_eq(dmk_detector_run(det, g.mem, 0, 199, r, 4, &n), -EINVAL);
	/* The buffer too small for the rows, the pitch, the offset. */
	cr_assert_eq(dmk_detector_record(det, chain, g.mem,
					 dmk_vk_mem_size(g.mem) - 16384, 200),
		     -ERANGE);
	cr_assert(strstr(last_log, "needs"), "log: '%s'", last_log);
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, 0, 1000000),
		     -ERANGE);
	cr_assert_eq(dmk_detector_record(det, chain, g.mem,
					 dmk_vk_mem_size(g.mem) + 16, 200),
		     -ERANGE);
	cr_assert_eq(dmk_detector_run(det, g.mem, 0, 1000000, r, 4, &n),
		     -ERANGE);
	/* A buffer whose size is not a multiple of 4 ending in the image's
	 * last word: the shader reads whole words. */
	cr_assert_eq(dmk__vk_mem_new(vk, 200 * 100 - 2, true, &own), 0);
	cr_assert_eq(dmk_detector_record(det, chain, own, 0, 200), -ERANGE);
	dmk_vk_mem_put(own);
	/* A chain of another context. */
	cr_assert_eq(dmk_vk_new(NULL, &vk2), 0);
	cr_assert_eq(dmk_vk_chain_new(vk2, &other), 0);
	cr_assert_eq(dmk_detector_record(det, other, g.mem, 0, 200), -EINVAL);
	dmk_vk_chain_free(other);
	dmk_vk_free(vk2);
	/* An ended chain takes no more dispatches. */
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, 0, 200), 0);
	cr_assert_eq(dmk_vk_chain_end(chain), 0);
	cr_assert_eq(dmk_detector_record(det, chain, g.mem, 0, 200), -EINVAL);
	cr_assert_eq(dmk_detector_collect(det, NULL, 4, &n), -EINVAL);
	cr_assert_eq(dmk_detector_collect(det, r, 4, NULL), -EINVAL);
	cr_assert_eq(dmk_detector_run(det, g.mem, 0, 200, NULL, 4, &n),
		     -EINVAL);
	dmk_vk_chain_free(chain);
	/* A freed gray buffer: the cached chain reports it, then goes. */
	cr_assert_eq(dmk_detector_run(det, g.mem, g.offset, g.pitch, r, 4,
				      &n), 0);
	dmk_buf_put(g.buf);
	cr_assert_eq(dmk_detector_run(det, g.mem, g.offset, g.pitch, r, 4,
				      &n), -ESTALE);
	dmk_vk_mem_put(g.mem);
	dmk_detector_free(det);
	dmk_detector_free(NULL);
	dmk_cascade_free(c);
	dmk_vk_free(vk);
}
