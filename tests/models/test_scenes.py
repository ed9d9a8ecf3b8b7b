"""Synthetic scene renderer against models/SCENES.md: determinism, geometry, placement, colours."""

import math

import numpy as np
import pytest

from lookout_models import scenes
from lookout_models.scenes import (CLASSES, background_colour, dataset_scene, render_scene, shape_box,
                                   shape_polygon)


def test_class_list_matches_spec():
    assert CLASSES == ["circle", "square", "triangle", "star", "cross"]


def test_deterministic_by_seed():
    a, b, c = render_scene(123, 200, 150), render_scene(123, 200, 150), render_scene(124, 200, 150)
    assert np.array_equal(a.image, b.image)
    assert [(o.cls, o.box) for o in a.objects] == [(o.cls, o.box) for o in b.objects]
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (150, 200, 3) and a.image.dtype == np.uint8


def test_dataset_streams_and_seeds_differ():
    assert not np.array_equal(dataset_scene(0, 5).image, dataset_scene(1, 5).image)
    assert not np.array_equal(dataset_scene(0, 5, stream=0).image, dataset_scene(0, 5, stream=1).image)
    assert np.array_equal(dataset_scene(0, 5).image, dataset_scene(0, 5).image)


@pytest.fixture(scope="module")
def many():
    return [render_scene(s, *[(160, 120), (120, 160), (200, 200)][s % 3]) for s in range(300)]


def test_object_counts_and_classes(many):
    counts = [len(s.objects) for s in many]
    assert min(counts) >= 1 and max(counts) <= 8
    assert max(counts) >= 6  # up to 8 are drawn; crowded scenes do occur
    seen = {o.cls for s in many for o in s.objects}
    assert seen == set(range(5))


def test_sizes_boxes_and_frame_rule(many):
    for s in many:
        h, w = s.image.shape[:2]
        short = min(w, h)
        for o in s.objects:
            assert 0.04 * short - 1e-9 <= o.r <= 0.18 * short + 1e-9
            assert 0 <= o.cx <= w and 0 <= o.cy <= h
            x1, y1, x2, y2 = o.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            raw = shape_box(o.cls, o.cx, o.cy, o.r, o.angle)
            raw_area = (raw[2] - raw[0]) * (raw[3] - raw[1])
            assert (x2 - x1) * (y2 - y1) >= 0.6 * raw_area - 1e-6  # >= 60 % of the box inside
            # ground truth is the clipped tight box
            assert o.box == pytest.approx((max(raw[0], 0), max(raw[1], 0), min(raw[2], w), min(raw[3], h)))


def test_occlusion_rule(many):
    for s in many:
        for j, later in enumerate(s.objects):
            for earlier in s.objects[:j]:
                ix = max(0.0, min(later.box[2], earlier.box[2]) - max(later.box[0], earlier.box[0]))
                iy = max(0.0, min(later.box[3], earlier.box[3]) - max(later.box[1], earlier.box[1]))
                area = (earlier.box[2] - earlier.box[0]) * (earlier.box[3] - earlier.box[1])
                assert ix * iy <= 0.4 * area + 1e-6


def test_colour_contrast_rule(many):
    for s in many:
        for o in s.objects:
            bg = background_colour(s, o.cx, o.cy)
            assert np.linalg.norm(np.array(o.colour, float) - bg) >= 120


def test_gradient_background_without_clutter_or_noise():
    s = render_scene(7, 120, 90, clutter=False, noise=False)
    mask = np.ones(s.image.shape[:2], bool)
    for o in s.objects:  # exclude objects
        x1, y1, x2, y2 = [int(v) for v in o.box]
        mask[max(0, y1 - 1):y2 + 2, max(0, x1 - 1):x2 + 2] = False
    ys, xs = np.nonzero(mask)
    expect = np.array([background_colour(s, x + 0.5, y + 0.5) for x, y in zip(xs[::37], ys[::37])])
    assert np.abs(s.image[ys[::37], xs[::37]].astype(float) - expect).max() <= 1.0


def test_noise_is_bounded_gaussian():
    clean = render_scene(11, 100, 100, clutter=False, noise=False).image.astype(float)
    noisy = render_scene(11, 100, 100, clutter=False, noise=True).image.astype(float)
    d = noisy - clean
    assert d.std() <= 8.5 and abs(d.mean()) < 1.0


def _poly_sides(p):
    return np.linalg.norm(np.roll(p, -1, 0) - p, axis=1)


