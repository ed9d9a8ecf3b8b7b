"""mAP@0.5 of a detector on a held-out set of generated shapes-v1 scenes.

Why: the default model's accuracy target (mAP@0.5 >= 0.9) and the figure in
its ``config.txt`` recipe come from here, measured on scenes the model never
saw (a different dataset seed, and a different stream than training uses).

Metric: per class, detections of all images sorted by score; each is a true
positive when it has IoU >= 0.5 with a not-yet-matched ground-truth box of the
same class in its image (the best-IoU one), else a false positive.  AP is the
area under the precision envelope over all recall points (VOC 2010+
"all-point interpolation"); mAP is the mean over classes that have ground
truth.  Detections come from :mod:`lookout_models.reference` (letterbox,
NMS) with ``conf = 0.001``, ``iou = 0.6`` as ultralytics' val.py uses;
precision/recall at ``conf = 0.25`` (the deployment default) and ``0.5`` are
reported too (same NMS IoU 0.6).

CLI::

    python3 -m lookout_models.evaluate --model models/default/shapes.torchscript --seed 1001 --count 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import reference
from .scenes import CLASSES, DEFAULT_SIZES, dataset_scene

EVAL_STREAM = 1  # scene_seed stream for held-out sets (training uses stream 0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes, ``[N, 4] x [M, 4] -> [N, M]``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (aa[:, None] + ab[None, :] - inter + 1e-9)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP: area under the monotone precision envelope."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def map50(detections: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
          truths: Sequence[Tuple[np.ndarray, np.ndarray]], nc: int, iou_thres: float = 0.5) -> Dict[str, object]:
    """mAP at ``iou_thres``.

    ``detections[i] = (boxes [K,4], scores [K], classes [K])`` and
    ``truths[i] = (boxes [G,4], classes [G])`` for image ``i``.
    Returns ``{"map50", "ap": per-class list (None = class absent), "n_gt": per class}``.
    """
    if len(detections) != len(truths):
        raise ValueError(f"map50: {len(detections)} detection lists for {len(truths)} images")
    ap: List[Optional[float]] = []
    n_gt_all = []
    for c in range(nc):
        recs = []  # (score, image, box)
        n_gt = 0
        gts = []
        for i, ((db, ds, dc), (gb, gc)) in enumerate(zip(detections, truths)):
            gts.append(np.asarray(gb, dtype=np.float64).reshape(-1, 4)[np.asarray(gc) == c])
            n_gt += len(gts[-1])
            m = np.asarray(dc) == c
            for b, s in zip(np.asarray(db, dtype=np.float64).reshape(-1, 4)[m], np.asarray(ds)[m]):
                recs.append((float(s), i, b))
        n_gt_all.append(n_gt)
        if n_gt == 0:
            ap.append(None)
            continue
        recs.sort(key=lambda r: -r[0])
        used = [np.zeros(len(g), dtype=bool) for g in gts]
        tp = np.zeros(len(recs))
        for k, (_, i, b) in enumerate(recs):
            g = gts[i]
            if len(g):
                ious = iou_matrix(b[None], g)[0]
                ious[used[i]] = -1.0
                j = int(np.argmax(ious))
                if ious[j] >= iou_thres:
                    used[i][j] = True
                    tp[k] = 1
        ctp = np.cumsum(tp)
        cfp = np.cumsum(1 - tp)
        recall = ctp / n_gt
        precision = ctp / np.maximum(ctp + cfp, 1e-9)
        ap.append(average_precision(recall, precision) if len(recs) else 0.0)
    valid = [a for a in ap if a is not None]
    return {"map50": float(np.mean(valid)) if valid else 0.0, "ap": ap, "n_gt": n_gt_all}


def precision_recall(detections, truths, nc: int, conf: float, iou_thres: float = 0.5) -> Tuple[float, float]:
    """Overall precision and recall of detections scoring >= ``conf`` (greedy class-aware matching)."""
    tp = fp = n_gt = 0
    for (db, ds, dc), (gb, gc) in zip(detections, truths):
        keep = np.asarray(ds) >= conf
        db, ds, dc = np.asarray(db).reshape(-1, 4)[keep], np.asarray(ds)[keep], np.asarray(dc)[keep]
        gb, gc = np.asarray(gb).reshape(-1, 4), np.asarray(gc)
        n_gt += len(gb)
        used = np.zeros(len(gb), dtype=bool)
        for k in np.argsort(-ds):
            ious = iou_matrix(db[k:k + 1], gb)[0] if len(gb) else np.zeros(0)
            ious = np.where(used | (gc != dc[k]), -1.0, ious)
            if len(ious) and ious.max() >= iou_thres:
                used[int(np.argmax(ious))] = True
                tp += 1
            else:
                fp += 1
    return tp / max(tp + fp, 1), tp / max(n_gt, 1)


def evaluate_model(model: reference.LoadedModel, seed: int = 1001, count: int = 500,
                   shape: Optional[Tuple[int, int]] = None, sizes=DEFAULT_SIZES,
                   conf: float = 0.001, iou: float = 0.6) -> Dict[str, object]:
    """Run ``model`` on ``count`` held-out scenes of dataset ``seed``; return the metrics dict."""
    dets, truths = [], []
    t0 = time.time()
    for i in range(count):
        sc = dataset_scene(seed, i, sizes, stream=EVAL_STREAM)
        d = reference.detect(model, sc.image, shape, conf_thres=conf, iou_thres=iou, max_det=300)
        dets.append((np.array([x["box"] for x in d]).reshape(-1, 4), np.array([x["score"] for x in d]),
                     np.array([x["class_id"] for x in d])))
        truths.append((sc.boxes, sc.classes))
    res = map50(dets, truths, len(CLASSES))
    p, r = precision_recall(dets, truths, len(CLASSES), conf=0.25)
    p5, r5 = precision_recall(dets, truths, len(CLASSES), conf=0.5)
    res.update({"precision@0.25": p, "recall@0.25": r, "precision@0.5": p5, "recall@0.5": r5,
                "images": count, "seed": seed,
                "objects": int(sum(res["n_gt"])), "seconds": round(time.time() - t0, 1)})
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.evaluate",
                                 description="mAP@0.5 of a shapes detector on held-out generated scenes.")
    ap.add_argument("--model", required=True, help="TorchScript file or lookout .pt checkpoint")
    ap.add_argument("--seed", type=int, default=1001, help="held-out dataset seed (training default is 0)")
    ap.add_argument("--count", type=int, default=500, help="number of scenes")
    ap.add_argument("--imgsz", type=int, nargs="+", default=None, help="input H W (default: the model's shape)")
    ap.add_argument("--min-map", type=float, default=None, help="exit 1 when mAP@0.5 is below this")
    a = ap.parse_args(argv)
    if a.imgsz is not None and len(a.imgsz) > 2:
        ap.error(f"--imgsz takes H W or one value for a square, got {len(a.imgsz)} values")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    m = reference.load_model(a.model)
    shape = (a.imgsz[0], a.imgsz[-1]) if a.imgsz else None
    res = evaluate_model(m, a.seed, a.count, shape)
    res["ap"] = {CLASSES[i]: (None if v is None else round(v, 4)) for i, v in enumerate(res["ap"])}
    print(json.dumps(res))
    if a.min_map is not None and res["map50"] < a.min_map:
        print(f"mAP@0.5 {res['map50']:.4f} is below --min-map {a.min_map}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
