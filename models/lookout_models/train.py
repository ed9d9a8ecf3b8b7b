"""Train the embedded default "shapes" detector from scratch on generated scenes.

Why: lookout ships a small detector that finds the synthetic objects its own
frame source draws (``models/SCENES.md``), so a fresh machine shows real
detections without a camera or any third-party weights.  This script trains
:class:`lookout_models.yolo.Model` (a tiny v6.x yaml, ``configs/shapes.yaml``)
with :class:`lookout_models.loss.YoloLoss` on CPU.

Data: every epoch draws ``--images`` fresh scenes (dataset seed ``--seed``,
stream 0, scene index ``epoch * images + i``; so the run is deterministic and a
resumed run sees the same data), in mixed frame sizes (``scenes.DEFAULT_SIZES``
scaled to ``--imgsz``),
letterboxed to ``--imgsz`` exactly as at inference (pad 114, centred),
augmented with random left-right / up-down flips.  Validation each epoch on
``--val-images`` scenes of seed ``seed + 500`` (stream 1); the final held-out
figure is measured separately with :mod:`lookout_models.evaluate` on another seed.

Optimiser: AdamW (lr ``--lr``, betas 0.937/0.999, weight decay on conv
weights only), linear warm-up then cosine decay to 5 % over the planned
iterations, and an exponential moving average (EMA) of the weights, which is
what gets saved and exported.  ``--time-budget`` (minutes) makes the schedule
time-based: the cosine progress is ``max(iterations / planned, elapsed / budget)``
and training stops when the budget is spent, so a run on a slow or busy
machine still anneals properly (at the price of depending on machine speed;
without a budget the run is determined by the seed alone).

Outputs in ``--out``: ``last.pt`` (resumable: model, EMA, optimiser, epoch,
elapsed time) and ``best.pt`` (EMA weights with the best validation mAP@0.5),
both in lookout's checkpoint format (plain tensors + dicts; see
:mod:`lookout_models.ckpt`).  ``--resume`` continues from ``last.pt``.

    cd models && nice -n 10 /usr/bin/python3 -m lookout_models.train --out /tmp/shapes-run
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from . import reference
from .loss import YoloLoss
from .scenes import CLASSES, DEFAULT_SIZES, dataset_scene
from .yolo import Model, load_yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CFG = os.path.join(HERE, "configs", "shapes.yaml")
CKPT_FORMAT = "lookout-yolo-v1"


def train_sizes(imgsz: int) -> List[Tuple[int, int]]:
    """``scenes.DEFAULT_SIZES`` (max side 320) scaled so the largest side is ``imgsz``.

    Training scenes are drawn at the input size directly (no resize), which
    keeps data generation cheap; evaluation uses the unscaled sizes, so the
    held-out figure also covers the bilinear down-scaling of the letterbox.
    """
    s = imgsz / 320.0
    return [(max(16, int(round(w * s))), max(16, int(round(h * s)))) for w, h in DEFAULT_SIZES]


def make_batch(base_seed: int, indices: List[int], imgsz: int, rng: np.random.Generator,
               sizes=DEFAULT_SIZES, stream: int = 0, flip: bool = True,
               crowd_share: float = 0.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Images ``[B, 3, S, S]`` (0..1) and targets ``[M, 6]`` (img, cls, cx, cy, w, h normalised)."""
    imgs, rows = [], []
    for bi, idx in enumerate(indices):
        sc = dataset_scene(base_seed, idx, sizes, stream=stream, crowd_share=crowd_share)
        lb, r, (dw, dh) = reference.letterbox(sc.image, (imgsz, imgsz))
        left, top = int(round(dw - 0.1)), int(round(dh - 0.1))
        b = sc.boxes * r + np.array([left, top, left, top], dtype=np.float32)
        if flip and rng.random() < 0.5:
            lb = lb[:, ::-1]
            b[:, [0, 2]] = imgsz - b[:, [2, 0]]
        if flip and rng.random() < 0.5:
            lb = lb[::-1, :]
            b[:, [1, 3]] = imgsz - b[:, [3, 1]]
        imgs.append(torch.from_numpy(np.ascontiguousarray(lb)).permute(2, 0, 1))
        for (x1, y1, x2, y2), c in zip(b, sc.classes):
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            rows.append([bi, c, (x1 + x2) / 2 / imgsz, (y1 + y2) / 2 / imgsz, (x2 - x1) / imgsz, (y2 - y1) / imgsz])
    x = torch.stack(imgs).float() / 255.0
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
    return x, t


