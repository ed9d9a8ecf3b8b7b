"""YOLOv5-style training loss: anchor matching, CIoU box loss, BCE objectness/class.

Why: the default model is trained from scratch by this project (no ultralytics
code), and its outputs must keep ultralytics' inference semantics, so the
training target has to match the head parameterisation in :mod:`.yolo`:

    xy = sigmoid(t_xy) * 2 - 0.5   (cell units, range -0.5 .. 1.5)
    wh = (sigmoid(t_wh) * 2) ** 2 * anchor   (0 .. 4 anchors)

Matching (per level): a target is assigned to every anchor whose width and
height ratios to it are within ``anchor_t`` (default 4, the most the wh
parameterisation can express), in its own grid cell and in the two
neighbouring cells whose centres are nearest (offset 0.5), which triples the
positives per object.  Box loss: ``1 - CIoU``.  Objectness target: the
(detached, clamped) IoU of the matched prediction, 0 elsewhere; the per-level
objectness losses are weighted 4.0 / 1.0 / 0.4 (P3 / P4 / P5).  Class loss:
BCE against one-hot targets.  Gains as YOLOv5's hyp.scratch defaults
(box 0.05, obj 1.0, cls 0.5), scaled for the number of levels and image size,
and (``cls_nc_scale``, YOLOv5's rule) the class gain by ``nc / 80``.

Targets are one tensor ``[M, 6]``: ``image_index, class, cx, cy, w, h`` with
the box normalised to 0..1 of the (square) training image.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import torch
import torch.nn as nn


def bbox_ciou(b1: torch.Tensor, b2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching rows of two ``[K, 4]`` xywh box sets.

    CIoU = IoU - centre_distance^2 / enclosing_diagonal^2 - alpha * v, with v
    the aspect-ratio consistency term (Zheng et al., 2020).
    """
    b1x1, b1x2 = b1[:, 0] - b1[:, 2] / 2, b1[:, 0] + b1[:, 2] / 2
    b1y1, b1y2 = b1[:, 1] - b1[:, 3] / 2, b1[:, 1] + b1[:, 3] / 2
    b2x1, b2x2 = b2[:, 0] - b2[:, 2] / 2, b2[:, 0] + b2[:, 2] / 2
    b2y1, b2y2 = b2[:, 1] - b2[:, 3] / 2, b2[:, 1] + b2[:, 3] / 2
    inter = (torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0) * \
            (torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)).clamp(0)
    w1, h1 = b1[:, 2], b1[:, 3] + eps
    w2, h2 = b2[:, 2], b2[:, 3] + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)
    chh = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    c2 = cw ** 2 + chh ** 2 + eps
    rho2 = (b2[:, 0] - b1[:, 0]) ** 2 + (b2[:, 1] - b1[:, 1]) ** 2
    v = (4 / math.pi ** 2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class YoloLoss:
    """Callable loss for :class:`lookout_models.yolo.Model` in training mode."""

    def __init__(self, model, imgsz: int = 320, box: float = 0.05, obj: float = 1.0, cls: float = 0.5,
                 anchor_t: float = 4.0, cls_nc_scale: bool = True):
        det = model.detect
        self.na, self.nc, self.nl = det.na, det.nc, det.nl
        self.anchors = det.anchors.detach().clone()  # [nl, na, 2] in stride units
        self.balance = {3: [4.0, 1.0, 0.4]}.get(self.nl, [4.0, 1.0, 0.25, 0.06, 0.02][: self.nl])
        self.box_gain = box * 3 / self.nl
        self.cls_gain = cls * (self.nc / 80 if cls_nc_scale else 1.0) * 3 / self.nl
        self.obj_gain = obj * (imgsz / 640) ** 2 * 3 / self.nl
        self.anchor_t = anchor_t
        self.bce = nn.BCEWithLogitsLoss()

    def build_targets(self, preds: List[torch.Tensor], targets: torch.Tensor):
        """Assign targets to (image, anchor, cell) per level; see the module docstring."""
        nt = targets.shape[0]
        dev = targets.device
        out = []
        ai = torch.arange(self.na, device=dev, dtype=torch.float32).view(self.na, 1).repeat(1, nt)
        t_all = torch.cat((targets.repeat(self.na, 1, 1), ai[..., None]), 2)  # [na, nt, 7]
        g = 0.5
        off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], device=dev, dtype=torch.float32) * g
        for i, p in enumerate(preds):
            ny, nx = p.shape[2], p.shape[3]
            anchors = self.anchors[i].to(dev)
            gain = torch.tensor([1, 1, nx, ny, nx, ny, 1], device=dev, dtype=torch.float32)
            t = t_all * gain
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                keep = torch.max(r, 1 / r).max(2)[0] < self.anchor_t
                t = t[keep]
                gxy = t[:, 2:4]
                gxi = torch.tensor([nx, ny], device=dev, dtype=torch.float32) - gxy
                j, k = ((gxy % 1 < g) & (gxy > 1)).T
                l, m = ((gxi % 1 < g) & (gxi > 1)).T
                sel = torch.stack((torch.ones_like(j), j, k, l, m))
                t = t.repeat((5, 1, 1))[sel]
                offsets = (torch.zeros_like(gxy)[None] + off[:, None])[sel]
            else:
                t = t_all[0] * 0
                offsets = 0
            b, c = t[:, 0].long(), t[:, 1].long()
            gxy, gwh, a = t[:, 2:4], t[:, 4:6], t[:, 6].long()
            gij = (gxy - offsets).long()
            gi = gij[:, 0].clamp_(0, nx - 1)
            gj = gij[:, 1].clamp_(0, ny - 1)
            tbox = torch.cat((gxy - torch.stack((gi, gj), 1), gwh), 1)
            out.append((b, a, gj, gi, tbox, anchors[a], c))
        return out

    def __call__(self, preds: List[torch.Tensor], targets: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, float]]:
        dev = preds[0].device
        lbox = torch.zeros(1, device=dev)
        lobj = torch.zeros(1, device=dev)
        lcls = torch.zeros(1, device=dev)
        for i, (p, (b, a, gj, gi, tbox, anch, c)) in enumerate(zip(preds, self.build_targets(preds, targets))):
            tobj = torch.zeros(p.shape[:4], device=dev, dtype=p.dtype)
            if b.shape[0]:
                ps = p[b, a, gj, gi]
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anch
                iou = bbox_ciou(torch.cat((pxy, pwh), 1), tbox)
                lbox = lbox + (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if self.nc > 1:
                    tc = torch.zeros_like(ps[:, 5:])
                    tc[torch.arange(b.shape[0], device=dev), c] = 1.0
                    lcls = lcls + self.bce(ps[:, 5:], tc)
            lobj = lobj + self.bce(p[..., 4], tobj) * self.balance[i]
        bs = preds[0].shape[0]
        lbox = lbox * self.box_gain
        lobj = lobj * self.obj_gain
        lcls = lcls * self.cls_gain
        total = (lbox + lobj + lcls) * bs
        return total, {"box": float(lbox), "obj": float(lobj), "cls": float(lcls)}