def test_shape_geometry():
    # triangle: equilateral, vertices on the circumscribed circle
    t = shape_polygon(2, 50, 50, 10, 0.3)
    assert np.allclose(_poly_sides(t), 10 * math.sqrt(3))
    assert np.allclose(np.linalg.norm(t - 50, axis=1), 10)
    # square: equal sides of r * sqrt(2)
    q = shape_polygon(1, 0, 0, 10, 1.0)
    assert np.allclose(_poly_sides(q), 10 * math.sqrt(2))
    # star: 5 outer points at r, 5 inner at 0.45 r
    st = shape_polygon(3, 0, 0, 10, 0.0)
    d = np.linalg.norm(st, axis=1)
    assert np.allclose(d[0::2], 10) and np.allclose(d[1::2], 4.5)
    # cross: 12 corners, arm width 0.35 of the span, outer corners on the circle
    c = shape_polygon(4, 0, 0, 10, 0.0)
    assert len(c) == 12
    span = c[:, 0].max() - c[:, 0].min()
    arm = c[0, 1] - c[-1, 1]  # the right arm's end edge
    assert arm == pytest.approx(0.35 * span)
    assert np.linalg.norm(c, axis=1).max() == pytest.approx(10)
    assert shape_polygon(0, 0, 0, 10, 0) is None
    assert shape_box(0, 5, 6, 2, 1.0) == (3, 4, 7, 8)
    with pytest.raises(ValueError, match="unknown class id 7"):
        shape_polygon(7, 0, 0, 1, 0)


def test_ground_truth_box_matches_drawn_pixels():
    """The last drawn object is never occluded: its colour's pixels fill its box.

    PIL's scanline fill also paints pixels the edges only touch, so the raster is
    up to ~2 px wider than the exact (sub-pixel) ground-truth box, never smaller
    by more than rounding."""
    checked = 0
    for seed in range(40):
        s = render_scene(seed, 160, 160, clutter=False, noise=False)
        o = s.objects[-1]
        match = np.all(s.image == np.array(o.colour, np.uint8), axis=2)
        ys, xs = np.nonzero(match)
        if len(xs) < 30:
            continue
        got = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        d = np.array(got, float) - np.array(o.box)
        assert (d[:2] <= 1.0).all() and (d[:2] >= -2.0).all(), (seed, got, o.box)
        assert (d[2:] >= -1.0).all() and (d[2:] <= 2.0).all(), (seed, got, o.box)
        checked += 1
    assert checked >= 30


def test_cli_writes_images_and_labels(tmp_path):
    import json
    assert scenes.main(["--seed", "3", "--count", "2", "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert (tmp_path / rec["image"]).exists() and rec["objects"] and "box" in rec["objects"][0]


# ---- the crowd layout (SCENES.md, "Crowd layout") ----------------------------------------------

@pytest.fixture(scope="module")
def crowds():
    return [render_scene(s, *[(160, 120), (200, 200)][s % 2], layout="crowd") for s in range(120)]


def test_crowd_labels_only_objects_half_visible_with_their_whole_clipped_box(crowds):
    cut_deep = 0
    for s in crowds:
        h, w = s.image.shape[:2]
        for o in s.objects:
            assert scenes.CROWD_MIN_VISIBILITY <= o.visibility <= 1.0
            raw = shape_box(o.cls, o.cx, o.cy, o.r, o.angle)
            # the whole shape's box, clipped: not the visible part's
            assert o.box == pytest.approx((max(raw[0], 0), max(raw[1], 0), min(raw[2], w), min(raw[3], h)))
            raw_area = (raw[2] - raw[0]) * (raw[3] - raw[1])
            x1, y1, x2, y2 = o.box
            cut_deep += (x2 - x1) * (y2 - y1) < 0.6 * raw_area  # what the spaced rule forbids
    assert cut_deep > 0  # centres reach beyond the edges


def test_crowd_scenes_break_the_occlusion_rule_and_stay_deterministic(crowds):
    covered = 0
    for s in crowds:
        for j, later in enumerate(s.objects):
            for earlier in s.objects[:j]:
                ix = max(0.0, min(later.box[2], earlier.box[2]) - max(later.box[0], earlier.box[0]))
                iy = max(0.0, min(later.box[3], earlier.box[3]) - max(later.box[1], earlier.box[1]))
                covered += ix * iy > 0.4 * (earlier.box[2] - earlier.box[0]) * (earlier.box[3] - earlier.box[1])
    assert covered > 0
    a, b = render_scene(7, 160, 120, layout="crowd"), render_scene(7, 160, 120, layout="crowd")
    assert np.array_equal(a.image, b.image)
    assert [(o.cls, o.box, o.visibility) for o in a.objects] == [(o.cls, o.box, o.visibility) for o in b.objects]
    with pytest.raises(ValueError, match="unknown scene layout"):
        render_scene(7, 160, 120, layout="packed")


def test_crowd_share_picks_scenes_by_seed_and_zero_is_the_spaced_dataset():
    assert all(scenes.scene_layout(s, 0.0) == "spaced" for s in range(200))
    assert all(scenes.scene_layout(s, 1.0) == "crowd" for s in range(200))
    share = sum(scenes.scene_layout(s, 0.3) == "crowd" for s in range(2000)) / 2000
    assert 0.25 < share < 0.35
    # share 0: the very scenes of the spaced dataset
    for i in range(5):
        assert np.array_equal(dataset_scene(3, i, crowd_share=0.0).image, dataset_scene(3, i).image)