class EMA:
    """Exponential moving average of a model's weights (decay ramps up from 0)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, tau: float = 300.0, updates: int = 0):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        with torch.no_grad():
            msd = model.state_dict()
            for k, v in self.ema.state_dict().items():
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
                else:
                    v.copy_(msd[k])


def lookout_checkpoint(model: Model, extra: Optional[Dict] = None) -> Dict:
    """The lookout checkpoint dict: architecture yaml, names and a float32 state dict."""
    d = {"format": CKPT_FORMAT, "yaml": copy.deepcopy(model.yaml), "names": list(model.names),
         "stride": [int(s) for s in model.stride.tolist()],
         "state_dict": {k: v.detach().clone().float() if v.dtype.is_floating_point else v.detach().clone()
                        for k, v in model.state_dict().items()}}
    if extra:
        d.update(extra)
    return d


def validate(model: Model, imgsz: int, seed: int, count: int) -> float:
    """mAP@0.5 of an eager model on ``count`` scenes (used for model selection during training)."""
    from .evaluate import evaluate_model
    model.eval()
    lm = reference.LoadedModel(model, {}, list(model.names), (imgsz, imgsz), int(model.stride.max()))
    return float(evaluate_model(lm, seed=seed, count=count)["map50"])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.train",
                                 description="Train the shapes detector from scratch on generated scenes (CPU).")
    ap.add_argument("--cfg", default=DEFAULT_CFG, help="model yaml (default: configs/shapes.yaml)")
    ap.add_argument("--out", required=True, help="output directory for last.pt / best.pt / log.jsonl")
    ap.add_argument("--seed", type=int, default=0, help="training seed (data, init, augmentation)")
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=13)
    ap.add_argument("--images", type=int, default=2400, help="fresh scenes per epoch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=200, help="warm-up iterations")
    ap.add_argument("--cls-gain", type=float, default=0.5,
                    help="class loss gain (NOT scaled by nc/80 as YOLOv5 does: with 5 classes that rule left "
                         "classification almost untrained in a short CPU run -- class BCE 0.52 -> 0.48 in 2 epochs)")
    ap.add_argument("--crowd-share", type=float, default=0.0,
                    help="share of training scenes in the crowd layout (SCENES.md): objects cut deep by the edges "
                         "and covered by others, as the traffic motion shows them (0..1, default 0)")
    ap.add_argument("--val-images", type=int, default=100, help="validation scenes per epoch (0: none)")
    ap.add_argument("--time-budget", type=float, default=0.0, help="minutes; stop after the epoch that crosses it")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a 2-core machine shared with builds, 1 thread measured "
                         "2.5x faster than 2, whose OpenMP barriers stall when a core is taken)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def train(a) -> Dict:
    """Run training as configured by the parsed arguments ``a``; returns a summary dict."""
    if not 0.0 <= a.crowd_share <= 1.0:
        raise ValueError(f"--crowd-share {a.crowd_share}: must be within 0..1")
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    cfg = load_yaml(a.cfg)
    model = Model(cfg, nc=len(CLASSES), names=CLASSES).train()
    loss_fn = YoloLoss(model, imgsz=a.imgsz, cls=a.cls_gain, cls_nc_scale=False)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 4 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.937, 0.999))
    ema = EMA(model)
    iters_per_epoch = max(1, a.images // a.batch)
    total_iters = a.epochs * iters_per_epoch
    start_epoch, elapsed_before, best_map, log = 0, 0.0, -1.0, []
    last_path, best_path = os.path.join(a.out, "last.pt"), os.path.join(a.out, "best.pt")

    if a.resume:
        if not os.path.exists(last_path):
            raise FileNotFoundError(f"--resume: {last_path} does not exist")
        st = torch.load(last_path, map_location="cpu")
        model.load_state_dict(st["train_state_dict"])
        ema.ema.load_state_dict(st["state_dict"])
        ema.updates = st["ema_updates"]
        opt.load_state_dict(st["optimizer"])
        start_epoch, elapsed_before, best_map = st["epoch"] + 1, st["elapsed"], st["best_map50"]
        torch.set_rng_state(st["torch_rng"])

    sizes = train_sizes(a.imgsz)
    t_start = time.time()

    def elapsed_s() -> float:
        return elapsed_before + (time.time() - t_start)

    def progress(it: int) -> float:
        """Fraction of the schedule done: by iterations, or by time when a budget is set (whichever is ahead)."""
        p = (it - a.warmup) / max(1, total_iters - a.warmup)
        if a.time_budget:
            p = max(p, elapsed_s() / (a.time_budget * 60))
        return min(1.0, max(0.0, p))

    def lr_at(it: int) -> float:
        if it < a.warmup:
            return a.lr * (0.1 + 0.9 * it / a.warmup)
        return a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress(it))))

    summary: Dict = {}
    log_fh = open(os.path.join(a.out, "log.jsonl"), "a", encoding="utf-8")
    for epoch in range(start_epoch, a.epochs):
        model.train()
        rng = np.random.default_rng([a.seed, epoch])
        sums = {"loss": 0.0, "box": 0.0, "obj": 0.0, "cls": 0.0}
        t_ep = time.time()
        done = 0
        out_of_time = False
        for k in range(iters_per_epoch):
            it = epoch * iters_per_epoch + k
            for g in opt.param_groups:
                g["lr"] = lr_at(it)
            idx = [epoch * a.images + k * a.batch + j for j in range(a.batch)]
            x, tg = make_batch(a.seed, idx, a.imgsz, rng, sizes=sizes, crowd_share=a.crowd_share)
            preds = model(x)
            loss, parts = loss_fn(preds, tg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            ema.update(model)
            sums["loss"] += float(loss) / a.batch
            for key in parts:
                sums[key] += parts[key]
            done += 1
            if not a.quiet and k % 25 == 0:
                print(f"epoch {epoch} it {k}/{iters_per_epoch} loss {float(loss) / a.batch:.4f} "
                      f"box {parts['box']:.4f} obj {parts['obj']:.4f} cls {parts['cls']:.4f} "
                      f"lr {lr_at(it):.5f} {elapsed_s() / 60:.1f} min", flush=True)
            if a.time_budget and elapsed_s() >= a.time_budget * 60:
                out_of_time = True
                break
        means = {key: v / max(done, 1) for key, v in sums.items()}
        val = validate(ema.ema, a.imgsz, a.seed + 500, a.val_images) if a.val_images else float("nan")
        elapsed = elapsed_before + (time.time() - t_start)
        rec = {"epoch": epoch, "iterations": done, **{k: round(v, 5) for k, v in means.items()},
               "val_map50": round(val, 4),
               "epoch_seconds": round(time.time() - t_ep, 1), "elapsed_minutes": round(elapsed / 60, 2)}
        log.append(rec)
        log_fh.write(json.dumps(rec) + "\n")
        log_fh.flush()
        if not a.quiet:
            print(json.dumps(rec), flush=True)
        settings = {k: v for k, v in vars(a).items() if k not in ("out", "resume", "quiet")}
        if a.val_images and val > best_map:
            best_map = val
            torch.save(lookout_checkpoint(ema.ema, {"epoch": epoch, "val_map50": val, "train_settings": settings,
                                                    "elapsed": elapsed}), best_path)
        st = lookout_checkpoint(ema.ema, {"epoch": epoch, "val_map50": val, "train_settings": settings,
                                          "elapsed": elapsed, "best_map50": best_map})
        st.update({"train_state_dict": model.state_dict(), "ema_updates": ema.updates,
                   "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()})
        torch.save(st, last_path + ".tmp")
        os.replace(last_path + ".tmp", last_path)
        if not a.val_images:
            torch.save(lookout_checkpoint(ema.ema, {"epoch": epoch, "train_settings": settings,
                                                    "elapsed": elapsed}), best_path)
        summary = {"epochs_done": epoch + 1, "best_val_map50": best_map, "elapsed_minutes": elapsed / 60,
                   "first_loss": log[0]["loss"], "last_loss": log[-1]["loss"], "log": log}
        if out_of_time or (a.time_budget and elapsed / 60 >= a.time_budget):
            if not a.quiet:
                print(f"time budget of {a.time_budget} min reached in epoch {epoch}", flush=True)
            break
    log_fh.close()
    return summary


def main(argv=None) -> int:
    a = parse_args(argv)
    s = train(a)
    print(json.dumps({k: v for k, v in s.items() if k != "log"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
