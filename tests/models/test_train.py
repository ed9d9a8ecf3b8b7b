"""Training pieces: CIoU, target assignment, loss decreasing on a few images, CLI smoke + resume, mAP."""

import json
import math
import os

import numpy as np
import pytest
import torch

from models_testlib import MODELS
from lookout_models import train as tr
from lookout_models.ckpt import load_checkpoint
from lookout_models.evaluate import average_precision, map50, precision_recall
from lookout_models.loss import YoloLoss, bbox_ciou
from lookout_models.yolo import Model, load_yaml

SHAPES_YAML = os.path.join(MODELS, "lookout_models", "configs", "shapes.yaml")


def test_ciou_values():
    a = torch.tensor([[5.0, 5.0, 10.0, 10.0]])
    assert float(bbox_ciou(a, a)) == pytest.approx(1.0, abs=1e-5)
    # same centre and aspect: CIoU = IoU = 100 / 400
    assert float(bbox_ciou(a, torch.tensor([[5.0, 5.0, 20.0, 20.0]]))) == pytest.approx(0.25, abs=1e-5)
    # disjoint boxes: IoU 0 minus a centre-distance penalty
    far = float(bbox_ciou(a, torch.tensor([[50.0, 5.0, 10.0, 10.0]])))
    assert far < 0
    # aspect mismatch is penalised beyond plain IoU
    b = torch.tensor([[5.0, 5.0, 20.0, 5.0]])  # same centre, IoU with a = 50 / 150
    v = 4 / math.pi ** 2 * (math.atan(4.0) - math.atan(1.0)) ** 2
    alpha = v / (v - 1 / 3 + 1)
    assert float(bbox_ciou(a, b)) == pytest.approx(1 / 3 - alpha * v, abs=1e-4)
    assert float(bbox_ciou(a, b)) < 1 / 3 - 0.01


