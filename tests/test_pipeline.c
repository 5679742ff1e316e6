// SPDX-License-Identifier: MIT
/*
 * `dmakit pipeline`, end to end: the real binary ($BUILD/dmakit) runs as a
 * subprocess on a small Y4M clip made at test time from matplotlib's
 * grace_hopper photo (tests/opencv_frames.py, /usr/bin/python3 + cv2).
 *
 * - every frame in gives one JSON line out, faces where the clip shows
 *   one, and the same boxes as OpenCV's CascadeClassifier on the same
 *   pixels (the frames' Y planes);
 * - --cpu finds exactly what the Vulkan path finds;
 * - a stage killed with SIGKILL mid-run: the supervisor says which in one
 *   line and exits 1 within a few seconds, no process or socket is left,
 *   the JSON lines are whole;
 * - SIGINT: a clean, lossless stop, exit 0 and a summary;
 * - bad input, a bad cascade, a stage that fails at start-up, bad options:
 *   one line, exit 1 (2 for usage), nothing left running.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/vk.h>

#include "helpers.h"

/* The python with cv2 and the script, as tests/helpers.c finds them. */
#define PYTHON ((char *)dmk_test_python())
#define FRAMES_PY ((char *)dmk_test_srcfile("tests/opencv_frames.py"))
#define PHOTO "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
#define LBP "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"
#define CLIP_FACE 8		/* frames showing the face */
#define CLIP_BLANK 4		/* then frames without one */
#define CLIP_FRAMES (CLIP_FACE + CLIP_BLANK)
#define RUN_TIMEOUT_S 240	/* a whole run, generous for ASan + lavapipe */

static char tmp_dir[PATH_MAX];

static const char *build_dir(void)
{
	const char *b = getenv("BUILD");

	return b && *b ? b : "build";
}

static void dmakit_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/dmakit", build_dir());
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmp_setup(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/dmk-test-pipeline-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_dir));
}

static void tmp_teardown(void)
{
	if (tmp_dir[0])
		nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_dir[0] = '\0';
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	/* tmp_dir is short (mkdtemp in /tmp): the precision only tells
	 * the compiler so. */
	snprintf(buf, len, "%.256s/%s", tmp_dir, name);
}

static void in_dir(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%.1024s/%s", dir, name);
}

/* Start @argv with stdout and stderr into files; its pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		close(o);
		close(e);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Exit status (or 128 + signal) of @pid, or -1 when it outlived
 * @timeout_ms (it is then killed and reaped). */
static int wait_exit(pid_t pid, long timeout_ms)
{
	int64_t end = mono_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		cr_assert_geq(r, 0);
		if (r == pid)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
			       WEXITSTATUS(status);
		if (mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(10);
	}
}

/* Run a command to its end; its status (see wait_exit()). */
static int run(char *const argv[], const char *out, const char *err)
{
	return wait_exit(spawn(argv, out, err), RUN_TIMEOUT_S * 1000L);
}

/* A whole small file, NUL-terminated, in a buffer the caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * The OpenCV tests' clip: CLIP_FACE frames panning over the face, then
 * CLIP_BLANK frames without one, from tests/opencv_frames.py (the
 * comparison needs python with cv2 anyway).
 */
static bool make_face_clip(char *clip, size_t len)
{
	char out[PATH_MAX], err[PATH_MAX], face[16], blank[16];
	char *argv[] = { PYTHON, FRAMES_PY,
			 (char *)"make", clip, (char *)"--face", face,
			 (char *)"--blank", blank, NULL };

	if (access(PYTHON, X_OK))
		return false;
	tmp_path(clip, len, "clip.y4m");
	tmp_path(out, sizeof(out), "make.out");
	tmp_path(err, sizeof(err), "make.err");
	snprintf(face, sizeof(face), "%d", CLIP_FACE);
	snprintf(blank, sizeof(blank), "%d", CLIP_BLANK);
	return run(argv, out, err) == 0;
}

static void require_face_clip(char *clip, size_t len)
{
	dmk_test_require(make_face_clip(clip, len) ? 1 : 0,
			 "no test clip: python3 with cv2 ($DMK_PYTHON) and "
			 "matplotlib's grace_hopper.jpg are needed to make it");
}

/* Any clip with a face: `dmakit clip` over the photo (no Python needed),
 * else the OpenCV tests' clip. */
