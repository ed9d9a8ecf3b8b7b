"""The committed default model models/default/shapes.torchscript: metadata, size, detections."""

import os

import numpy as np
import pytest
import torch

from models_testlib import DEFAULT_MODEL, run_module
from lookout_models import reference as ref
from lookout_models.evaluate import EVAL_STREAM, iou_matrix
from lookout_models.scenes import CLASSES, dataset_scene, render_scene


@pytest.fixture(scope="module")
def model():
    assert os.path.exists(DEFAULT_MODEL), f"the committed default model is missing: {DEFAULT_MODEL}"
    return ref.load_model(DEFAULT_MODEL)


def test_file_size_and_metadata(model):
    assert os.path.getsize(DEFAULT_MODEL) <= 4 * 1024 * 1024
    cfg = model.config
    for key in ("shape", "stride", "names", "task", "name", "dynamic", "anchors", "letterbox", "recipe"):
        assert key in cfg, key
    assert cfg["names"] == CLASSES and cfg["task"] == "detect" and cfg["dynamic"] is True
    assert cfg["shape"][:2] == [1, 3] and cfg["stride"] == 32
    assert cfg["letterbox"] == {"pad": 114, "center": True}
    assert cfg["recipe"]["heldout"]["map50"] >= 0.9
    h, w = cfg["shape"][2:]
    with torch.no_grad():
        y = model.module(torch.rand(1, 3, h, w))
    assert y.shape[0] == 1 and y.shape[2] == 5 + len(CLASSES)


def _match(dets, scene):
    gt_b, gt_c = scene.boxes, scene.classes
    found = 0
    used = np.zeros(len(gt_b), bool)
    for d in sorted(dets, key=lambda d: -d["score"]):
        ious = iou_matrix(np.array([d["box"]]), gt_b)[0]
        ious[(gt_c != d["class_id"]) | used] = -1
        if len(ious) and ious.max() >= 0.5:
            used[int(np.argmax(ious))] = True
            found += 1
    return found, len(gt_b), len(dets)


@pytest.mark.parametrize("shape", [None, (384, 384), (320, 416)])
def test_finds_objects_in_fresh_heldout_scenes(model, shape):
    """Recall / precision on 60 scenes of a seed that training (0), validation (500) and the
    recipe's evaluation (1001) never used; at the default shape and at other stride-aligned sizes."""
    counts = {0.25: [0, 0, 0], 0.5: [0, 0, 0]}
    for i in range(60):
        sc = dataset_scene(4242, i, stream=EVAL_STREAM)
        dets = ref.detect(model, sc.image, shape, conf_thres=0.25)
        for conf, c in counts.items():
            f, t, n = _match([d for d in dets if d["score"] >= conf], sc)
            c[0], c[1], c[2] = c[0] + f, c[1] + t, c[2] + n
    found, total, ndet = counts[0.25]
    assert found / total >= 0.9, f"recall at conf 0.25: {found}/{total}"
    assert found / ndet >= 0.6, f"precision at conf 0.25: {found}/{ndet}"
    found, total, ndet = counts[0.5]
    assert found / ndet >= 0.85, f"precision at conf 0.5: {found}/{ndet}"


def test_daemon_sized_frames(model):
    """640x480 frames (the synthetic source's kind of size), letterboxed to the default 320x320."""
    found = total = 0
    for s in range(10):
        sc = render_scene(98765 + s, 640, 480)
        f, t, _ = _match(ref.detect(model, sc.image), sc)
        found, total = found + f, total + t
    assert found / total >= 0.9, f"{found}/{total}"


def test_evaluate_cli_runs_on_the_default_model():
    import json
    r = run_module("evaluate", "--model", DEFAULT_MODEL, "--count", "12", "--seed", "77")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["images"] == 12 and 0.0 <= res["map50"] <= 1.0 and set(res["ap"]) == set(CLASSES)