def test_build_targets_uses_centre_cell_and_two_neighbours():
    m = Model(load_yaml(SHAPES_YAML))
    loss = YoloLoss(m, imgsz=64)
    preds = [torch.zeros(1, 3, 64 // s, 64 // s, 10) for s in (8, 16, 32)]
    # one object at (0.3, 0.3) of the image, 12x12 px (fits the smallest P3 anchors)
    t = torch.tensor([[0, 2, 0.3, 0.3, 12 / 64, 12 / 64]])
    b, a, gj, gi, tbox, anch, c = loss.build_targets(preds, t)[0]
    cells = sorted(set(zip(gj.tolist(), gi.tolist())))
    # grid 8x8: centre 2.4 -> cell 2; fractional part 0.4 < 0.5 -> also the cells to the left and above
    assert cells == [(1, 2), (2, 1), (2, 2)]
    assert set(c.tolist()) == {2}
    assert len(set(a.tolist())) == 3  # all three P3 anchors within the 4x ratio
    # box target is relative to the assigned cell (offsets in -0.5 .. 1.5)
    assert float(tbox[:, :2].min()) >= -0.5 and float(tbox[:, :2].max()) <= 1.5
    # 120 px is more than 4x every P3 anchor (12, 18, 25 px): assigned on P5 only
    preds = [torch.zeros(1, 3, 256 // s, 256 // s, 10) for s in (8, 16, 32)]
    big = torch.tensor([[0, 1, 0.5, 0.5, 120 / 256, 120 / 256]])
    levels = loss.build_targets(preds, big)
    assert levels[0][0].numel() == 0 and levels[2][0].numel() > 0


def test_loss_decreases_on_a_handful_of_images():
    torch.manual_seed(0)
    m = Model(load_yaml(SHAPES_YAML)).train()
    loss_fn = YoloLoss(m, imgsz=128)
    x, t = tr.make_batch(0, [0, 1, 2, 3], 128, np.random.default_rng(0), sizes=tr.train_sizes(128), flip=False)
    assert x.shape == (4, 3, 128, 128) and t.shape[1] == 6 and len(t) >= 4
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, parts = loss_fn(m(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.6 * first, (first, last)


def test_make_batch_targets_follow_letterbox_and_flips():
    rng = np.random.default_rng(5)
    idx = [3]
    from lookout_models.scenes import dataset_scene
    sc = dataset_scene(0, 3, tr.train_sizes(96))
    x, t = tr.make_batch(0, idx, 96, rng, sizes=tr.train_sizes(96), flip=False)
    h, w = sc.image.shape[:2]
    top, left = (96 - h) // 2, (96 - w) // 2
    b = sc.boxes
    cx = (b[:, 0] + b[:, 2]) / 2 + left
    assert np.allclose(np.sort(t[:, 2].numpy() * 96), np.sort(cx), atol=1e-3)
    # pixels of the scene are copied unchanged into the letterbox
    assert np.array_equal((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)[top:top + h, left:left + w],
                          sc.image)


def test_train_cli_smoke_and_resume(tmp_path):
    out = tmp_path / "run"
    args = ["--out", str(out), "--imgsz", "128", "--images", "8", "--batch", "4", "--epochs", "1",
            "--val-images", "3", "--warmup", "2", "--quiet"]
    s = tr.train(tr.parse_args(args))
    assert s["epochs_done"] == 1 and (out / "last.pt").exists() and (out / "best.pt").exists()
    s2 = tr.train(tr.parse_args(args + ["--epochs", "2", "--resume"]))
    assert s2["epochs_done"] == 2
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    ck = load_checkpoint(str(out / "best.pt"))
    assert ck.source == "lookout" and ck.names == ["circle", "square", "triangle", "star", "cross"]
    assert ck.meta["train_settings"]["imgsz"] == 128
    with pytest.raises(FileNotFoundError, match="last.pt does not exist"):
        tr.train(tr.parse_args(["--out", str(tmp_path / "empty"), "--resume"]))


def test_same_seed_same_weights(tmp_path):
    # The default model's recipe is one seeded command with an iteration-based
    # schedule: two runs must give the same weights bit for bit (same torch
    # build and thread count), or the shipped model could not be reproduced.
    def run(name, seed):
        out = tmp_path / name
        tr.train(tr.parse_args(["--out", str(out), "--imgsz", "128", "--images", "8", "--batch", "4",
                                "--epochs", "2", "--val-images", "2", "--warmup", "2", "--quiet",
                                "--seed", str(seed)]))
        return load_checkpoint(str(out / "last.pt")).model.state_dict()
    a, b, c = run("a", 3), run("b", 3), run("c", 4)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


# --------------------------------------------------------------------------- mAP

def test_average_precision_all_point():
    # recall 0.5 at precision 1, recall 1.0 at precision 0.5 -> 0.5 * 1 + 0.5 * 0.5
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # the envelope takes the best precision to the right: a dip is lifted
    assert average_precision(np.array([0.25, 0.5, 0.75]), np.array([1.0, 0.5, 0.75])) == pytest.approx(
        0.25 * 1.0 + 0.5 * 0.75)


def test_map50_counts_tp_fp_duplicates_and_classes():
    gt = (np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0, 1]))
    perfect = (gt[0], np.array([0.9, 0.8]), gt[1])
    assert map50([perfect], [gt], 2)["map50"] == pytest.approx(1.0)
    # class 0: a higher-scored false positive, then the hit -> AP 0.5; class 1: a duplicate after the hit -> AP 1
    dets = (np.array([[50, 50, 60, 60], [0, 0, 10, 10], [20, 20, 30, 30], [21, 21, 30, 30]], float),
            np.array([0.95, 0.9, 0.8, 0.7]), np.array([0, 0, 1, 1]))
    res = map50([dets], [gt], 3)
    assert res["ap"] == [pytest.approx(0.5), pytest.approx(1.0), None]  # class 2 has no ground truth
    assert res["map50"] == pytest.approx(0.75)
    # wrong class or IoU < 0.5 is a miss
    wrong = (np.array([[0, 0, 10, 10], [20, 20, 26, 26]], float), np.array([0.9, 0.9]), np.array([1, 1]))
    assert map50([wrong], [gt], 2)["map50"] == 0.0
    p, r = precision_recall([dets], [gt], 2, conf=0.85)
    assert (p, r) == (pytest.approx(0.5), pytest.approx(0.5))