static void require_clip(char *clip, size_t len)
{
	char bin[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	char *argv[] = { bin, (char *)"clip", (char *)PHOTO, (char *)"-o",
			 clip, (char *)"--frames", (char *)"12",
			 (char *)"--size", (char *)"320x240", NULL };

	dmakit_path(bin, sizeof(bin));
	tmp_path(clip, len, "clip.y4m");
	tmp_path(out, sizeof(out), "clip.out");
	tmp_path(err, sizeof(err), "clip.err");
	if (!access(PHOTO, R_OK) && run(argv, out, err) == 0)
		return;
	require_face_clip(clip, len);
}

static bool have_vulkan(void)
{
	struct dmk_vk *vk;

	setenv("XDG_RUNTIME_DIR", "/tmp", 0);
	if (dmk_vk_new(NULL, &vk))
		return false;
	dmk_vk_free(vk);
	return true;
}

/* The pipeline's own arguments after "pipeline", NULL-terminated. */
struct cmd {
	char *argv[40];
	int argc;
	char bin[PATH_MAX];
};

static void cmd_init(struct cmd *c)
{
	memset(c, 0, sizeof(*c));
	dmakit_path(c->bin, sizeof(c->bin));
	cr_assert_eq(access(c->bin, X_OK), 0, "%s is not built", c->bin);
	c->argv[c->argc++] = c->bin;
	c->argv[c->argc++] = (char *)"pipeline";
}

static void cmd_add(struct cmd *c, const char *arg)
{
	cr_assert_lt(c->argc, 38);
	c->argv[c->argc++] = (char *)arg;
	c->argv[c->argc] = NULL;
}

/* Parse the --pids file: pids of reader, detector, sink; the socket dir. */
static bool read_pids(const char *path, pid_t pids[3], char *sockdir,
		      size_t len)
{
	char *s = slurp(path), *p;
	int r, d, k;
	bool ok;

	if (!s)
		return false;
	ok = sscanf(s, "reader %d\ndetector %d\nsink %d\n", &r, &d, &k) == 3;
	p = strstr(s, "sockets ");
	if (ok && p && sscanf(p, "sockets %1023s", sockdir) == 1 &&
	    strlen(sockdir) < len) {
		pids[0] = r;
		pids[1] = d;
		pids[2] = k;
	} else {
		ok = false;
	}
	free(s);
	return ok;
}

/* No process @pid any more (a zombie counts as gone once reaped by
 * whoever owns it: give that a moment). */
static bool gone(pid_t pid)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	for (i = 0; i < 200; i++) {
		if (access(path, F_OK))
			return true;
		sleep_ms(10);
	}
	return false;
}

/*
 * Every line of the JSON lines file whole, frames 0, 1, 2... in order.
 * Returns the number of lines; *@faces the frames with a face.
 */
static int check_jsonl(const char *path, int *faces)
{
	char *s = slurp(path), *line, *nl;
	int n = 0;

	cr_assert_not_null(s, "%s missing", path);
	if (faces)
		*faces = 0;
	for (line = s; *line; line = nl + 1) {
		unsigned long long frame;
		char *f;

		nl = strchr(line, '\n');
		cr_assert_not_null(nl, "line %d of %s is cut: %s", n, path,
				   line);
		*nl = '\0';
		cr_assert_eq(sscanf(line, "{\"frame\":%llu,", &frame), 1,
			     "line %d: %s", n, line);
		cr_assert_eq(frame, (unsigned long long)n, "line %d is "
			     "frame %llu", n, frame);
		cr_assert_eq(nl[-1], '}', "line %d: %s", n, line);
		f = strstr(line, "\"faces\":[");
		cr_assert_not_null(f, "line %d: %s", n, line);
		if (faces && f[9] == '{')
			(*faces)++;
		n++;
	}
	free(s);
	return n;
}

/* Wait until the JSON lines file has @n lines (a running pipeline). */
static bool wait_lines(const char *path, int n, long timeout_ms)
{
	int64_t end = mono_ms() + timeout_ms;

	while (mono_ms() < end) {
		char *s = slurp(path);
		int have = s ? count_lines(s) : 0;

		free(s);
		if (have >= n)
			return true;
		sleep_ms(50);
	}
	return false;
}

