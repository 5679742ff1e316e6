#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The OpenCV side of tests/test_detect.c (run with /usr/bin/python3, whose
python3-opencv is the reference: OpenCV 4.6).

  check                          exit 0 when cv2 imports; print its version
  prepare OUTDIR SRC...          write gray PGMs (cv2.imread + BGR2GRAY) of
                                 every image SRC names (a file, or a
                                 directory's *.jpg/*.png), one path a line;
                                 larger than MAXSIDE px get shrunk (INTER_AREA);
                                 the first image also gets synthetic variants
                                 (half size, mirrored, 2x2 and 3x3 "group
                                 photos" of mirrored and plain copies)
  detect CASCADE SCALE NEIGH MINW MINH MAXW MAXH [--repeat N] PGM...
                                 detectMultiScale on each PGM: one JSON
                                 object a line: {"image", "ms", "boxes"}
                                 (ms: the fastest of N runs)
  group THRESHOLD EPS JSONFILE   cv2.groupRectangles on the [[x,y,w,h],...]
                                 in JSONFILE; prints the result as JSON
  resize PGM OUTDIR WxH...       cv2.resize(INTER_LINEAR_EXACT, what the
                                 cascade detector uses) of PGM to each
                                 size, written as OUTDIR/WxH.pgm
  mktree CASCADE OUT             rewrite a stump cascade into one of 3-node
                                 trees (pairs of stumps), for the tree path
"""
import json
import os
import re
import sys
import time

MAXSIDE = 1280


def die(msg):
    print("opencv_detect.py: " + msg, file=sys.stderr)
    sys.exit(2)


def load_cv2():
    try:
        import cv2
    except ImportError as e:
        die("no cv2: %s" % e)
    return cv2


def quiet_imread(cv2, path):
    """cv2.imread without libpng's warnings on stderr (a failure is
    reported by the caller: imread returns None)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        return cv2.imread(path, cv2.IMREAD_COLOR)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def gray_of(cv2, path):
    img = quiet_imread(cv2, path)
    if img is None:
        return None
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = g.shape
    if max(w, h) > MAXSIDE:
        f = MAXSIDE / max(w, h)
        g = cv2.resize(g, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    return g


def cmd_prepare(args):
    cv2 = load_cv2()
    import numpy as np
    if len(args) < 2:
        die("prepare OUTDIR SRC...")
    out = args[0]
    if not os.path.isdir(out):
        die("prepare: %r is not a directory" % out)
    srcs = []
    for s in args[1:]:
        if os.path.isdir(s):
            srcs += sorted(os.path.join(s, f) for f in os.listdir(s)
                           if f.lower().endswith((".jpg", ".jpeg", ".png")))
        elif os.path.exists(s):
            srcs.append(s)
    first = True
    seen = set()
    for src in srcs:
        g = gray_of(cv2, src)
        if g is None:
            print("opencv_detect.py: cannot read %s, skipped" % src,
                  file=sys.stderr)
            continue
        # Plain ASCII names: the C side reads them back from JSON.
        base = re.sub(r"[^A-Za-z0-9_-]", "_",
                      os.path.splitext(os.path.basename(src))[0])
        name = base
        k = 1
        while name in seen:
            k += 1
            name = "%s-%d" % (base, k)
        seen.add(name)
        imgs = [(name, g)]
        if first:
            first = False
            h, w = g.shape
            half = cv2.resize(g, (w // 2, h // 2),
                              interpolation=cv2.INTER_AREA)
            third = cv2.resize(g, (w // 3, h // 3),
                               interpolation=cv2.INTER_AREA)
            hf, tf = cv2.flip(half, 1), cv2.flip(third, 1)
            imgs += [(name + "_half", half),
                     (name + "_mirror", cv2.flip(g, 1)),
                     (name + "_group4", np.vstack([np.hstack([half, hf]),
                                                   np.hstack([hf, half])])),
                     (name + "_group9", np.vstack([
                         np.hstack([third, tf, third]),
                         np.hstack([tf, third, tf]),
                         np.hstack([third, tf, third])]))]
        for n, im in imgs:
            p = os.path.join(out, n + ".pgm")
            if not cv2.imwrite(p, np.ascontiguousarray(im)):
                die("cannot write " + p)
            print(p)


def cmd_detect(args):
    cv2 = load_cv2()
    if len(args) < 8:
        die("detect CASCADE SCALE NEIGH MINW MINH MAXW MAXH PGM...")
    casc, scale, neigh = args[0], float(args[1]), int(args[2])
    mins = (int(args[3]), int(args[4]))
    maxs = (int(args[5]), int(args[6]))
    rest = args[7:]
    repeat = 1
    if rest[0] == "--repeat":
        repeat = int(rest[1])
        rest = rest[2:]
    cc = cv2.CascadeClassifier(casc)
    if cc.empty():
        die("cannot load " + casc)
    for p in rest:
        g = cv2.imread(p, cv2.IMREAD_UNCHANGED)
        if g is None or g.ndim != 2:
            die("cannot read gray " + p)
        best = None
        for _ in range(repeat):
            t = time.perf_counter()
            boxes = cc.detectMultiScale(g, scaleFactor=scale,
                                        minNeighbors=neigh, flags=0,
                                        minSize=mins, maxSize=maxs)
            t = (time.perf_counter() - t) * 1000
            best = t if best is None else min(best, t)
        boxes = [[int(v) for v in b] for b in boxes]
        print(json.dumps({"image": p, "ms": round(best, 3),
                          "boxes": boxes}))


def cmd_group(args):
    cv2 = load_cv2()
    if len(args) != 3:
        die("group THRESHOLD EPS JSONFILE")
    with open(args[2]) as f:
        rects = [list(map(int, r)) for r in json.load(f)]
    out, _ = cv2.groupRectangles(rects, int(args[0]), float(args[1]))
    print(json.dumps([[int(v) for v in r] for r in out]))


def cmd_resize(args):
    cv2 = load_cv2()
    if len(args) < 3:
        die("resize PGM OUTDIR WxH...")
    g = cv2.imread(args[0], cv2.IMREAD_UNCHANGED)
    if g is None:
        die("cannot read " + args[0])
    for s in args[2:]:
        w, h = map(int, s.split("x"))
        r = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)
        p = os.path.join(args[1], "%dx%d.pgm" % (w, h))
        if not cv2.imwrite(p, r):
            die("cannot write " + p)


def cmd_mktree(args):
    import xml.etree.ElementTree as ET
    if len(args) != 2:
        die("mktree CASCADE OUT")
    tree = ET.parse(args[0])
    casc = tree.getroot()[0]
    for stage in casc.find("stages"):
        weaks = stage.find("weakClassifiers")
        items = list(weaks)
        for a, b in zip(items[0::2], items[1::2]):
            na = a.find("internalNodes").text.split()
            nb = b.find("internalNodes").text.split()
            la = [float(v) for v in a.find("leafValues").text.split()]
            lb = [float(v) for v in b.find("leafValues").text.split()]
            # Node 0 tests a, then nodes 1 (a went left) and 2 (right)
            # test b: the four leaves are the sums of a's and b's, so the
            # tree classifies as the two stumps did.
            n0 = ["1", "2"] + na[2:]
            n1 = ["0", "-1"] + nb[2:]
            n2 = ["-2", "-3"] + nb[2:]
            leaves = [la[0] + lb[0], la[0] + lb[1], la[1] + lb[0],
                      la[1] + lb[1]]
            a.find("internalNodes").text = " ".join(n0 + n1 + n2)
            a.find("leafValues").text = " ".join(repr(v) for v in leaves)
            weaks.remove(b)
        stage.find("maxWeakCount").text = str(len(list(weaks)))
    # OpenCV's reader wants the declaration, with double quotes.
    with open(args[1], "w") as f:
        f.write('<?xml version="1.0"?>\n')
        f.write(ET.tostring(tree.getroot(), encoding="unicode"))


def main():
    if len(sys.argv) < 2:
        die("usage: check | prepare | detect | group | resize | mktree")
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        print(load_cv2().__version__)
    elif cmd == "prepare":
        cmd_prepare(args)
    elif cmd == "detect":
        cmd_detect(args)
    elif cmd == "group":
        cmd_group(args)
    elif cmd == "resize":
        cmd_resize(args)
    elif cmd == "mktree":
        cmd_mktree(args)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
