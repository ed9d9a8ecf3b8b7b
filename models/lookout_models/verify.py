"""Re-check an exported TorchScript file against the checkpoint it came from.

Why: the export command verifies its output before moving it into place, but
files get copied, re-exported with other options, or edited by hand; this
command repeats the checks on any existing file:

* ``config.txt`` present with the FORMAT.md keys;
* output shape and eager-vs-TorchScript agreement at the file's default size
  and at a second size (see :func:`lookout_models.export.verify`; relative
  tolerance for files made with ``--optimize-mobile``);
* optionally, for each ``--image``, the reference pipeline's detections from
  the TorchScript file and from the eager checkpoint are the same (class, score
  within 1e-3, box IoU > 0.99), and are printed as JSON lines.

    cd models && /usr/bin/python3 -m lookout_models.verify --weights W.pt --model M.torchscript \\
        --image ../../shared/data/yolov5/bus.jpg
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from . import reference
from .ckpt import CheckpointError, load_checkpoint
from .export import alt_size, verify

REQUIRED = ("shape", "stride", "names", "task", "name", "dynamic", "anchors", "letterbox", "recipe")


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.verify",
                                 description="Check a lookout TorchScript detector against its checkpoint.")
    ap.add_argument("--weights", required=True, help="the checkpoint the file was exported from")
    ap.add_argument("--model", required=True, help="the TorchScript file")
    ap.add_argument("--image", action="append", default=[], help="image to compare detections on (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    problems = []
    try:
        ck = load_checkpoint(a.weights)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = reference.read_config(a.model)
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        problems.append(f"config.txt lacks {missing}")
    shape = cfg.get("shape", [1, 3, 640, 640])
    h, w = int(shape[2]), int(shape[3])
    stride = int(cfg.get("stride", 32))
    mobile = bool(cfg.get("recipe", {}).get("optimize_for_mobile", False))
    try:
        checks = verify(a.model, ck.model, [(h, w), alt_size(h, w, stride)], 1e-3 if mobile else 1e-4,
                        relative=mobile)
        print(json.dumps({"model": a.model, "checks": checks}))
    except AssertionError as e:
        problems.append(str(e))
    if cfg.get("names") is not None and reference.parse_names(cfg["names"]) != ck.names:
        problems.append("config.txt names differ from the checkpoint's names")
    ts_model = reference.load_model(a.model)
    eager = reference.LoadedModel(ck.model, cfg, ck.names, (h, w), stride)
    for img_path in a.image:
        img = reference.load_image(img_path)
        d_ts = reference.detect(ts_model, img)
        d_eager = reference.detect(eager, img)
        print(json.dumps({"image": img_path, "width": int(img.shape[1]), "height": int(img.shape[0]),
                          "detections": d_ts}))
        same = len(d_ts) == len(d_eager) and all(
            x["class_id"] == y["class_id"] and abs(x["score"] - y["score"]) < 1e-3 and _iou(x["box"], y["box"]) > 0.99
            for x, y in zip(d_ts, d_eager))
        if not same:
            problems.append(f"{img_path}: TorchScript and eager detections differ ({len(d_ts)} vs {len(d_eager)})")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    print(f"ok: {a.model} matches {a.weights}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