/* The "faces":[...] of every line, to compare two runs. */
static char *faces_of(const char *path)
{
	char *s = slurp(path), *out, *o, *p;

	cr_assert_not_null(s);
	out = calloc(1, strlen(s) + 1);
	cr_assert_not_null(out);
	o = out;
	for (p = s; (p = strstr(p, "\"faces\":[")); ) {
		char *e = strchr(p, ']');

		cr_assert_not_null(e);
		memcpy(o, p, (size_t)(e - p + 1));
		o += e - p + 1;
		*o++ = '\n';
		p = e;
	}
	free(s);
	return out;
}

static bool is_png(const char *path)
{
	static const unsigned char magic[8] = { 0x89, 'P', 'N', 'G', '\r',
						'\n', 0x1a, '\n' };
	unsigned char buf[8];
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fread(buf, 1, 8, f) == 8 && !memcmp(buf, magic, 8);
	fclose(f);
	return ok;
}

/* Every file of @dir is a JSON lines file or a whole PNG: no
 * temporary left behind. */
static void check_out_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strstr(e->d_name, ".jsonl"))
			continue;
		cr_assert(strstr(e->d_name, ".png") && !strstr(e->d_name,
			  ".tmp") && is_png(path), "stray file %s", path);
	}
	closedir(d);
}

/* ---- end to end ---- */

static void run_clip(const char *clip, bool cpu, const char *out_dir,
		     char *stdout_text, size_t len)
{
	char out[PATH_MAX], err[PATH_MAX], *s;
	struct cmd c;
	int st;

	cmd_init(&c);
	cmd_add(&c, clip);
	cmd_add(&c, "--out");
	cmd_add(&c, out_dir);
	cmd_add(&c, "--quiet");
	cmd_add(&c, "--png-every");
	cmd_add(&c, "4");
	if (cpu)
		cmd_add(&c, "--cpu");
	tmp_path(out, sizeof(out), cpu ? "cpu.out" : "vk.out");
	tmp_path(err, sizeof(err), cpu ? "cpu.err" : "vk.err");
	st = run(c.argv, out, err);
	s = slurp(err);
	cr_assert_eq(st, 0, "dmakit pipeline%s exited %d: %s",
		     cpu ? " --cpu" : "", st, s ? s : "");
	cr_assert_str_empty(s, "stderr: %s", s);
	free(s);
	s = slurp(out);
	snprintf(stdout_text, len, "%s", s ? s : "");
	free(s);
}

/* OpenCV on the same frames: matched and extra boxes. */
static void compare_opencv(const char *clip, const char *jsonl)
{
	char out[PATH_MAX], err[PATH_MAX], *s;
	char *argv[] = { PYTHON, FRAMES_PY,
			 (char *)"compare", (char *)clip, (char *)jsonl,
			 (char *)"--cascade", (char *)LBP, NULL };
	int frames, lines, ocv, ours, matched, extra, face_frames, st;

	tmp_path(out, sizeof(out), "cmp.out");
	tmp_path(err, sizeof(err), "cmp.err");
	st = run(argv, out, err);
	s = slurp(err);
	cr_assert_eq(st, 0, "opencv_frames.py compare: %s", s ? s : "");
	cr_log_info("%s", s);
	free(s);
	s = slurp(out);
	cr_assert_eq(sscanf(s, "frames %d lines %d opencv %d ours %d matched "
			    "%d extra %d faceframes %d", &frames, &lines, &ocv,
			    &ours, &matched, &extra, &face_frames), 7, "%s", s);
	free(s);
	cr_assert_eq(frames, CLIP_FRAMES);
	cr_assert_eq(lines, CLIP_FRAMES);
	cr_assert_geq(ocv, CLIP_FACE, "OpenCV found %d faces", ocv);
	/* IoU >= 0.5 for >= 95% of OpenCV's boxes, <= 5% extra. */
	cr_assert_geq(matched * 100, ocv * 95, "matched %d of OpenCV's %d",
		      matched, ocv);
	cr_assert_leq(extra * 100, ocv * 5, "%d boxes OpenCV did not find "
		      "(of its %d)", extra, ocv);
	cr_assert_geq(face_frames, CLIP_FACE, "faces on %d frames",
		      face_frames);
}

