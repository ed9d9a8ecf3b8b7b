"""Reference detection pipeline: letterbox -> model -> NMS -> boxes in image pixels.

Why: the C++ engine's parity tests compare their detections against this
module, so every step is spelled out here and kept identical to ultralytics'
``detect.py`` (v6.1) semantics for TorchScript models:

1. **Letterbox** to the model's input ``(H, W)`` (``auto=False``: the full
   size, not the minimal stride-aligned rectangle): ``r = min(H/h, W/w)``
   (up-scaling allowed), new size ``(round(w*r), round(h*r))``, resized with
   **bilinear interpolation, half-pixel centres, no antialiasing**
   (``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``,
   the same sampling as OpenCV's ``INTER_LINEAR`` that ultralytics uses; the
   C++ side uses libyuv's ``kFilterBilinear``, which samples the same way up to
   rounding), rounded half up back to uint8, then padded with 114 on all sides,
   centred: ``top = round(dh/2 - 0.1)``, ``left = round(dw/2 - 0.1)``.
2. RGB, ``float32 / 255``, ``[1, 3, H, W]``.
3. Model output ``[1, N, 5 + nc]`` (``cx, cy, w, h``, objectness, class scores).
4. **NMS** (ultralytics ``non_max_suppression``, single label): keep rows with
   objectness > conf; score = objectness * class score, best class per row;
   keep score > conf; at most 30000 candidates by score; class-aware greedy
   NMS (boxes offset by ``class * 7680``), suppressing IoU > iou; at most
   ``max_det`` results.  Written in plain torch (no torchvision).
5. Boxes mapped back: subtract the padding, divide by ``r``, clip to the image.

CLI (JSON lines, one per image)::

    python3 -m lookout_models.reference --model M.torchscript IMAGE [IMAGE ...]
    {"image": ..., "width": ..., "height": ..., "detections": [{"class": ..., "class_id": ...,
     "score": ..., "box": [x1, y1, x2, y2]}, ...]}

``--model`` may also be an ultralytics/lookout ``.pt`` checkpoint (imported with
:mod:`lookout_models.ckpt`, run eagerly).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

PAD_VALUE = 114
MAX_WH = 7680  # class offset for class-aware NMS (ultralytics' value)
MAX_NMS = 30000


def letterbox(img: np.ndarray, new_shape: Tuple[int, int], pad: int = PAD_VALUE,
              scaleup: bool = True) -> Tuple[np.ndarray, float, Tuple[float, float]]:
    """Resize ``img`` (HxWx3 uint8) keeping aspect and pad it, centred, to ``new_shape`` = (H, W).

    Returns ``(out, r, (dw, dh))``: the HxWx3 uint8 result, the scale factor
    and the (fractional) padding on the left/top side before rounding.
    """
    if img.ndim != 3 or img.dtype != np.uint8:
        raise ValueError(f"letterbox: expected an HxWxC uint8 array, got shape {img.shape} dtype {img.dtype}")
    h0, w0 = img.shape[:2]
    nh, nw = int(new_shape[0]), int(new_shape[1])
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    uw, uh = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = (nw - uw) / 2, (nh - uh) / 2
    if (w0, h0) != (uw, uh):
        t = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(uh, uw), mode="bilinear", align_corners=False)
        # Round half up, as OpenCV's fixed-point INTER_LINEAR and libyuv do;
        # torch's round() goes half to even, which at an exact 1/2 downscale
        # moves a quarter of the pixels by one level (enough to shift a
        # marginal yolov5n score on zidane.jpg by 0.011).
        img = torch.floor(t[0].permute(1, 2, 0) + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = np.full((uh + top + bottom, uw + left + right, img.shape[2]), pad, dtype=np.uint8)
    out[top:top + uh, left:left + uw] = img
    return out, r, (dw, dh)


def xywh2xyxy(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, 0] = x[:, 0] - x[:, 2] / 2
    y[:, 1] = x[:, 1] - x[:, 3] / 2
    y[:, 2] = x[:, 0] + x[:, 2] / 2
    y[:, 3] = x[:, 1] + x[:, 3] / 2
    return y


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``[N, 4]`` and ``[M, 4]`` xyxy boxes -> ``[N, M]``."""
    area_a = (a[:, 2] - a[:, 0]).clamp(0) * (a[:, 3] - a[:, 1]).clamp(0)
    area_b = (b[:, 2] - b[:, 0]).clamp(0) * (b[:, 3] - b[:, 1]).clamp(0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(0).prod(2)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thres: float, max_keep: int = 0) -> torch.Tensor:
    """Greedy NMS (as ``torchvision.ops.nms``): indices kept, by decreasing score.

    ``max_keep > 0`` stops after that many boxes; greedy NMS keeps boxes in
    score order, so this equals truncating the full result (and is faster).
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True)
    boxes = boxes[order]
    keep: List[int] = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
    chunk = 1024
    for i in range(boxes.shape[0]):
        if suppressed[i]:
            continue
        keep.append(i)
        if max_keep and len(keep) >= max_keep:
            break
        rest = boxes[i + 1:]
        if rest.shape[0] == 0:
            break
        # IoU of box i with all later boxes, in chunks to bound memory.
        for s in range(0, rest.shape[0], chunk):
            iou = box_iou(boxes[i:i + 1], rest[s:s + chunk])[0]
            suppressed[i + 1 + s:i + 1 + s + iou.shape[0]] |= iou > iou_thres
    return order[torch.tensor(keep, dtype=torch.long)]


def non_max_suppression(pred: torch.Tensor, conf_thres: float = 0.25, iou_thres: float = 0.45,
                        max_det: int = 1000) -> torch.Tensor:
    """ultralytics-style NMS of one image's ``[N, 5 + nc]`` rows -> ``[K, 6]`` (xyxy, score, class)."""
    if pred.dim() == 3:
        if pred.shape[0] != 1:
            raise ValueError(f"non_max_suppression: one image at a time, got batch {pred.shape[0]}")
        pred = pred[0]
    x = pred[pred[:, 4] > conf_thres].float()
    if x.shape[0] == 0:
        return torch.zeros((0, 6))
    if x.shape[1] > 5:
        cls_scores = x[:, 5:] * x[:, 4:5]
        conf, j = cls_scores.max(1, keepdim=True)
    else:  # single-class model without class scores
        conf, j = x[:, 4:5], torch.zeros((x.shape[0], 1), dtype=torch.long)
    det = torch.cat((xywh2xyxy(x[:, :4]), conf, j.float()), 1)[conf.view(-1) > conf_thres]
    if det.shape[0] > MAX_NMS:
        det = det[det[:, 4].argsort(descending=True)[:MAX_NMS]]
    offs = det[:, 5:6] * MAX_WH
    keep = nms(det[:, :4] + offs, det[:, 4], iou_thres, max_det)
    return det[keep]


