#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The OpenCV side of `dmakit bench detect` where tools/cv_baseline.cpp
could not be built (no libopencv-dev, e.g. the GPU machine, which has
opencv-python): the same command line and the same JSON, from Python.

  opencv_bench.py --cascade PATH [--scale F] [--min-neighbors N]
                  [--min-size WxH] [--max-size WxH] [--threads N]
                  [--repeat N] [--warmup N] [--max-frames N] [--no-boxes]
                  INPUT...

INPUT: a Y4M file (its Y planes: 4:2:0, 4:2:2, 4:4:4 or mono) or an image
(grayed with cvtColor, as dmakit detect does).  Frames are all in memory
before the clock starts; only detectMultiScale() is timed.  Exit status:
0 ok, 1 an input or the cascade cannot be read, 2 usage or no cv2.
"""
import argparse
import json
import sys
import time

MAX_SIDE = 16384


def die(msg, status=1):
    print("opencv_bench.py: " + msg, file=sys.stderr)
    sys.exit(status)


def wxh(s):
    try:
        w, h = s.lower().split("x")
        w, h = int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError("'%s' is not WxH" % s)
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError("'%s' is out of range" % s)
    return (w, h)


def load_y4m(np, path, frames, limit):
    with open(path, "rb") as f:
        header = f.readline()
        if not header.endswith(b"\n") or len(header) > 1024:
            die("%s: Y4M header missing or too long" % path)
        w = h = 0
        cs = "420"
        for tok in header.decode("ascii", "replace").split()[1:]:
            try:
                if tok[0] == "W":
                    w = int(tok[1:])
                elif tok[0] == "H":
                    h = int(tok[1:])
                elif tok[0] == "C":
                    cs = tok[1:]
            except ValueError:
                die("%s: bad Y4M tag '%s'" % (path, tok))
        if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
            die("%s: bad Y4M size %dx%d" % (path, w, h))
        cw, ch = (w + 1) // 2, (h + 1) // 2
        if cs.startswith("420"):
            chroma = 2 * cw * ch
        elif cs.startswith("422"):
            chroma = 2 * cw * h
        elif cs.startswith("444") and "alpha" not in cs:
            chroma = 2 * w * h
        elif cs == "mono":
            chroma = 0
        else:
            die("%s: Y4M colour space C%s not handled" % (path, cs))
        n = 0
        while len(frames) < limit:
            line = f.readline()
            if not line:
                return
            if not line.startswith(b"FRAME"):
                die("%s: frame %d: no FRAME line" % (path, n))
            y = f.read(w * h)
            rest = f.read(chroma)
            if len(y) != w * h or len(rest) != chroma:
                die("%s: frame %d: truncated" % (path, n))
            frames.append(np.frombuffer(y, dtype=np.uint8).reshape(h, w))
            n += 1


def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument("--cascade", required=True)
    ap.add_argument("--scale", type=float, default=1.1)
    ap.add_argument("--min-neighbors", type=int, default=3)
    ap.add_argument("--min-size", type=wxh, default=(0, 0))
    ap.add_argument("--max-size", type=wxh, default=(0, 0))
    ap.add_argument("--threads", type=int, default=-1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-frames", type=int, default=100000)
    ap.add_argument("--no-boxes", action="store_true")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    if not (1 < a.scale <= 4) or not (0 <= a.min_neighbors <= 1000) or \
       a.repeat < 1 or a.warmup < 0 or a.max_frames < 1:
        die("bad parameters (try --help)", 2)
    try:
        import cv2
        import numpy as np
    except ImportError as e:
        die("no cv2: %s" % e, 2)

    cc = cv2.CascadeClassifier()
    if not cc.load(a.cascade) or cc.empty():
        die("cascade %s: OpenCV cannot load it" % a.cascade)
    frames = []
    for path in a.inputs:
        if len(frames) >= a.max_frames:
            break
        try:
            with open(path, "rb") as f:
                magic = f.read(9)
        except OSError as e:
            die("%s: %s" % (path, e.strerror))
        if magic == b"YUV4MPEG2":
            load_y4m(np, path, frames, a.max_frames)
            continue
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            die("%s: OpenCV cannot read it as an image" % path)
        if img.dtype != np.uint8:
            die("%s: not 8 bits per sample" % path)
        if img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
        frames.append(img)
    if not frames:
        die("no frames in the inputs")
    if a.threads >= 0:
        cv2.setNumThreads(a.threads)

    def detect(img):
        return cc.detectMultiScale(img, scaleFactor=a.scale,
                                   minNeighbors=a.min_neighbors,
                                   minSize=a.min_size, maxSize=a.max_size)

    for _ in range(a.warmup):
        detect(frames[0])
    boxes = [None] * len(frames)
    t0 = time.perf_counter()
    for r in range(a.repeat):
        for i, img in enumerate(frames):
            found = detect(img)
            if r == 0:
                boxes[i] = found
    secs = time.perf_counter() - t0
    calls = a.repeat * len(frames)
    out = {
        "opencv": cv2.__version__,
        "cascade": a.cascade,
        "params": {"scale_factor": a.scale,
                   "min_neighbors": a.min_neighbors,
                   "min_w": a.min_size[0], "min_h": a.min_size[1],
                   "max_w": a.max_size[0], "max_h": a.max_size[1]},
        "threads": cv2.getNumThreads(),
        "inputs": a.inputs,
        "width": int(frames[0].shape[1]),
        "height": int(frames[0].shape[0]),
        "frames": len(frames),
        "repeat": a.repeat,
        "warmup": a.warmup,
        "calls": calls,
        "seconds": secs,
        "fps": calls / secs if secs > 0 else 0.0,
        "ms_per_frame": secs * 1e3 / calls,
    }
    if not a.no_boxes:
        out["boxes"] = [[[int(v) for v in b] for b in found]
                        for found in boxes]
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
