#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Test helper for tests/test_pipeline.c (run with /usr/bin/python3, which
has cv2).

  opencv_frames.py make OUT.y4m [--size WxH] [--face N] [--blank N]
      A small Y4M (C420jpeg) clip from matplotlib's grace_hopper photo: N
      frames panning over her face, then N frames of her uniform (no face).

  opencv_frames.py compare CLIP.y4m DETECTIONS.jsonl --cascade XML
                   [--scale F] [--min-neighbors N] [--min-size N]
      Run OpenCV's CascadeClassifier.detectMultiScale() on the Y plane of
      every frame of the clip (as a gray image, the same pixels dmakit
      detects on), read dmakit pipeline's JSON lines (every line must
      parse, frames 0..n-1 in order), match boxes frame by frame (greedy,
      best IoU first, IoU >= 0.5) and print one line:
        frames F lines L opencv N ours M matched K extra E faceframes G
      (G: frames where dmakit found at least one face).  Exit 0 when it
      could compare, 1 when the inputs are unusable.
"""
import argparse
import json
import sys

import cv2
import numpy as np

PHOTO = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"


def i420(bgr):
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()


def make(args):
    w, h = (int(v) for v in args.size.lower().split("x"))
    img = cv2.imread(PHOTO)
    if img is None:
        sys.exit("cannot read " + PHOTO)
    ih, iw = img.shape[:2]
    frames = []
    # A 4:3 window around the face (at about 189,156 151x151 in the
    # photo), panning right and down a little each frame.
    cw, ch = 448, 336
    for i in range(args.face):
        x0, y0 = 10 + 6 * i, 40 + 5 * i
        crop = img[y0:y0 + ch, x0:x0 + cw]
        frames.append(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))
    # Her uniform, below the face: no face there.
    for i in range(args.blank):
        y0 = ih - 150 - 4 * i
        crop = img[y0:y0 + 112, 0:iw]
        frames.append(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))
    with open(args.out, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n" % (w, h))
        for fr in frames:
            f.write(b"FRAME\n")
            f.write(i420(fr))


def y_planes(path):
    with open(path, "rb") as f:
        data = f.read()
    nl = data.index(b"\n")
    tags = data[:nl].split(b" ")
    if tags[0] != b"YUV4MPEG2":
        sys.exit("not a Y4M file")
    w = h = 0
    mono = False
    for t in tags[1:]:
        if t[:1] == b"W":
            w = int(t[1:])
        elif t[:1] == b"H":
            h = int(t[1:])
        elif t[:1] == b"C":
            mono = t[1:].startswith(b"mono")
    size = w * h if mono else w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    pos = nl + 1
    planes = []
    while pos < len(data):
        end = data.index(b"\n", pos)
        if not data[pos:end].startswith(b"FRAME"):
            sys.exit("bad FRAME marker at %d" % pos)
        pos = end + 1
        y = np.frombuffer(data, np.uint8, w * h, pos).reshape(h, w)
        planes.append(y)
        pos += size
    return planes


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def compare(args):
    clf = cv2.CascadeClassifier(args.cascade)
    if clf.empty():
        sys.exit("cannot load " + args.cascade)
    planes = y_planes(args.clip)
    lines = []
    with open(args.jsonl) as f:
        for n, line in enumerate(f):
            d = json.loads(line)    # every line must be whole JSON
            if d["frame"] != n:
                sys.exit("line %d is frame %d" % (n, d["frame"]))
            lines.append(d)
    n_ocv = n_ours = matched = extra = face_frames = 0
    for i, d in enumerate(lines):
        if i >= len(planes):
            sys.exit("more lines than frames")
        ms = (args.min_size, args.min_size) if args.min_size else (0, 0)
        ocv = [tuple(int(v) for v in r) for r in
               clf.detectMultiScale(planes[i], scaleFactor=args.scale,
                                    minNeighbors=args.min_neighbors,
                                    minSize=ms)]
        ours = [(b["x"], b["y"], b["w"], b["h"]) for b in d["faces"]]
        print("frame %d: opencv %s ours %s" % (i, ocv, ours),
              file=sys.stderr)
        n_ocv += len(ocv)
        n_ours += len(ours)
        face_frames += 1 if ours else 0
        pairs = sorted(((iou(a, b), j, k) for j, a in enumerate(ocv)
                        for k, b in enumerate(ours)), reverse=True)
        used_o, used_u = set(), set()
        for v, j, k in pairs:
            if v < 0.5 or j in used_o or k in used_u:
                continue
            used_o.add(j)
            used_u.add(k)
        matched += len(used_o)
        extra += len(ours) - len(used_u)
    print("frames %d lines %d opencv %d ours %d matched %d extra %d "
          "faceframes %d" % (len(planes), len(lines), n_ocv, n_ours,
                             matched, extra, face_frames))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--size", default="320x240")
    m.add_argument("--face", type=int, default=8)
    m.add_argument("--blank", type=int, default=4)
    c = sub.add_parser("compare")
    c.add_argument("clip")
    c.add_argument("jsonl")
    c.add_argument("--cascade", required=True)
    c.add_argument("--scale", type=float, default=1.1)
    c.add_argument("--min-neighbors", type=int, default=3)
    c.add_argument("--min-size", type=int, default=0)
    args = p.parse_args()
    if args.cmd == "make":
        make(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