def scale_boxes(boxes: torch.Tensor, r: float, pad: Tuple[float, float], width: int, height: int) -> torch.Tensor:
    """Map xyxy boxes from letterboxed input pixels back to the original image, clipped."""
    b = boxes.clone()
    b[:, [0, 2]] -= pad[0]
    b[:, [1, 3]] -= pad[1]
    b[:, :4] /= r
    b[:, [0, 2]] = b[:, [0, 2]].clamp(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clamp(0, height)
    return b


def parse_names(names: Any, nc: Optional[int] = None) -> List[str]:
    """``names`` as a list (FORMAT.md allows a list or a ``{"0": name}`` dict)."""
    if names is None:
        return [str(i) for i in range(nc or 0)]
    if isinstance(names, dict):
        return [str(names.get(str(i), names.get(i, i))) for i in range(len(names))]
    return [str(n) for n in names]


@dataclass
class LoadedModel:
    """A model ready for :func:`detect`: a callable, its metadata and its default input size."""

    module: Any
    config: Dict[str, Any]
    names: List[str]
    shape: Tuple[int, int]  # default input (H, W)
    stride: int
    task: str = "detect"
    path: str = ""


def read_config(path: str) -> Dict[str, Any]:
    """The ``config.txt`` extra file of a TorchScript model as a dict ({} if absent)."""
    extra = {"config.txt": ""}
    torch.jit.load(path, map_location="cpu", _extra_files=extra)
    raw = extra["config.txt"]
    if not raw:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: config.txt is not valid JSON ({e})") from None


def load_model(path: str) -> LoadedModel:
    """Load a TorchScript file (with its config.txt) or a ``.pt`` checkpoint (eager)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if path.endswith(".pt") and not path.endswith(".torchscript.pt"):
        from .ckpt import load_checkpoint
        ck = load_checkpoint(path)
        model = ck.model.float().eval()
        stride = int(model.stride.max())
        size = int(ck.meta.get("train_settings", {}).get("imgsz", 640))  # lookout checkpoints: training size
        cfg = {"shape": [1, 3, size, size], "stride": stride, "names": model.names, "task": "detect"}
        return LoadedModel(model, cfg, list(model.names), (size, size), stride, "detect", path)
    extra = {"config.txt": ""}
    module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    module.eval()
    raw = extra["config.txt"]
    cfg = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw) if raw else {}
    shape = cfg.get("shape", [1, 3, 640, 640])
    names = parse_names(cfg.get("names"), None)
    return LoadedModel(module, cfg, names, (int(shape[2]), int(shape[3])), int(cfg.get("stride", 32)),
                       cfg.get("task", "detect"), path)


def load_image(path: str) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB."""
    from PIL import Image
    with Image.open(path) as im:
        return np.array(im.convert("RGB"))


def preprocess(img: np.ndarray, shape: Tuple[int, int]) -> Tuple[torch.Tensor, float, Tuple[float, float]]:
    """Letterboxed ``[1, 3, H, W]`` float tensor in 0..1, plus the ratio and padding."""
    lb, r, pad = letterbox(img, shape)
    t = torch.from_numpy(np.ascontiguousarray(lb)).permute(2, 0, 1)[None].float() / 255.0
    return t, r, pad


def run_model(module: Any, x: torch.Tensor) -> torch.Tensor:
    """Call a detector and return its ``[1, N, 5 + nc]`` tensor (first element of a tuple/list)."""
    with torch.no_grad():
        y = module(x)
    if isinstance(y, (tuple, list)):
        y = y[0]
    return y


def detect(model: LoadedModel, img: np.ndarray, shape: Optional[Tuple[int, int]] = None,
           conf_thres: float = 0.25, iou_thres: float = 0.45, max_det: int = 1000) -> List[Dict[str, Any]]:
    """Detections in image pixels for one HxWx3 uint8 RGB image."""
    shape = tuple(shape or model.shape)
    x, r, pad = preprocess(img, shape)
    y = run_model(model.module, x)
    det = non_max_suppression(y, conf_thres, iou_thres, max_det)
    det[:, :4] = scale_boxes(det[:, :4], r, pad, img.shape[1], img.shape[0])
    out = []
    for x1, y1, x2, y2, s, c in det.tolist():
        c = int(c)
        name = model.names[c] if c < len(model.names) else str(c)
        out.append({"class": name, "class_id": c, "score": round(float(s), 5),
                    "box": [round(float(v), 2) for v in (x1, y1, x2, y2)]})
    return out


def classify(model: LoadedModel, img: np.ndarray, shape: Optional[Tuple[int, int]] = None) -> List[float]:
    """Class probabilities for one image (stretched to the model's input size, RGB 0..1)."""
    shape = tuple(shape or model.shape)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    t = F.interpolate(t, size=shape, mode="bilinear", align_corners=False).round().clamp(0, 255) / 255.0
    y = run_model(model.module, t)
    return [float(v) for v in y.view(-1)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.reference",
                                 description="Run a model on images with the reference pipeline; print JSON lines.")
    ap.add_argument("--model", required=True, help="TorchScript file (models/FORMAT.md) or .pt checkpoint")
    ap.add_argument("images", nargs="+", help="image files")
    ap.add_argument("--imgsz", type=int, nargs=2, default=None, metavar=("H", "W"),
                    help="input height and width; default: the model's config.txt shape")
    ap.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default 0.25)")
    ap.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default 0.45)")
    ap.add_argument("--max-det", type=int, default=1000)
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        m = load_model(a.model)
    except Exception as e:  # noqa: BLE001 - report any load failure clearly
        print(f"error: cannot load model {a.model}: {e}", file=sys.stderr)
        return 2
    shape = None
    if a.imgsz:
        shape = (a.imgsz[0], a.imgsz[1])
        if m.task == "detect" and any(s % m.stride for s in shape):
            print(f"error: --imgsz {shape[0]} {shape[1]}: sides must be multiples of the stride {m.stride}",
                  file=sys.stderr)
            return 2
    rc = 0
    for p in a.images:
        try:
            img = load_image(p)
        except Exception as e:  # noqa: BLE001
            print(f"error: cannot read image {p}: {e}", file=sys.stderr)
            rc = 1
            continue
        rec: Dict[str, Any] = {"image": p, "width": int(img.shape[1]), "height": int(img.shape[0])}
        if m.task == "classify":
            probs = classify(m, img, shape)
            best = int(np.argmax(probs))
            rec["probabilities"] = [round(v, 6) for v in probs]
            rec["class"] = m.names[best] if best < len(m.names) else str(best)
            rec["class_id"] = best
            rec["score"] = round(probs[best], 6)
        else:
            rec["detections"] = detect(m, img, shape, a.conf, a.iou, a.max_det)
        print(json.dumps(rec))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
