"""Reference pipeline: letterbox, NMS, box mapping, and detections on bus.jpg / zidane.jpg."""

import json
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models_testlib import run_module
from lookout_models import reference as ref


# --------------------------------------------------------------------------- letterbox

def test_letterbox_portrait_like_bus():
    img = np.random.default_rng(0).integers(0, 256, (1080, 810, 3), dtype=np.uint8)
    out, r, (dw, dh) = ref.letterbox(img, (640, 640))
    assert out.shape == (640, 640, 3) and out.dtype == np.uint8
    assert r == pytest.approx(640 / 1080)
    assert (dw, dh) == (80.0, 0.0)  # 810 * 0.5926 = 480 wide -> 80 px each side
    assert (out[:, :80] == 114).all() and (out[:, 560:] == 114).all()
    assert not (out[:, 80:560] == 114).all()


def test_letterbox_landscape_rounding_like_ultralytics():
    img = np.full((720, 1280, 3), 7, dtype=np.uint8)
    out, r, (dw, dh) = ref.letterbox(img, (640, 640))
    # 1280x720 -> 640x360, dh = 140: top round(139.9) = 140, bottom round(140.1) = 140
    assert (dw, dh) == (0.0, 140.0)
    assert (out[:140] == 114).all() and (out[500:] == 114).all() and (out[140:500] == 7).all()
    # odd padding: 100x51 into 64x64: r = 0.64 -> 64x33 (round(32.64)), dh = 15.5 -> top 15, bottom 16
    img = np.full((51, 100, 3), 9, dtype=np.uint8)
    out, r, (dw, dh) = ref.letterbox(img, (64, 64))
    assert dh == 15.5
    assert (out[:15] == 114).all() and (out[15:48] == 9).all() and (out[48:] == 114).all()


def test_letterbox_resize_is_plain_bilinear_half_pixel():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out, r, _ = ref.letterbox(img, (20, 30))
    assert r == 0.5
    # half-pixel-centre bilinear at exactly 1/2 scale = mean of each 2x2 block (no wider antialias filter)
    blocks = img.reshape(20, 2, 30, 2, 3).astype(np.int64).sum(axis=(1, 3))
    # rounded half up, (sum + 2) >> 2, as OpenCV's INTER_LINEAR and libyuv's
    # box filter round (not torch's half-to-even)
    assert np.array_equal(out.astype(np.int64), (blocks + 2) >> 2)
    assert ((blocks % 4) == 2).any()  # the data has ties, so the rule is exercised


def test_letterbox_no_resize_when_size_matches():
    img = np.random.default_rng(2).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    out, r, (dw, dh) = ref.letterbox(img, (64, 64))
    assert r == 1.0 and (dw, dh) == (0.0, 16.0)
    assert np.array_equal(out[16:48], img)


# --------------------------------------------------------------------------- NMS

def brute_force_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if inter / union > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_nms_matches_brute_force_on_random_boxes():
    rnd = random.Random(0)
    for trial in range(20):
        n = rnd.randint(1, 60)
        boxes = []
        for _ in range(n):
            x, y = rnd.uniform(0, 100), rnd.uniform(0, 100)
            boxes.append([x, y, x + rnd.uniform(5, 40), y + rnd.uniform(5, 40)])
        scores = [rnd.random() for _ in range(n)]
        got = ref.nms(torch.tensor(boxes), torch.tensor(scores), 0.45).tolist()
        assert got == brute_force_nms(boxes, scores, 0.45), trial


def test_non_max_suppression_is_class_aware_and_thresholded():
    def row(cx, cy, w, h, obj, cls_scores):
        return [cx, cy, w, h, obj] + cls_scores
    pred = torch.tensor([[
        row(50, 50, 20, 20, 0.9, [0.9, 0.1]),    # class 0, score 0.81
        row(51, 50, 20, 20, 0.8, [0.9, 0.1]),    # same class, IoU ~0.9 -> suppressed
        row(50, 51, 20, 20, 0.9, [0.1, 0.8]),    # other class, same place -> kept (score 0.72)
        row(150, 150, 20, 20, 0.9, [0.2, 0.25]),  # obj*cls = 0.225 < 0.25 -> dropped
        row(10, 10, 8, 8, 0.2, [1.0, 0.0]),      # objectness below conf -> dropped
    ]])
    det = ref.non_max_suppression(pred, 0.25, 0.45)
    assert det.shape == (2, 6)
    assert det[:, 5].tolist() == [0.0, 1.0]
    assert det[:, 4].tolist() == pytest.approx([0.81, 0.72])
    assert det[0, :4].tolist() == [40, 40, 60, 60]


