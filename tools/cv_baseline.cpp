// SPDX-License-Identifier: MIT
/*
 * dmakit-cv-baseline: the OpenCV side of `dmakit bench detect`.
 *
 * Loads gray frames (every Y plane of a Y4M file; PGM, PNG or JPEG
 * images, grayed with cvtColor the way `dmakit detect` grays them), then
 * runs CascadeClassifier::detectMultiScale() on each frame, --repeat
 * times over the whole set, and prints one JSON object: what ran, the
 * time, frames per second, and the boxes of every frame, so the caller
 * can compare both sides' speed and boxes from one run.  Frames are all
 * in memory before the clock starts: only detection is timed.
 */
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <getopt.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
/*
 * DMK_CV_Y4M_ONLY: Y4M input only, without imgcodecs and the image
 * libraries it pulls in (tests/gpu/bundle.sh builds it so for a machine
 * that has no OpenCV of its own).
 */
#ifndef DMK_CV_Y4M_ONLY
#include <opencv2/imgcodecs.hpp>
#endif
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace {

constexpr int EXIT_USAGE = 2;
constexpr uint32_t MAX_SIDE = 16384;
constexpr uint64_t MAX_FRAMES_DEFAULT = 100000;

const char help[] =
	"Usage: dmakit-cv-baseline --cascade PATH [options] INPUT...\n"
	"\n"
	"OpenCV's CascadeClassifier::detectMultiScale() over gray frames,\n"
	"timed, as one JSON object on stdout.  INPUT: a Y4M file (its Y\n"
	"planes: 4:2:0, 4:2:2, 4:4:4 or mono) or an image (PGM, PNG, JPEG;\n"
	"colour is grayed with cvtColor).\n"
	"\n"
	"Options:\n"
	"  --cascade PATH      an OpenCV cascade XML file (required)\n"
	"  --scale F           scaleFactor, over 1 (default 1.1)\n"
	"  --min-neighbors N   minNeighbors (default 3)\n"
	"  --min-size WxH      minSize (default none)\n"
	"  --max-size WxH      maxSize (default none)\n"
	"  --threads N         cv::setNumThreads(N); 0 runs on the calling\n"
	"                      thread only (default: OpenCV's own choice)\n"
	"  --repeat N          passes over all frames (default 1)\n"
	"  --warmup N          untimed detections on frame 0 first\n"
	"                      (default 1)\n"
	"  --max-frames N      load at most N frames (default 100000)\n"
	"  --no-boxes          leave the per-frame boxes out\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 ok, 1 an input or the cascade cannot be read, 2 "
	"usage.\n";

struct args {
	std::string cascade;
	double scale = 1.1;
	int min_neighbors = 3;
	cv::Size min_size, max_size;
	int threads = -1;		/* -1: leave OpenCV's default */
	uint64_t repeat = 1, warmup = 1, max_frames = MAX_FRAMES_DEFAULT;
	bool boxes = true;
	std::vector<std::string> inputs;
};

int usage_err(const char *fmt, const char *arg)
{
	std::fprintf(stderr, "dmakit-cv-baseline: ");
	std::fprintf(stderr, fmt, arg);
	std::fprintf(stderr, " (try --help)\n");
	return EXIT_USAGE;
}

bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = std::strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool parse_wxh(const char *s, cv::Size *out)
{
	const char *x = std::strpbrk(s, "xX");
	uint64_t w, h;

	if (!x)
		return false;
	std::string ws(s, (size_t)(x - s));
	if (!parse_u64(ws.c_str(), 1, MAX_SIDE, &w) ||
	    !parse_u64(x + 1, 1, MAX_SIDE, &h))
		return false;
	*out = cv::Size((int)w, (int)h);
	return true;
}

/* 0, EXIT_USAGE after a message, or -1 for --help. */
int parse_args(int argc, char **argv, args *a)
{
	enum { OPT_CASCADE = 256, OPT_SCALE, OPT_NEIGHBORS, OPT_MIN_SIZE,
	       OPT_MAX_SIZE, OPT_THREADS, OPT_REPEAT, OPT_WARMUP,
	       OPT_MAX_FRAMES, OPT_NO_BOXES };
	static const struct option longopts[] = {
		{ "cascade", required_argument, nullptr, OPT_CASCADE },
		{ "scale", required_argument, nullptr, OPT_SCALE },
		{ "min-neighbors", required_argument, nullptr, OPT_NEIGHBORS },
		{ "min-size", required_argument, nullptr, OPT_MIN_SIZE },
		{ "max-size", required_argument, nullptr, OPT_MAX_SIZE },
		{ "threads", required_argument, nullptr, OPT_THREADS },
		{ "repeat", required_argument, nullptr, OPT_REPEAT },
		{ "warmup", required_argument, nullptr, OPT_WARMUP },
		{ "max-frames", required_argument, nullptr, OPT_MAX_FRAMES },
		{ "no-boxes", no_argument, nullptr, OPT_NO_BOXES },
		{ "help", no_argument, nullptr, 'h' },
		{ nullptr, 0, nullptr, 0 }
	};
	uint64_t v;
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, nullptr)) != -1) {
		switch (c) {
		case OPT_CASCADE:
			a->cascade = optarg;
			break;
		case OPT_SCALE:
			errno = 0;
			a->scale = std::strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(a->scale > 1 && a->scale <= 4))
				return usage_err("--scale: '%s' is not over 1 "
						 "and at most 4", optarg);
			break;
		case OPT_NEIGHBORS:
			if (!parse_u64(optarg, 0, 1000, &v))
				return usage_err("--min-neighbors: '%s' is not "
						 "0-1000", optarg);
			a->min_neighbors = (int)v;
			break;
		case OPT_MIN_SIZE:
			if (!parse_wxh(optarg, &a->min_size))
				return usage_err("--min-size: '%s' is not WxH",
						 optarg);
			break;
		case OPT_MAX_SIZE:
			if (!parse_wxh(optarg, &a->max_size))
				return usage_err("--max-size: '%s' is not WxH",
						 optarg);
			break;
		case OPT_THREADS:
			if (!parse_u64(optarg, 0, 1024, &v))
				return usage_err("--threads: '%s' is not "
						 "0-1024", optarg);
			a->threads = (int)v;
			break;
		case OPT_REPEAT:
			if (!parse_u64(optarg, 1, 1000000, &a->repeat))
				return usage_err("--repeat: '%s' is not "
						 "1-1000000", optarg);
			break;
		case OPT_WARMUP:
			if (!parse_u64(optarg, 0, 1000, &a->warmup))
				return usage_err("--warmup: '%s' is not "
						 "0-1000", optarg);
			break;
		case OPT_MAX_FRAMES:
			if (!parse_u64(optarg, 1, 10000000, &a->max_frames))
				return usage_err("--max-frames: '%s' is not "
						 "1-10000000", optarg);
			break;
		case OPT_NO_BOXES:
			a->boxes = false;
			break;
		case 'h':
			std::fputs(help, stdout);
			return -1;
		case ':':
			return usage_err("option '%s' needs an argument",
					 argv[optind - 1]);
		default:
			return usage_err("unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	if (a->cascade.empty())
		return usage_err("%s", "no --cascade given");
	if (optind >= argc)
		return usage_err("%s", "no INPUT given");
	for (int i = optind; i < argc; i++)
		a->inputs.push_back(argv[i]);
	return 0;
}

/* One line on stderr (OpenCV's exception texts end in newlines). */
void fail(std::string what)
{
	while (!what.empty() && (what.back() == '\n' || what.back() == ' '))
		what.pop_back();
	std::fprintf(stderr, "dmakit-cv-baseline: %s\n", what.c_str());
}

/* One Y4M header number: digits only, 1 .. MAX_SIDE. */
bool y4m_dim(const std::string &tok, uint32_t *out)
{
	uint64_t v;

	if (!parse_u64(tok.c_str() + 1, 1, MAX_SIDE, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/*
 * Append the Y plane of every frame of the Y4M file @path to @frames
 * (at most @max in all).  Returns false after saying why.
 */
bool load_y4m(const std::string &path, std::FILE *f,
	      std::vector<cv::Mat> *frames, uint64_t max)
{
	char line[1024];
	uint32_t w = 0, h = 0;
	size_t chroma;
	std::string cs = "420";

	if (!std::fgets(line, sizeof(line), f) || !std::strchr(line, '\n')) {
		fail(path + ": Y4M header missing or over 1023 bytes");
		return false;
	}
	std::string hdr(line, std::strlen(line) - 1);
	size_t pos = 0;
	while (pos < hdr.size()) {
		size_t sp = hdr.find(' ', pos);
		std::string tok = hdr.substr(pos, sp == std::string::npos ?
					     std::string::npos : sp - pos);

		if (tok.size() > 1 && tok[0] == 'W' && !y4m_dim(tok, &w)) {
			fail(path + ": bad Y4M width '" + tok + "'");
			return false;
		}
		if (tok.size() > 1 && tok[0] == 'H' && !y4m_dim(tok, &h)) {
			fail(path + ": bad Y4M height '" + tok + "'");
			return false;
		}
		if (tok.size() > 1 && tok[0] == 'C')
			cs = tok.substr(1);
		if (sp == std::string::npos)
			break;
		pos = sp + 1;
	}
	if (!w || !h) {
		fail(path + ": Y4M header without W and H");
		return false;
	}
	size_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	if (cs.rfind("420", 0) == 0)
		chroma = 2 * cw * ch;
	else if (cs.rfind("422", 0) == 0)
		chroma = 2 * cw * h;
	else if (cs.rfind("444", 0) == 0 && cs.find("alpha") ==
		 std::string::npos)
		chroma = 2 * (size_t)w * h;
	else if (cs == "mono")
		chroma = 0;
	else {
		fail(path + ": Y4M colour space C" + cs + " not handled");
		return false;
	}
	std::vector<uint8_t> skip(chroma);
	for (uint64_t n = 0;; n++) {
		if (frames->size() >= max)
			return true;
		if (!std::fgets(line, sizeof(line), f))
			return true;	/* a clean end */
		if (std::strncmp(line, "FRAME", 5) ||
		    (line[5] != '\n' && line[5] != ' ') ||
		    !std::strchr(line, '\n')) {
			fail(path + ": frame " + std::to_string(n) +
			     ": no FRAME line");
			return false;
		}
		cv::Mat y((int)h, (int)w, CV_8UC1);
		/* The chroma is read too: a frame cut short is an error. */
		if (std::fread(y.data, 1, (size_t)w * h, f) != (size_t)w * h ||
		    std::fread(skip.data(), 1, chroma, f) != chroma) {
			fail(path + ": frame " + std::to_string(n) +
			     ": truncated");
			return false;
		}
		frames->push_back(y);
	}
}

bool load_input(const std::string &path, std::vector<cv::Mat> *frames,
		uint64_t max)
{
	char magic[9] = { 0 };
	std::FILE *f = std::fopen(path.c_str(), "rbe");

	if (!f) {
		fail(path + ": " + std::strerror(errno));
		return false;
	}
	bool y4m = std::fread(magic, 1, 9, f) == 9 &&
		   !std::memcmp(magic, "YUV4MPEG2", 9);
	if (y4m) {
		std::rewind(f);
		bool ok = load_y4m(path, f, frames, max);
		std::fclose(f);
		return ok;
	}
	std::fclose(f);
	if (frames->size() >= max)
		return true;
#ifdef DMK_CV_Y4M_ONLY
	fail(path + ": not a Y4M file (this build reads Y4M only)");
	return false;
#else
	cv::Mat img = cv::imread(path, cv::IMREAD_UNCHANGED), gray;
	if (img.empty()) {
		fail(path + ": OpenCV cannot read it as an image");
		return false;
	}
	if (img.depth() != CV_8U) {
		fail(path + ": not 8 bits per sample");
		return false;
	}
	/* As `dmakit detect`: RGB (here BGR) to gray with cvtColor; alpha
	 * dropped. */
	if (img.channels() == 3)
		cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);
	else if (img.channels() == 4)
		cv::cvtColor(img, gray, cv::COLOR_BGRA2GRAY);
	else
		gray = img;
	frames->push_back(gray);
	return true;
#endif
}

void json_string(const std::string &s)
{
	std::putchar('"');
	for (unsigned char c : s) {
		if (c == '"' || c == '\\')
			std::printf("\\%c", c);
		else if (c < 0x20)
			std::printf("\\u%04x", c);
		else
			std::putchar(c);
	}
	std::putchar('"');
}

} /* namespace */

int main(int argc, char **argv)
{
	std::vector<cv::Mat> frames;
	cv::CascadeClassifier cc;
	args a;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? 0 : ret;
	try {
		if (!cc.load(a.cascade) || cc.empty()) {
			fail("cascade " + a.cascade +
			     ": OpenCV cannot load it");
			return 1;
		}
	} catch (const cv::Exception &e) {
		fail("cascade " + a.cascade + ": " + e.what());
		return 1;
	}
	for (const std::string &in : a.inputs)
		if (!load_input(in, &frames, a.max_frames))
			return 1;
	if (frames.empty()) {
		fail("no frames in the inputs");
		return 1;
	}
	if (a.threads >= 0)
		cv::setNumThreads(a.threads);

	std::vector<std::vector<cv::Rect>> boxes(frames.size());
	std::vector<cv::Rect> scratch;
	try {
		for (uint64_t i = 0; i < a.warmup; i++)
			cc.detectMultiScale(frames[0], scratch, a.scale,
					    a.min_neighbors, 0, a.min_size,
					    a.max_size);
		auto t0 = std::chrono::steady_clock::now();
		for (uint64_t r = 0; r < a.repeat; r++)
			for (size_t i = 0; i < frames.size(); i++)
				cc.detectMultiScale(frames[i],
						    r ? scratch : boxes[i],
						    a.scale, a.min_neighbors, 0,
						    a.min_size, a.max_size);
		auto t1 = std::chrono::steady_clock::now();
		double secs = std::chrono::duration<double>(t1 - t0).count();
		uint64_t calls = a.repeat * frames.size();

		std::printf("{\n  \"opencv\": ");
		json_string(CV_VERSION);
		std::printf(",\n  \"cascade\": ");
		json_string(a.cascade);
		std::printf(",\n  \"params\": {\"scale_factor\": %.6g, "
			    "\"min_neighbors\": %d, \"min_w\": %d, "
			    "\"min_h\": %d, \"max_w\": %d, \"max_h\": %d},\n",
			    a.scale, a.min_neighbors, a.min_size.width,
			    a.min_size.height, a.max_size.width,
			    a.max_size.height);
		std::printf("  \"threads\": %d,\n  \"inputs\": [",
			    cv::getNumThreads());
		for (size_t i = 0; i < a.inputs.size(); i++) {
			std::printf(i ? ", " : "");
			json_string(a.inputs[i]);
		}
		std::printf("],\n  \"width\": %d,\n  \"height\": %d,\n",
			    frames[0].cols, frames[0].rows);
		std::printf("  \"frames\": %zu,\n  \"repeat\": %" PRIu64
			    ",\n  \"warmup\": %" PRIu64 ",\n  \"calls\": %"
			    PRIu64 ",\n  \"seconds\": %.6f,\n  \"fps\": %.3f,"
			    "\n  \"ms_per_frame\": %.4f", frames.size(),
			    a.repeat, a.warmup, calls, secs,
			    secs > 0 ? calls / secs : 0.0,
			    calls ? secs * 1e3 / calls : 0.0);
		if (a.boxes) {
			std::printf(",\n  \"boxes\": [");
			for (size_t i = 0; i < boxes.size(); i++) {
				std::printf("%s\n    [", i ? "," : "");
				for (size_t k = 0; k < boxes[i].size(); k++) {
					const cv::Rect &b = boxes[i][k];

					std::printf("%s[%d, %d, %d, %d]",
						    k ? ", " : "", b.x, b.y,
						    b.width, b.height);
				}
				std::printf("]");
			}
			std::printf("\n  ]");
		}
		std::printf("\n}\n");
	} catch (const cv::Exception &e) {
		fail(std::string("detectMultiScale: ") + e.what());
		return 1;
	}
	return std::fflush(stdout) ? 1 : 0;
}
