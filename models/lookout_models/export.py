"""Export a YOLOv5 checkpoint to a TorchScript file for lookout's C++ engine.

Why: ``app/engine`` loads TorchScript files following ``models/FORMAT.md``.
ultralytics' own export traces the whole network, which freezes the Detect
head's grid to the traced input size.  Here the export *mixes tracing and
scripting*:

1. import the checkpoint safely (:mod:`lookout_models.ckpt`), fuse Conv+BN;
2. **trace** the network body up to and including the Detect head's 1x1
   convs (``Model.forward_raw``: a list of ``[1, na*(5+nc), ny, nx]`` maps);
3. **script** the decoding (:class:`lookout_models.yolo.DetectDecode`): grids and
   anchor grids are computed from the actual feature-map sizes at run time;
4. script a wrapper that checks the input (4-D, the expected channels, sides
   multiples of the stride -- a clear TorchScript error otherwise) and chains
   both, so one file accepts any stride-aligned input size;
5. optionally run ``torch.utils.mobile_optimizer.optimize_for_mobile``
   (XNNPACK prepacked convs);
6. save with ``config.txt`` (JSON: ``shape``, ``stride``, ``names``, ``task``,
   ``name``, ``dynamic``, ``anchors``, ``letterbox``, ``recipe``);
7. **verify** the saved file (reloaded with ``torch.jit.load``) against the eager
   model: at the export size and at a second size (default: width * 3/4,
   e.g. 640x480), max abs difference of the whole output against the *fused*
   eager model must be <= ``--tol`` (1e-4; 1e-3 with ``--optimize-mobile``),
   and the output must be ``[1, N, 5 + nc]`` with the expected ``N``.  The
   difference to the unfused eager model (BN folding changes rounding) is
   reported as well.  The file is only moved into place when this passes.

Output rows: ``cx, cy, w, h`` in input pixels, objectness, class scores, all
after sigmoid (ultralytics' inference-mode semantics).

    cd models && /usr/bin/python3 -m lookout_models.export \\
        --weights ../../shared/data/yolov5/yolov5n.pt --out /tmp/yolov5n.torchscript --imgsz 640 640
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from . import __version__
from .ckpt import CheckpointError, load_checkpoint
from .yolo import Model


class _Body(nn.Module):
    """Network body to trace: input -> Detect 1x1 conv outputs (list)."""

    def __init__(self, model: Model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_raw(x)


class ExportedDetector(nn.Module):
    """Scripted top level: input checks, traced body, scripted decoding."""

    def __init__(self, body: nn.Module, decode: nn.Module, stride: int, channels: int):
        super().__init__()
        self.body = body
        self.decode = decode
        self.stride: int = int(stride)
        self.channels: int = int(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError("lookout detector: expected input [1, " + str(self.channels) +
                             ", H, W], got " + str(x.shape))
        if x.shape[2] % self.stride != 0 or x.shape[3] % self.stride != 0:
            raise ValueError("lookout detector: input H and W must be multiples of the stride " +
                             str(self.stride) + ", got " + str(x.shape[2]) + "x" + str(x.shape[3]))
        return self.decode(self.body(x))


def expected_rows(model: Model, h: int, w: int) -> int:
    """Number of output rows for an ``h x w`` input: ``na * sum(ny * nx)`` over levels."""
    return int(sum(model.detect.na * (h // int(s)) * (w // int(s)) for s in model.stride.tolist()))


def alt_size(h: int, w: int, stride: int) -> Tuple[int, int]:
    """A second verification size: same height, width * 3/4 rounded to the stride (640x640 -> 640x480)."""
    w2 = max(stride, int(round(w * 0.75 / stride)) * stride)
    if w2 == w:
        w2 = w + stride
    return h, w2


def build_scripted(model: Model, imgsz: Tuple[int, int]) -> torch.jit.ScriptModule:
    """Fuse a copy of ``model``, trace its body at ``imgsz``, script the decoding and the wrapper."""
    m = copy.deepcopy(model).float().eval().fuse()
    for p in m.parameters():
        p.requires_grad_(False)
    ch = int(m.yaml.get("ch", 3))
    example = torch.rand(1, ch, imgsz[0], imgsz[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        traced = torch.jit.trace(_Body(m), example, strict=False, check_trace=False)
    decode = torch.jit.script(m.decode_module())
    return torch.jit.script(ExportedDetector(traced, decode, int(m.stride.max()), ch))


def metadata(model: Model, names: Sequence[str], imgsz: Tuple[int, int], name: str,
             recipe: Dict[str, Any]) -> Dict[str, Any]:
    """The ``config.txt`` dict (models/FORMAT.md)."""
    anchors_px = (model.detect.anchors * model.stride.view(-1, 1, 1)).view(model.detect.nl, -1)
    return {
        "shape": [1, int(model.yaml.get("ch", 3)), int(imgsz[0]), int(imgsz[1])],
        "stride": int(model.stride.max()),
        "names": list(names),
        "task": "detect",
        "name": name,
        "dynamic": True,
        "anchors": [[round(float(v), 4) for v in row] for row in anchors_px.tolist()],
        "letterbox": {"pad": 114, "center": True},
        "sections": sections(model),
        "recipe": recipe,
    }


def sections(model: Model) -> List[Dict[str, Any]]:
    """The yaml's parts as module names (``lookout model inspect`` draws them as the outer blocks).

    ``backbone`` and ``head`` list the ``model.N`` layers of the yaml's two
    lists; ``decode`` is the scripted anchor decoding outside them.
    """
    n_backbone = len(model.yaml["backbone"])
    n_all = n_backbone + len(model.yaml["head"])
    return [{"name": "backbone", "modules": [f"model.{i}" for i in range(n_backbone)]},
            {"name": "head", "modules": [f"model.{i}" for i in range(n_backbone, n_all)]}]


def verify(path: str, model: Model, sizes: Sequence[Tuple[int, int]], tol: float,
           seed: int = 0, relative: bool = False) -> Dict[str, Any]:
    """Compare the saved file with the eager model at ``sizes``; raise AssertionError on failure.

    The reference is the eager model with the same fused weights (identical
    arithmetic up to operator order).  ``relative=False``: max abs difference
    over the whole output must be <= ``tol``.  ``relative=True`` (used for the
    XNNPACK variant, whose convolutions round differently): the difference is
    scaled by ``1 + |reference|``, i.e. ``tol`` absolute on scores (0..1) and
    relative on pixel coordinates (up to the input size, where float32 keeps
    only ~6e-5 absolute resolution).  Independently, the difference to the
    *unfused* eager model must stay within 1e-4 relative.
    """
    loaded = torch.jit.load(path, map_location="cpu")
    eager = copy.deepcopy(model).float().eval()
    fused = copy.deepcopy(model).float().eval().fuse()
    ch = int(model.yaml.get("ch", 3))
    out: Dict[str, Any] = {}
    g = torch.Generator().manual_seed(seed)
    for h, w in sizes:
        x = torch.rand(1, ch, h, w, generator=g)
        with torch.no_grad():
            ys = loaded(x)
            ye = eager(x)
            yf = fused(x)
        want = (1, expected_rows(model, h, w), model.detect.no)
        if tuple(ys.shape) != want:
            raise AssertionError(f"{path}: output shape {list(ys.shape)} at {h}x{w}, expected {list(want)}")
        d = (ys - yf).abs()
        d_fused = float(d.max())
        d_box, d_score = float(d[..., :4].max()), float(d[..., 4:].max())
        d_scaled = float((d / (yf.abs() + 1.0)).max())
        rel = float(((ys - ye).abs() / (ye.abs() + 1.0)).max())
        out[f"{h}x{w}"] = {"shape": list(ys.shape), "max_abs_diff": d_fused, "max_abs_diff_boxes": d_box,
                           "max_abs_diff_scores": d_score, "max_scaled_diff": d_scaled,
                           "max_abs_diff_vs_unfused_eager": float((ys - ye).abs().max()),
                           "max_rel_diff_vs_unfused_eager": rel}
        metric, what = (d_scaled, "max |diff| / (1 + |eager|)") if relative else (d_fused, "max abs diff")
        if not metric <= tol:
            raise AssertionError(f"{path}: TorchScript vs eager (fused) {what} {metric:.3g} at {h}x{w} "
                                 f"exceeds {tol:g}")
        if not rel <= 1e-4:
            raise AssertionError(f"{path}: TorchScript vs eager (unfused) max relative diff {rel:.3g} at {h}x{w} "
                                 f"exceeds 1e-4")
    return out


def export_model(model: Model, names: Sequence[str], out: str, imgsz: Tuple[int, int] = (640, 640),
                 optimize_mobile: bool = False, name: Optional[str] = None,
                 recipe: Optional[Dict[str, Any]] = None, verify_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                 tol: Optional[float] = None) -> Dict[str, Any]:
    """Export ``model`` to ``out`` (verified, then moved into place); returns a report dict."""
    stride = int(model.stride.max())
    h, w = int(imgsz[0]), int(imgsz[1])
    if h % stride or w % stride or h <= 0 or w <= 0:
        raise ValueError(f"--imgsz {h}x{w}: both sides must be positive multiples of the stride {stride}")
    t0 = time.time()
    sm = build_scripted(model, (h, w))
    if optimize_mobile:
        from torch.utils.mobile_optimizer import optimize_for_mobile
        sm = optimize_for_mobile(sm)
    name = name or os.path.splitext(os.path.basename(out))[0]
    recipe = dict(recipe or {})
    recipe.update({"exporter": f"lookout_models.export {__version__}", "torch": torch.__version__,
                   "fused": True, "traced_size": [h, w], "optimize_for_mobile": bool(optimize_mobile)})
    cfg = metadata(model, names, (h, w), name, recipe)
    sizes = list(verify_sizes) if verify_sizes else [(h, w), alt_size(h, w, stride)]
    tol = tol if tol is not None else (1e-3 if optimize_mobile else 1e-4)
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".torchscript", dir=out_dir)
    os.close(fd)
    try:
        # Verification figures go into the recipe, so verify a first save, then save again with them.
        sm.save(tmp, _extra_files={"config.txt": json.dumps(cfg)})
        checks = verify(tmp, model, sizes, tol, relative=optimize_mobile)
        cfg["recipe"]["verification"] = {
            "reference": "eager model, same fused weights", "tolerance": tol,
            "metric": "max |diff| / (1 + |eager|)" if optimize_mobile else "max abs diff",
            **{k: {"max_abs_diff_boxes": v["max_abs_diff_boxes"], "max_abs_diff_scores": v["max_abs_diff_scores"]}
               for k, v in checks.items()}}
        sm.save(tmp, _extra_files={"config.txt": json.dumps(cfg)})
        extra = {"config.txt": ""}
        torch.jit.load(tmp, map_location="cpu", _extra_files=extra)
        if json.loads(extra["config.txt"]) != cfg:
            raise AssertionError(f"{out}: config.txt did not round-trip")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"out": out, "bytes": os.path.getsize(out), "seconds": round(time.time() - t0, 1),
            "shape": cfg["shape"], "stride": stride, "nc": len(names), "checks": checks}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.export",
                                 description="Export a YOLOv5 (.pt) checkpoint to lookout TorchScript "
                                             "(traced body + scripted Detect decoding), verified.")
    ap.add_argument("--weights", required=True, help="ultralytics YOLOv5 or lookout checkpoint (.pt)")
    ap.add_argument("--out", required=True, help="output .torchscript file")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[640, 640],
                    help="default input H W (one value: square). e.g. 640 640, 480 640, 384 640, 320")
    ap.add_argument("--optimize-mobile", action="store_true",
                    help="run torch.utils.mobile_optimizer.optimize_for_mobile (XNNPACK)")
    ap.add_argument("--name", default=None, help="model name in config.txt (default: output file stem)")
    ap.add_argument("--recipe-json", default=None, help="JSON file merged into config.txt's recipe")
    ap.add_argument("--verify-imgsz", type=int, nargs=2, action="append", default=None, metavar=("H", "W"),
                    help="verification size (repeatable; default: the export size and width*3/4)")
    ap.add_argument("--tol", type=float, default=None, help="allowed difference (default 1e-4 abs; 1e-3 scaled with --optimize-mobile)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.imgsz is not None and len(a.imgsz) > 2:
        ap.error(f"--imgsz takes H W or one value for a square, got {len(a.imgsz)} values")
    torch.set_num_threads(a.threads)
    imgsz = (a.imgsz[0], a.imgsz[-1])
    try:
        ck = load_checkpoint(a.weights)
    except (CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    recipe: Dict[str, Any] = {"source": ck.meta.get("file"), "source_sha256": ck.meta.get("sha256"),
                              "source_entry": ck.source}
    for k in ("date", "epoch", "train_settings", "val_map50"):
        if k in ck.meta:
            recipe[k] = ck.meta[k]
    if a.recipe_json:
        with open(a.recipe_json, "r", encoding="utf-8") as fh:
            recipe.update(json.load(fh))
    try:
        rep = export_model(ck.model, ck.names, a.out, imgsz, a.optimize_mobile, a.name, recipe,
                           [tuple(s) for s in a.verify_imgsz] if a.verify_imgsz else None, a.tol)
    except (ValueError, AssertionError) as e:
        print(f"error: export failed: {e}", file=sys.stderr)
        return 1
    rep["import"] = ck.report.describe()
    print(json.dumps(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
