"""Synthetic "shapes v1" scenes, drawn exactly as ``models/SCENES.md`` specifies.

Why: the shipped default detector is trained from scratch on scenes this
module draws, and the daemon's C++ synthetic frame source draws the same kind
of scenes independently, so a fresh machine shows real detections with no
camera.  Everything is deterministic from an integer seed (numpy's PCG64 via
``numpy.random.default_rng``), so training, evaluation and tests can name
their data by seed.

Spec points and how they are implemented (keep in step with SCENES.md):

* classes 0 circle, 1 square, 2 triangle (equilateral), 3 star (5 points, inner
  radius 0.45 of outer), 4 cross (plus sign, arm width 0.35 of its span);
* outer radius ``r ~ U[0.04, 0.18] * min(w, h)``, rotation ``U[0, 2pi)`` (none
  for the circle), centre uniform over the frame;
* ground truth = tight axis-aligned box of the filled polygon (circle: centre
  +- r) clipped to the frame; a placement is rejected when less than 60 % of
  the unclipped box area stays inside the frame, or when its (clipped) box
  covers more than 40 % of the (clipped) box of any earlier object; a rejected
  object is re-drawn elsewhere (new centre, same class/size/rotation; up to
  ``MAX_PLACEMENT_TRIES`` times, then dropped -- scenes therefore hold 1..8
  objects, at least one);
* background: linear gradient along a random direction between two random
  colours (``t`` = projection of the pixel centre on the direction, normalised
  to 0..1 over the frame);
* object colour: uniform random RGB, re-drawn until its Euclidean distance to
  the background colour at the object's centre is >= 120;
* 5..25 clutter items drawn before the objects: half line segments (1..3 px
  wide, length up to 0.3 * min(w, h)), half dots (radius 1..4 px), random
  colours; not labelled;
* then additive Gaussian noise per pixel and channel, ``sigma ~ U[0, 8]``,
  rounded and clipped to 0..255.

Shapes are filled with PIL's (non-antialiased) polygon/ellipse fill.

The ``crowd`` layout (SCENES.md, "Crowd layout") drops the two placement
rules so that still scenes look like frames of the C++ ``traffic`` motion:
objects cut deep by the edges and covered by later ones.  Each object's
visibility is counted from the pixels it still owns after drawing, and only
objects at least ``CROWD_MIN_VISIBILITY`` visible are labelled (with the box
of the whole shape, clipped), so the detector learns to find a partly hidden
object as a whole and not to report a sliver of one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ["circle", "square", "triangle", "star", "cross"]
NC = len(CLASSES)

R_MIN, R_MAX = 0.04, 0.18
MIN_INSIDE = 0.60
MAX_COVER = 0.40
MIN_COLOUR_DIST = 120.0
STAR_INNER = 0.45
CROSS_ARM = 0.35
MAX_PLACEMENT_TRIES = 50
MAX_COLOUR_TRIES = 1000
CROWD_MIN_VISIBILITY = 0.5
CROWD_MARGIN = 0.8  # crowd centres reach this many radii beyond the frame's edges
LAYOUTS = ("spaced", "crowd")


@dataclass
class SceneObject:
    """One labelled object: class id, centre, outer radius, rotation (rad), fill colour, box."""

    cls: int
    cx: float
    cy: float
    r: float
    angle: float
    colour: Tuple[int, int, int]
    box: Tuple[float, float, float, float]  # clipped [x1, y1, x2, y2] in pixels
    visibility: float = 1.0  # share of the whole shape that shows (crowd layout; spaced: not measured, 1)

    @property
    def name(self) -> str:
        return CLASSES[self.cls]


@dataclass
class Scene:
    """A rendered scene: ``image`` is HxWx3 uint8 RGB, ``objects`` the labels."""

    image: np.ndarray
    objects: List[SceneObject] = field(default_factory=list)
    background: Tuple[Tuple[float, ...], Tuple[float, ...], float] = ((0.0,) * 3, (0.0,) * 3, 0.0)
    """(colour 0, colour 1, gradient direction in radians) -- see :func:`background_colour`."""

    @property
    def boxes(self) -> np.ndarray:
        return np.array([o.box for o in self.objects], dtype=np.float32).reshape(-1, 4)

    @property
    def classes(self) -> np.ndarray:
        return np.array([o.cls for o in self.objects], dtype=np.int64)


def shape_polygon(cls: int, cx: float, cy: float, r: float, angle: float) -> Optional[np.ndarray]:
    """Vertices (K x 2, pixels) of a shape; ``None`` for the circle (drawn as an ellipse)."""
    if cls == 0:
        return None
    if cls == 1:
        k = np.arange(4)
        a = angle + k * (math.pi / 2)
        rad = np.full(4, r)
    elif cls == 2:
        k = np.arange(3)
        a = angle + k * (2 * math.pi / 3)
        rad = np.full(3, r)
    elif cls == 3:
        k = np.arange(10)
        a = angle + k * (math.pi / 5)
        rad = np.where(k % 2 == 0, r, STAR_INNER * r)
    elif cls == 4:
        # Plus sign: half-span L, half arm width h = 0.35 * (2L) / 2; the outer
        # corners (L, h) lie on the circumscribed circle of radius r.
        L = r / math.sqrt(1.0 + CROSS_ARM ** 2)
        h = CROSS_ARM * L
        local = np.array([(L, h), (h, h), (h, L), (-h, L), (-h, h), (-L, h),
                          (-L, -h), (-h, -h), (-h, -L), (h, -L), (h, -h), (L, -h)])
        c, s = math.cos(angle), math.sin(angle)
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + np.array([cx, cy])
    else:
        raise ValueError(f"unknown class id {cls} (0..{NC - 1})")
    return np.stack([cx + rad * np.cos(a), cy + rad * np.sin(a)], 1)


def shape_box(cls: int, cx: float, cy: float, r: float, angle: float) -> Tuple[float, float, float, float]:
    """Tight, unclipped axis-aligned box of the filled shape."""
    poly = shape_polygon(cls, cx, cy, r, angle)
    if poly is None:
        return (cx - r, cy - r, cx + r, cy + r)
    return (float(poly[:, 0].min()), float(poly[:, 1].min()), float(poly[:, 0].max()), float(poly[:, 1].max()))


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _clip(b, w: int, h: int):
    return (min(max(b[0], 0.0), w), min(max(b[1], 0.0), h), min(max(b[2], 0.0), w), min(max(b[3], 0.0), h))


def _inter(a, b) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _gradient(rng: np.random.Generator, w: int, h: int):
    c0 = rng.integers(0, 256, 3).astype(np.float64)
    c1 = rng.integers(0, 256, 3).astype(np.float64)
    theta = rng.uniform(0.0, 2 * math.pi)
    return _gradient_from(c0, c1, theta, w, h)


def _gradient_from(c0: np.ndarray, c1: np.ndarray, theta: float, w: int, h: int):
    d = np.array([math.cos(theta), math.sin(theta)])
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    proj = xs[None, :] * d[0] + ys[:, None] * d[1]
    corners = np.array([0.0, w * d[0], h * d[1], w * d[0] + h * d[1]])
    lo, hi = corners.min(), corners.max()
    t = (proj - lo) / max(hi - lo, 1e-9)

    def colour_at(x: float, y: float) -> np.ndarray:
        tt = ((x * d[0] + y * d[1]) - lo) / max(hi - lo, 1e-9)
        tt = min(max(tt, 0.0), 1.0)
        return c0 * (1 - tt) + c1 * tt

    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    return img, colour_at, (tuple(float(v) for v in c0), tuple(float(v) for v in c1), float(theta))


def background_colour(scene: "Scene", x: float, y: float) -> np.ndarray:
    """The noise-free background colour of ``scene`` at pixel position ``(x, y)``."""
    c0, c1, theta = scene.background
    h, w = scene.image.shape[:2]
    _, colour_at, _ = _gradient_from(np.array(c0), np.array(c1), theta, w, h)
    return colour_at(x, y)


def shape_area(cls: int, r: float) -> float:
    """Analytic area of the filled shape of outer radius ``r`` (circle: pi r^2; else the outline's shoelace area)."""
    poly = shape_polygon(cls, 0.0, 0.0, r, 0.0)
    if poly is None:
        return math.pi * r * r
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def render_scene(seed: int, width: int = 320, height: int = 320, min_objects: int = 1,
                 max_objects: int = 8, clutter: bool = True, noise: bool = True,
                 layout: str = "spaced") -> Scene:
    """Draw one scene, deterministic in ``seed`` (and the size and layout).

    ``clutter=False`` / ``noise=False`` skip drawing those (the random draws
    still happen, so the objects stay the same); they exist for tests that
    inspect the drawn shapes.  The spec (and training) use both.
    ``layout`` is ``"spaced"`` (the placement rules of SCENES.md) or
    ``"crowd"`` (no placement rules, labels by visibility).
    """
    if width < 16 or height < 16:
        raise ValueError(f"scene size {width}x{height} is too small (min 16x16)")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown scene layout {layout!r} (one of {', '.join(LAYOUTS)})")
    crowd = layout == "crowd"
    rng = np.random.default_rng(seed)
    w, h = int(width), int(height)
    short = min(w, h)
    bg, colour_at, bg_params = _gradient(rng, w, h)
    im = Image.fromarray(np.clip(np.rint(bg), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)

    # Clutter (unlabelled), before the objects.
    for _ in range(int(rng.integers(5, 26))):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            length = rng.uniform(0, 0.3 * short)
            a = rng.uniform(0, 2 * math.pi)
            x1, y1 = x0 + length * math.cos(a), y0 + length * math.sin(a)
            lw = int(rng.integers(1, 4))
            if clutter:
                draw.line([(x0, y0), (x1, y1)], fill=col, width=lw)
        else:
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            rr = int(rng.integers(1, 5))
            if clutter:
                draw.ellipse([x0 - rr, y0 - rr, x0 + rr, y0 + rr], fill=col)

    objects: List[SceneObject] = []
    # crowd: which object owns each pixel (0 = none), to measure visibility.
    owner = np.zeros((h, w), dtype=np.int16) if crowd else None
    n = int(rng.integers(min_objects, max_objects + 1))
    for _ in range(n):
        cls = int(rng.integers(0, NC))
        r = float(rng.uniform(R_MIN, R_MAX) * short)
        angle = 0.0 if cls == 0 else float(rng.uniform(0, 2 * math.pi))
        placed = None
        for _try in range(MAX_PLACEMENT_TRIES):
            if crowd:
                m = CROWD_MARGIN * r
                cx, cy = float(rng.uniform(-m, w + m)), float(rng.uniform(-m, h + m))
                clipped = _clip(shape_box(cls, cx, cy, r, angle), w, h)
                if _area(clipped) <= 0:
                    continue
                placed = (cx, cy, clipped)
                break
            cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            raw = shape_box(cls, cx, cy, r, angle)
            clipped = _clip(raw, w, h)
            if _area(clipped) < MIN_INSIDE * _area(raw):
                continue
            if any(_inter(clipped, o.box) > MAX_COVER * _area(o.box) for o in objects):
                continue
            placed = (cx, cy, clipped)
            break
        if placed is None:
            continue
        cx, cy, clipped = placed
        bgc = colour_at(cx, cy)
        for _c in range(MAX_COLOUR_TRIES):
            col = rng.integers(0, 256, 3)
            if float(np.linalg.norm(col.astype(np.float64) - bgc)) >= MIN_COLOUR_DIST:
                break
        col_t = (int(col[0]), int(col[1]), int(col[2]))
        poly = shape_polygon(cls, cx, cy, r, angle)
        if poly is None:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col_t)
        else:
            draw.polygon([(float(x), float(y)) for x, y in poly], fill=col_t)
        if crowd:
            mask_im = Image.new("L", (w, h), 0)
            mdraw = ImageDraw.Draw(mask_im)
            if poly is None:
                mdraw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
            else:
                mdraw.polygon([(float(x), float(y)) for x, y in poly], fill=1)
            owner[np.asarray(mask_im, dtype=bool)] = len(objects) + 1
        objects.append(SceneObject(cls, cx, cy, r, angle, col_t, tuple(float(v) for v in clipped)))

    if crowd:
        owned = np.bincount(owner.ravel(), minlength=len(objects) + 1)
        for i, o in enumerate(objects):
            o.visibility = min(1.0, float(owned[i + 1]) / shape_area(o.cls, o.r))
        objects = [o for o in objects if o.visibility >= CROWD_MIN_VISIBILITY]

    img = np.asarray(im).astype(np.float32)
    sigma = float(rng.uniform(0.0, 8.0))
    if sigma > 0 and noise:
        img = img + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return Scene(img, objects, bg_params)


def scene_seed(base_seed: int, index: int, stream: int = 0) -> int:
    """Independent per-scene seed derived from (base seed, index, stream)."""
    ss = np.random.SeedSequence([int(base_seed), int(stream), int(index)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


# A few frame sizes so the detector sees several aspect ratios (letterboxed).
DEFAULT_SIZES: Sequence[Tuple[int, int]] = ((320, 320), (320, 240), (240, 320), (320, 180), (320, 256), (256, 320))


def scene_layout(seed: int, crowd_share: float) -> str:
    """The layout of the scene of ``seed`` in a dataset with ``crowd_share`` crowd scenes (own random stream)."""
    if crowd_share <= 0:
        return "spaced"
    return "crowd" if float(np.random.default_rng([int(seed), 7]).random()) < crowd_share else "spaced"


def dataset_scene(base_seed: int, index: int, sizes: Sequence[Tuple[int, int]] = DEFAULT_SIZES,
                  stream: int = 0, crowd_share: float = 0.0) -> Scene:
    """Scene ``index`` of the dataset named by ``base_seed``; its size is picked from ``sizes``.

    ``crowd_share`` (0..1) of the scenes, chosen by their seed, use the crowd layout.
    """
    s = scene_seed(base_seed, index, stream)
    w, h = sizes[s % len(sizes)]
    return render_scene(s, w, h, layout=scene_layout(s, crowd_share))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.scenes",
                                 description="Write generated shapes-v1 scenes as PNG + a JSON-lines label file.")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--width", type=int, default=0, help="fixed width (default: mixed sizes)")
    ap.add_argument("--height", type=int, default=0, help="fixed height (default: mixed sizes)")
    ap.add_argument("--crowd-share", type=float, default=0.0,
                    help="share of scenes drawn in the crowd layout (0..1, default 0)")
    ap.add_argument("--out", required=True, help="output directory")
    a = ap.parse_args(argv)
    if not 0.0 <= a.crowd_share <= 1.0:
        ap.error(f"--crowd-share {a.crowd_share}: must be within 0..1")
    os.makedirs(a.out, exist_ok=True)
    sizes = [(a.width, a.height)] if a.width and a.height else DEFAULT_SIZES
    with open(os.path.join(a.out, "labels.jsonl"), "w", encoding="utf-8") as fh:
        for i in range(a.count):
            sc = dataset_scene(a.seed, i, sizes, crowd_share=a.crowd_share)
            name = f"scene_{a.seed}_{i:05d}.png"
            Image.fromarray(sc.image).save(os.path.join(a.out, name))
            fh.write(json.dumps({"image": name, "width": sc.image.shape[1], "height": sc.image.shape[0],
                                 "objects": [{"class": o.name, "class_id": o.cls,
                                              "box": [round(v, 2) for v in o.box],
                                              "visibility": round(o.visibility, 3)} for o in sc.objects]}) + "\n")
    print(f"wrote {a.count} scenes to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