def test_scale_boxes_inverts_letterbox():
    r, pad = 640 / 1080, (80.0, 0.0)
    boxes = torch.tensor([[100.0, 200.0, 300.0, 400.0]])
    lb = boxes * r + torch.tensor([80.0, 0.0, 80.0, 0.0])
    back = ref.scale_boxes(lb, r, pad, 810, 1080)
    assert torch.allclose(back, boxes, atol=1e-4)
    clipped = ref.scale_boxes(torch.tensor([[0.0, -5.0, 700.0, 700.0]]), r, pad, 810, 1080)
    assert clipped.tolist() == [[0.0, 0.0, 810.0, 1080.0]]


def test_parse_names():
    assert ref.parse_names({"0": "a", "1": "b"}) == ["a", "b"]
    assert ref.parse_names(["x", "y"]) == ["x", "y"]
    assert ref.parse_names(None, 3) == ["0", "1", "2"]


# --------------------------------------------------------------------------- real images

def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_bus_and_zidane_detections_via_cli(yolov5n_torchscript, bus_jpg, zidane_jpg):
    out, _ = yolov5n_torchscript
    r = run_module("reference", "--model", out, bus_jpg, zidane_jpg)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [os.path.basename(x["image"]) for x in recs] == ["bus.jpg", "zidane.jpg"]
    bus, zid = recs
    assert (bus["width"], bus["height"]) == (810, 1080) and (zid["width"], zid["height"]) == (1280, 720)

    names = [d["class"] for d in bus["detections"]]
    assert names.count("bus") == 1
    assert 3 <= names.count("person") <= 4
    assert set(names) <= {"bus", "person"}
    busbox = [d for d in bus["detections"] if d["class"] == "bus"][0]["box"]
    # the bus spans the image width in the upper-middle part of the picture
    assert busbox[0] < 100 and busbox[2] > 750 and 150 < busbox[1] < 320 and 700 < busbox[3] < 850
    persons = sorted((d for d in bus["detections"] if d["class"] == "person"), key=lambda d: -d["score"])
    for p in persons[:3]:
        assert p["score"] > 0.4 and 300 < p["box"][1] < 480 and p["box"][3] > 800  # standing people
    for d in bus["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080 and 0.25 < d["score"] <= 1

    znames = [d["class"] for d in zid["detections"]]
    assert znames.count("person") >= 2 and "tie" in znames
    zp = sorted((d for d in zid["detections"] if d["class"] == "person"), key=lambda d: d["box"][0])
    assert zp[0]["box"][2] < 800 and zp[-1]["box"][0] > 600  # one person left, one right (Zidane)


@pytest.mark.slow
def test_eager_checkpoint_and_torchscript_pipelines_agree(yolov5n_torchscript, yolov5n_pt, bus_jpg):
    img = ref.load_image(bus_jpg)
    ts = ref.detect(ref.load_model(yolov5n_torchscript[0]), img)
    eager = ref.detect(ref.load_model(yolov5n_pt), img)
    assert len(ts) == len(eager) >= 4
    for a, b in zip(ts, eager):
        assert a["class_id"] == b["class_id"]
        assert abs(a["score"] - b["score"]) < 1e-3
        assert iou(a["box"], b["box"]) > 0.99


@pytest.mark.slow
def test_other_input_size(yolov5n_torchscript, bus_jpg):
    # the scripted Detect head lets the same file run at 640x480 (H x W) on a portrait image
    m = ref.load_model(yolov5n_torchscript[0])
    dets = ref.detect(m, ref.load_image(bus_jpg), shape=(640, 480))
    names = [d["class"] for d in dets]
    assert names.count("bus") == 1 and names.count("person") >= 3


def test_cli_reports_bad_inputs(tmp_path):
    r = run_module("reference", "--model", str(tmp_path / "nope.torchscript"), "x.jpg")
    assert r.returncode == 2 and "cannot load model" in r.stderr



def test_cli_rejects_unaligned_imgsz(tmp_path):
    from lookout_models import yolo
    from lookout_models.export import export_model
    cfg = yolo.v6_config("n", nc=2)
    cfg["width_multiple"] = 0.125
    m = yolo.Model(cfg).eval()
    out = str(tmp_path / "m.torchscript")
    export_model(m, m.names, out, (64, 64))
    img = tmp_path / "img.png"
    from PIL import Image
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(img)
    r = run_module("reference", "--model", out, "--imgsz", "70", "64", str(img))
    assert r.returncode == 2 and "multiples of the stride 32" in r.stderr
    r = run_module("reference", "--model", out, "--imgsz", "96", "64", str(img), str(tmp_path / "missing.png"))
    assert r.returncode == 1 and "cannot read image" in r.stderr
    rec = json.loads(r.stdout.strip().splitlines()[0])
    assert (rec["width"], rec["height"]) == (60, 40) and isinstance(rec["detections"], list)