DMK_TEST(pipeline, vulkan_matches_opencv)
{
	char clip[PATH_MAX], dir[PATH_MAX], jsonl[PATH_MAX], png[PATH_MAX];
	char summary[4096];
	int faces, n;

	tmp_setup();
	require_face_clip(clip, sizeof(clip));
	dmk_test_require(have_vulkan(), "no Vulkan device");
	tmp_path(dir, sizeof(dir), "out");
	run_clip(clip, false, dir, summary, sizeof(summary));
	in_dir(jsonl, sizeof(jsonl), dir, "detections.jsonl");
	n = check_jsonl(jsonl, &faces);
	cr_assert_eq(n, CLIP_FRAMES, "%d lines for %d frames", n,
		     CLIP_FRAMES);
	cr_assert_eq(faces, CLIP_FACE, "faces on %d frames", faces);
	cr_assert(strstr(summary, "12 frames"), "summary: %s", summary);
	/* --png-every 4: frames 0, 4 and 8. */
	in_dir(png, sizeof(png), dir, "frame-000004.png");
	cr_assert(is_png(png), "%s", png);
	in_dir(png, sizeof(png), dir, "frame-000008.png");
	cr_assert(is_png(png), "%s", png);
	in_dir(png, sizeof(png), dir, "frame-000003.png");
	cr_assert(access(png, F_OK), "%s should not exist", png);
	check_out_dir(dir);
	compare_opencv(clip, jsonl);
	tmp_teardown();
}

DMK_TEST(pipeline, cpu_matches_opencv_and_vulkan)
{
	char clip[PATH_MAX], dir[PATH_MAX], jsonl[PATH_MAX];
	char summary[4096], *cpu, *vk;
	int faces;

	tmp_setup();
	require_face_clip(clip, sizeof(clip));
	tmp_path(dir, sizeof(dir), "cpu");
	run_clip(clip, true, dir, summary, sizeof(summary));
	in_dir(jsonl, sizeof(jsonl), dir, "detections.jsonl");
	cr_assert_eq(check_jsonl(jsonl, &faces), CLIP_FRAMES);
	cr_assert_eq(faces, CLIP_FACE);
	compare_opencv(clip, jsonl);
	cpu = faces_of(jsonl);
	if (have_vulkan()) {
		tmp_path(dir, sizeof(dir), "vk");
		run_clip(clip, false, dir, summary, sizeof(summary));
		in_dir(jsonl, sizeof(jsonl), dir, "detections.jsonl");
		vk = faces_of(jsonl);
		cr_assert_str_eq(cpu, vk, "--cpu found\n%s\nVulkan found\n%s",
				 cpu, vk);
		free(vk);
	} else {
		cr_log_warn("no Vulkan device: --cpu checked against OpenCV "
			    "only");
	}
	free(cpu);
	tmp_teardown();
}

DMK_TEST(pipeline, frames_limit_and_json_summary)
{
	char clip[PATH_MAX], dir[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	char jsonl[PATH_MAX], *s;
	struct cmd c;
	int st;

	tmp_setup();
	require_clip(clip, sizeof(clip));
	tmp_path(dir, sizeof(dir), "out");
	tmp_path(jsonl, sizeof(jsonl), "lines.jsonl");
	tmp_path(out, sizeof(out), "run.out");
	tmp_path(err, sizeof(err), "run.err");
	cmd_init(&c);
	cmd_add(&c, clip);
	cmd_add(&c, "--cpu");
	cmd_add(&c, "--loop");	/* --frames ends it, not the file */
	cmd_add(&c, "--frames");
	cmd_add(&c, "30");
	cmd_add(&c, "--png-every");
	cmd_add(&c, "0");
	cmd_add(&c, "--out");
	cmd_add(&c, dir);
	cmd_add(&c, "--json");
	cmd_add(&c, jsonl);
	cmd_add(&c, "--json-summary");
	st = run(c.argv, out, err);
	s = slurp(err);
	cr_assert_eq(st, 0, "exit %d: %s", st, s);
	free(s);
	cr_assert_eq(check_jsonl(jsonl, NULL), 30);
	s = slurp(out);
	cr_assert(strstr(s, "\"frames\": 30,"), "%s", s);
	cr_assert(strstr(s, "\"stopped_by\": \"--frames\""), "%s", s);
	cr_assert(strstr(s, "\"drops\": 0,"), "%s", s);
	cr_assert(strstr(s, "\"loops\": 2,"), "%s", s);
	free(s);
	tmp_teardown();
}

/* ---- a stage dies ---- */

static void kill_stage(int stage)
{
	static const char *const names[] = { "reader", "detector", "sink" };
	char clip[PATH_MAX], dir[PATH_MAX], jsonl[PATH_MAX], pids_f[PATH_MAX];
	char out[PATH_MAX], err[PATH_MAX], sockdir[1024], expect[128], *s;
	unsigned long long frames;
	pid_t sup, pids[3];
	struct cmd c;
	int64_t t0;
	int st, i, pid;

	tmp_setup();
	require_clip(clip, sizeof(clip));
	tmp_path(dir, sizeof(dir), "out");
	tmp_path(pids_f, sizeof(pids_f), "pids");
	tmp_path(out, sizeof(out), "run.out");
	tmp_path(err, sizeof(err), "run.err");
	in_dir(jsonl, sizeof(jsonl), dir, "detections.jsonl");
	cmd_init(&c);
	cmd_add(&c, clip);
	cmd_add(&c, "--loop");
	cmd_add(&c, "--quiet");
	cmd_add(&c, "--png-every");
	cmd_add(&c, "1");		/* the sink is often mid-PNG */
	cmd_add(&c, "--out");
	cmd_add(&c, dir);
	cmd_add(&c, "--pids");
	cmd_add(&c, pids_f);
	if (!have_vulkan())
		cmd_add(&c, "--cpu");
	sup = spawn(c.argv, out, err);
	if (!wait_lines(jsonl, 5, 120000)) {
		kill(sup, SIGKILL);
		wait_exit(sup, 10000);
		s = slurp(err);
		cr_assert_fail("no detections came: %s", s);
	}
	cr_assert(read_pids(pids_f, pids, sockdir, sizeof(sockdir)));
	cr_assert_eq(access(sockdir, F_OK), 0);

	t0 = mono_ms();
	cr_assert_eq(kill(pids[stage], SIGKILL), 0);
	st = wait_exit(sup, 20000);
	s = slurp(err);
	cr_assert_eq(st, 1, "supervisor exit %d: %s", st, s);
	cr_assert_lt(mono_ms() - t0, 5000, "took %lld ms",
		     (long long)(mono_ms() - t0));
	/* Exactly one line, naming the stage. */
	cr_assert_eq(count_lines(s), 1, "stderr: %s", s);
	snprintf(expect, sizeof(expect), "dmakit pipeline: %s (pid ",
		 names[stage]);
	cr_assert_eq(strncmp(s, expect, strlen(expect)), 0, "stderr: %s", s);
	cr_assert_eq(sscanf(s + strlen(expect), "%d) killed by signal 9 "
			    "after %llu frames\n", &pid, &frames), 2,
		     "stderr: %s", s);
	cr_assert_eq(pid, pids[stage]);
	free(s);
	for (i = 0; i < 3; i++)
		cr_assert(gone(pids[i]), "%s (pid %d) is still there",
			  names[i], (int)pids[i]);
	cr_assert_neq(access(sockdir, F_OK), 0, "%s left behind", sockdir);
	cr_assert_geq(check_jsonl(jsonl, NULL), 5);
	check_out_dir(dir);
	tmp_teardown();
}

DMK_TEST(pipeline, kill_detector)
{
	kill_stage(1);
}

DMK_TEST(pipeline, kill_reader)
{
	kill_stage(0);
}

DMK_TEST(pipeline, kill_sink)
{
	kill_stage(2);
}

DMK_TEST(pipeline, sigint_stops_cleanly)
{
	char clip[PATH_MAX], dir[PATH_MAX], jsonl[PATH_MAX], pids_f[PATH_MAX];
	char out[PATH_MAX], err[PATH_MAX], sockdir[1024], *s, *p;
	unsigned long long read_n = 0, written = 0;
	pid_t sup, pids[3];
	struct cmd c;
	int st, i, n;

	tmp_setup();
	require_clip(clip, sizeof(clip));
	tmp_path(dir, sizeof(dir), "out");
	tmp_path(pids_f, sizeof(pids_f), "pids");
	tmp_path(out, sizeof(out), "run.out");
	tmp_path(err, sizeof(err), "run.err");
	in_dir(jsonl, sizeof(jsonl), dir, "detections.jsonl");
	cmd_init(&c);
	cmd_add(&c, clip);
	cmd_add(&c, "--loop");
	cmd_add(&c, "--quiet");
	cmd_add(&c, "--json-summary");
	cmd_add(&c, "--out");
	cmd_add(&c, dir);
	cmd_add(&c, "--pids");
	cmd_add(&c, pids_f);
	if (!have_vulkan())
		cmd_add(&c, "--cpu");
	sup = spawn(c.argv, out, err);
	if (!wait_lines(jsonl, 5, 120000)) {
		kill(sup, SIGKILL);
		wait_exit(sup, 10000);
		cr_assert_fail("no detections came");
	}
	cr_assert(read_pids(pids_f, pids, sockdir, sizeof(sockdir)));
	cr_assert_eq(kill(sup, SIGINT), 0);
	st = wait_exit(sup, 30000);
	s = slurp(err);
	cr_assert_eq(st, 0, "supervisor exit %d: %s", st, s);
	cr_assert_str_empty(s, "stderr: %s", s);
	free(s);
	for (i = 0; i < 3; i++)
		cr_assert(gone(pids[i]), "stage pid %d is still there",
			  (int)pids[i]);
	cr_assert_neq(access(sockdir, F_OK), 0, "%s left behind", sockdir);
	s = slurp(out);
	cr_assert(strstr(s, "\"stopped_by\": \"SIGINT\""), "%s", s);
	/* Lossless: every frame read was written. */
	p = strstr(s, "\"reader\"");
	cr_assert(p && sscanf(strstr(p, "\"frames\""), "\"frames\": %llu",
			      &read_n) == 1, "%s", s);
	p = strstr(s, "\"sink\"");
	cr_assert(p && sscanf(strstr(p, "\"frames\""), "\"frames\": %llu",
			      &written) == 1, "%s", s);
	free(s);
	n = check_jsonl(jsonl, NULL);
	cr_assert_eq(read_n, written);
	cr_assert_eq((unsigned long long)n, written);
	check_out_dir(dir);
	tmp_teardown();
}

/* ---- failures before and at start-up ---- */

/* Run with @args; expect @status, one line on stderr holding @needle,
 * and no stage started (no --pids file). */
static void expect_failure(const char *const *args, int status,
			   const char *needle)
{
	char out[PATH_MAX], err[PATH_MAX], pids_f[PATH_MAX], *s;
	struct cmd c;
	int st;

	tmp_path(out, sizeof(out), "fail.out");
	tmp_path(err, sizeof(err), "fail.err");
	tmp_path(pids_f, sizeof(pids_f), "fail.pids");
	cmd_init(&c);
	for (; *args; args++)
		cmd_add(&c, *args);
	cmd_add(&c, "--pids");
	cmd_add(&c, pids_f);
	st = run(c.argv, out, err);
	s = slurp(err);
	cr_assert_eq(st, status, "exit %d, wanted %d: %s", st, status, s);
	cr_assert_eq(count_lines(s), 1, "stderr: %s", s);
	cr_assert(strstr(s, needle), "'%s' not in: %s", needle, s);
	free(s);
	cr_assert_neq(access(pids_f, F_OK), 0, "stages were started");
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

DMK_TEST(pipeline, bad_inputs)
{
	static const char hdr444[] = "YUV4MPEG2 W16 H16 F30:1 C444\nFRAME\n";
	char path[PATH_MAX], outd[PATH_MAX], cascade[PATH_MAX];
	char frame[16 * 16 * 3];

	tmp_setup();
	tmp_path(outd, sizeof(outd), "out");

	tmp_path(path, sizeof(path), "text.y4m");
	write_file(path, "hello, world\n", 13);
	expect_failure((const char *[]){ path, "--out", outd, NULL }, 1,
		       path);

	tmp_path(path, sizeof(path), "truncated.y4m");
	write_file(path, "YUV4MPEG2 W320 H2", 17);
	expect_failure((const char *[]){ path, "--out", outd, NULL }, 1,
		       path);

	tmp_path(path, sizeof(path), "c444.y4m");
	memset(frame, 128, sizeof(frame));
	{
		FILE *f = fopen(path, "we");

		cr_assert_not_null(f);
		fwrite(hdr444, 1, sizeof(hdr444) - 1, f);
		fwrite(frame, 1, sizeof(frame), f);
		fclose(f);
	}
	expect_failure((const char *[]){ path, "--out", outd, NULL }, 1,
		       path);

	tmp_path(path, sizeof(path), "missing.y4m");
	expect_failure((const char *[]){ path, "--out", outd, NULL }, 1,
		       path);

	/* A good clip with a bad cascade. */
	tmp_path(path, sizeof(path), "ok.y4m");
	{
		static const char hdr[] = "YUV4MPEG2 W16 H16 F30:1 C420jpeg\n"
					  "FRAME\n";
		FILE *f = fopen(path, "we");

		cr_assert_not_null(f);
		fwrite(hdr, 1, sizeof(hdr) - 1, f);
		fwrite(frame, 1, 16 * 16 * 3 / 2, f);
		fclose(f);
	}
	tmp_path(cascade, sizeof(cascade), "bad.xml");
	write_file(cascade, "<?xml version=\"1.0\"?>\n<opencv_storage>\n", 39);
	expect_failure((const char *[]){ path, "--out", outd, "--cascade",
					 cascade, NULL }, 1, cascade);
	expect_failure((const char *[]){ path, "--out", outd, "--cascade",
					 "/nonexistent/cascade.xml", NULL },
		       1, "/nonexistent/cascade.xml");

	/* No INPUT and no default clip. */
	setenv("DMAKIT_DATA", "/nonexistent/dmakit-data", 1);
	expect_failure((const char *[]){ "--out", outd, NULL }, 1,
		       "make data");
	unsetenv("DMAKIT_DATA");
	tmp_teardown();
}

DMK_TEST(pipeline, bad_options)
{
	static const char *const bad[][4] = {
		{ "--bogus", NULL },
		{ "--frames", "0", NULL },
		{ "--frames", "x", NULL },
		{ "--scale", "1.0", NULL },
		{ "--min-neighbors", "-1", NULL },
		{ "--pool", "2", NULL },
		{ "--png-every", "-3", NULL },
		{ "--size", "320x240", "a.yuv", NULL },	/* no --format */
		{ "--format", "RGB24", "--size", "320x240" },
		{ "a.y4m", "b.y4m", NULL },
		{ "--cascade", "", NULL },
	};
	size_t i;

	tmp_setup();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[6] = { 0 };
		size_t k;

		for (k = 0; k < 4 && bad[i][k]; k++)
			args[k] = bad[i][k];
		expect_failure(args, 2, "--help");
	}
	tmp_teardown();
}

/* A stage that fails at start-up (the detector: no such Vulkan device):
 * its one line, exit 1, the other stages stopped, nothing left. */
DMK_TEST(pipeline, stage_fails_at_start)
{
	char clip[PATH_MAX], dir[PATH_MAX], pids_f[PATH_MAX], out[PATH_MAX];
	char err[PATH_MAX], sockdir[1024], *s;
	pid_t pids[3];
	struct cmd c;
	int st, i;

	tmp_setup();
	require_clip(clip, sizeof(clip));
	tmp_path(dir, sizeof(dir), "out");
	tmp_path(pids_f, sizeof(pids_f), "pids");
	tmp_path(out, sizeof(out), "run.out");
	tmp_path(err, sizeof(err), "run.err");
	cmd_init(&c);
	cmd_add(&c, clip);
	cmd_add(&c, "--quiet");
	cmd_add(&c, "--out");
	cmd_add(&c, dir);
	cmd_add(&c, "--pids");
	cmd_add(&c, pids_f);
	cmd_add(&c, "--device");
	cmd_add(&c, "no-such-gpu-anywhere");
	st = run(c.argv, out, err);
	s = slurp(err);
	cr_assert_eq(st, 1, "exit %d: %s", st, s);
	cr_assert_eq(count_lines(s), 1, "stderr: %s", s);
	cr_assert(strstr(s, "dmakit pipeline: detector: "), "%s", s);
	cr_assert(strstr(s, "Vulkan"), "%s", s);
	free(s);
	cr_assert(read_pids(pids_f, pids, sockdir, sizeof(sockdir)));
	for (i = 0; i < 3; i++)
		cr_assert(gone(pids[i]), "stage pid %d is still there",
			  (int)pids[i]);
	cr_assert_neq(access(sockdir, F_OK), 0, "%s left behind", sockdir);
	tmp_teardown();
}
