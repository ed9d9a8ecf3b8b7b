"""YOLOv5 (v6.x architecture) built from a ``model.yaml`` description.

Why: lookout must run ultralytics YOLOv5 checkpoints and its own small
detectors without depending on ultralytics' code.  This module re-implements
the v6.x network (Conv+BN+SiLU, C3, SPPF, PAN neck with ``nn.Upsample`` and
``Concat``, Detect head with anchors) from the architecture description that
every ultralytics checkpoint stores (``model.yaml``: ``depth_multiple``,
``width_multiple``, ``nc``, ``anchors``, ``backbone``, ``head``), so the
n/s/m/l/x variants and custom class counts all build from the same code.

Parameter and buffer names follow the checkpoint layout
(``model.<layer>.<submodule>.<tensor>``, e.g. ``model.0.conv.weight``,
``model.24.anchors``) so that :mod:`lookout_models.ckpt` can load every tensor
by name and shape.

Semantics of the Detect head in inference mode (what ``models/FORMAT.md``
requires): every row is ``cx, cy, w, h`` in input pixels, objectness and the
class scores, all after sigmoid:

    xy = (sigmoid(t_xy) * 2 - 0.5 + grid) * stride
    wh = (sigmoid(t_wh) * 2) ** 2 * anchor_pixels

The yaml strings are interpreted by a fixed table, never ``eval``-ed.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn


def autopad(k: int, p: Optional[int] = None) -> int:
    """'same' padding for odd kernels, as YOLOv5 does."""
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


def make_divisible(x: float, divisor: int = 8) -> int:
    """Round a scaled channel count up to a multiple of ``divisor``."""
    return int(math.ceil(x / divisor) * divisor)


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU; after :func:`fuse` just Conv2d(+bias) + SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: Optional[int] = None,
                 g: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p), groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x):
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))


class Bottleneck(nn.Module):
    """1x1 Conv -> 3x3 Conv, with a residual add when shapes allow and ``shortcut``."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = bool(shortcut and c1 == c2)

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck with 3 convolutions (the v6.x building block)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained k x k max-pools, concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class SPP(nn.Module):
    """Spatial pyramid pooling with parallel max-pools (v3/v5 <= 5.0 and *6 models)."""

    def __init__(self, c1: int, c2: int, k: Sequence[int] = (5, 9, 13)):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList([nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k])

    def forward(self, x):
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


class Focus(nn.Module):
    """Space-to-depth then Conv (YOLOv5 <= 5.0 stem; v6 uses a 6x6 Conv instead)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: Optional[int] = None,
                 g: int = 1, act: bool = True):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g, act)

    def forward(self, x):
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2],
                                    x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1))


class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension``."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: List[torch.Tensor]):
        return torch.cat(x, self.d)


class Detect(nn.Module):
    """YOLOv5 Detect head: one 1x1 Conv per level, plus anchor decoding.

    ``anchors`` (a buffer, as in the checkpoint) is stored in units of the
    level's stride; ``stride`` is set by :class:`Model` after a dry run.

    * training mode: returns the raw per-level maps reshaped to
      ``[bs, na, ny, nx, 5 + nc]`` (what the loss wants);
    * eval mode: returns ``[bs, N, 5 + nc]`` decoded rows (inference semantics).
    """

    def __init__(self, nc: int = 80, anchors: Sequence[Sequence[float]] = (), ch: Sequence[int] = ()):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        a = torch.tensor(anchors, dtype=torch.float32).view(self.nl, -1, 2)
        self.register_buffer("anchors", a)
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.stride = torch.ones(self.nl)  # replaced by Model (not a buffer: not in checkpoints)

    def raw(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """Apply the per-level 1x1 convs (the part of the head that gets traced)."""
        return [self.m[i](x[i]) for i in range(self.nl)]

    def forward(self, x: List[torch.Tensor]):
        feats = self.raw(x)
        out = []
        for i, f in enumerate(feats):
            bs, _, ny, nx = f.shape
            out.append(f.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        if self.training:
            return out
        return self.decode(out)

    def decode(self, maps: List[torch.Tensor]) -> torch.Tensor:
        """Eager decoding of ``[bs, na, ny, nx, no]`` maps into ``[bs, N, no]`` rows."""
        z = []
        for i, y in enumerate(maps):
            bs, na, ny, nx, no = y.shape
            s = float(self.stride[i])
            y = y.sigmoid()
            yy, xx = torch.meshgrid(torch.arange(ny, dtype=y.dtype, device=y.device),
                                    torch.arange(nx, dtype=y.dtype, device=y.device), indexing="ij")
            grid = torch.stack((xx, yy), 2).view(1, 1, ny, nx, 2)
            anchor_px = (self.anchors[i] * s).view(1, na, 1, 1, 2).to(y.dtype)
            xy = (y[..., 0:2] * 2.0 - 0.5 + grid) * s
            wh = (y[..., 2:4] * 2.0) ** 2 * anchor_px
            z.append(torch.cat((xy, wh, y[..., 4:]), -1).view(bs, -1, no))
        return torch.cat(z, 1)


class DetectDecode(nn.Module):
    """TorchScript-able decoding of the Detect head's raw conv outputs.

    Why separate from :class:`Detect`: export traces the network body (whose
    shapes are fixed by tracing) and *scripts* this module, so the grid and the
    anchor grid are computed from the actual feature-map sizes at run time and
    the exported file accepts any input whose sides are multiples of the
    stride.  ``anchor_px`` is ``[nl, na, 2]`` in input pixels.
    """

    def __init__(self, anchor_px: torch.Tensor, strides: List[int], nc: int):
        super().__init__()
        self.register_buffer("anchor_px", anchor_px.detach().clone().float())
        self.strides: List[int] = [int(s) for s in strides]
        self.na: int = int(anchor_px.shape[1])
        self.no: int = int(nc) + 5

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        z: List[torch.Tensor] = []
        for i, f in enumerate(feats):
            bs = f.shape[0]
            ny = f.shape[2]
            nx = f.shape[3]
            y = f.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
            gx = torch.arange(nx, dtype=y.dtype, device=y.device).view(1, 1, 1, nx, 1).expand(1, 1, ny, nx, 1)
            gy = torch.arange(ny, dtype=y.dtype, device=y.device).view(1, 1, ny, 1, 1).expand(1, 1, ny, nx, 1)
            grid = torch.cat((gx, gy), 4)
            s = float(self.strides[i])
            anchor = self.anchor_px[i].to(y.dtype).view(1, self.na, 1, 1, 2)
            xy = (y[..., 0:2] * 2.0 - 0.5 + grid) * s
            wh = (y[..., 2:4] * 2.0) ** 2 * anchor
            z.append(torch.cat((xy, wh, y[..., 4:]), 4).reshape(bs, -1, self.no))
        return torch.cat(z, 1)


# yaml module name -> class.  A fixed table: yaml strings are never eval-ed.
MODULES: Dict[str, type] = {
    "Conv": Conv,
    "Bottleneck": Bottleneck,
    "C3": C3,
    "SPP": SPP,
    "SPPF": SPPF,
    "Focus": Focus,
    "Concat": Concat,
    "Detect": Detect,
    "nn.Upsample": nn.Upsample,
    "Upsample": nn.Upsample,
    "torch.nn.Upsample": nn.Upsample,
    "nn.BatchNorm2d": nn.BatchNorm2d,
}
_CONV_LIKE = (Conv, Bottleneck, SPP, SPPF, Focus, C3)


class ModelConfigError(ValueError):
    """The model.yaml description cannot be built (names the layer and the problem)."""


def _resolve_arg(a: Any, nc: int, anchors: Any, where: str) -> Any:
    """Resolve the few symbolic yaml arguments YOLOv5 configs use, without eval."""
    if isinstance(a, str):
        table = {"nc": nc, "anchors": anchors, "None": None, "True": True, "False": False}
        if a in table:
            return table[a]
        if a in ("nearest", "bilinear", "bicubic"):
            return a
        try:
            return int(a)
        except ValueError:
            pass
        try:
            return float(a)
        except ValueError:
            raise ModelConfigError(f"{where}: unsupported symbolic argument {a!r}") from None
    return a


def parse_model(d: Dict[str, Any], ch: List[int]) -> Tuple[nn.Sequential, List[int]]:
    """Build the layer list from a YOLOv5 yaml dict.

    Follows the v6.x rules: repeats scale by ``depth_multiple`` (``max(round(n*gd), 1)``),
    output channels by ``width_multiple`` rounded up to a multiple of 8 (except the
    Detect outputs), and C3-like modules take the repeat count as an argument.
    Returns the ``nn.Sequential`` and the sorted list of layer indices whose
    outputs later layers read.
    """
    for key in ("anchors", "nc", "depth_multiple", "width_multiple", "backbone", "head"):
        if key not in d:
            raise ModelConfigError(f"model.yaml: missing key {key!r}")
    anchors, nc, gd, gw = d["anchors"], int(d["nc"]), float(d["depth_multiple"]), float(d["width_multiple"])
    if isinstance(anchors, int):
        raise ModelConfigError("model.yaml: integer 'anchors' (autoanchor placeholders) is not supported; "
                               "give explicit anchor sizes")
    na = len(anchors[0]) // 2
    no = na * (nc + 5)

    layers, save, c2 = [], [], ch[-1]
    for i, row in enumerate(d["backbone"] + d["head"]):
        where = f"model.yaml layer {i} {row!r}"
        if not isinstance(row, (list, tuple)) or len(row) != 4:
            raise ModelConfigError(f"{where}: expected [from, number, module, args]")
        f, n, mname, args = row
        if mname not in MODULES:
            raise ModelConfigError(f"{where}: unsupported module {mname!r} (known: {sorted(MODULES)})")
        m = MODULES[mname]
        args = [_resolve_arg(a, nc, anchors, where) for a in args]
        n = max(round(n * gd), 1) if n > 1 else n
        fs = [f] if isinstance(f, int) else list(f)
        for x in fs:
            if x != -1 and not (0 <= x < i):
                raise ModelConfigError(f"{where}: 'from' index {x} does not name an earlier layer")

        if m in _CONV_LIKE:
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if m is C3:
                args.insert(2, n)
                n = 1
        elif m is nn.BatchNorm2d:
            args = [ch[f]]
        elif m is Concat:
            c2 = sum(ch[x] for x in fs)
        elif m is Detect:
            args.append([ch[x] for x in fs])
            if isinstance(args[1], int):
                raise ModelConfigError(f"{where}: integer anchor count is not supported")
        else:
            c2 = ch[f]

        module = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
        module.i, module.f, module.type = i, f, mname  # routing attributes (not tensors)
        save.extend(x % i for x in fs if x != -1)
        layers.append(module)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(set(save))


class Model(nn.Module):
    """A YOLOv5 detector built from a yaml dict (``model.yaml`` of a checkpoint).

    ``forward`` returns raw per-level maps in training mode and decoded
    ``[bs, N, 5 + nc]`` rows in eval mode (see :class:`Detect`).
    """

    def __init__(self, cfg: Dict[str, Any], ch: int = 3, nc: Optional[int] = None,
                 names: Optional[Sequence[str]] = None):
        super().__init__()
        self.yaml = copy.deepcopy(cfg)
        if nc is not None:
            self.yaml["nc"] = int(nc)
        self.yaml.setdefault("ch", ch)
        self.model, self.save = parse_model(self.yaml, ch=[int(self.yaml["ch"])])
        self.nc = int(self.yaml["nc"])
        self.names = list(names) if names is not None else [str(i) for i in range(self.nc)]
        if len(self.names) != self.nc:
            raise ModelConfigError(f"{len(self.names)} class names given for nc={self.nc}")
        m = self.detect
        if not isinstance(m, Detect):
            raise ModelConfigError("model.yaml: the last layer must be Detect")
        # Strides from a dry run, as YOLOv5 does (so odd layouts such as P6 work too).
        s = 256
        was_training = self.training
        self.train()
        with torch.no_grad():
            maps = self.forward(torch.zeros(1, int(self.yaml["ch"]), s, s))
        self.train(was_training)
        m.stride = torch.tensor([s / x.shape[-3] for x in maps])
        m.anchors /= m.stride.view(-1, 1, 1)
        self._check_anchor_order()
        self._initialize()

    @property
    def detect(self) -> Detect:
        return self.model[-1]

    @property
    def stride(self) -> torch.Tensor:
        return self.detect.stride

    def _check_anchor_order(self) -> None:
        """Anchors must grow with stride; flip them if the yaml lists them the other way."""
        m = self.detect
        a = m.anchors.prod(-1).mean(-1).view(-1)
        da, ds = a[-1] - a[0], m.stride[-1] - m.stride[0]
        if da and (da.sign() != ds.sign()):
            m.anchors[:] = m.anchors.flip(0)

    def _initialize(self) -> None:
        """BN eps/momentum as YOLOv5 trains them; Detect biases start at sensible priors.

        Objectness bias ~ 8 objects per 640x640 image, class bias ~ 0.6/nc, so the
        first iterations of a from-scratch run are not swamped by false positives.
        """
        for mod in self.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eps, mod.momentum = 1e-3, 0.03
            elif isinstance(mod, nn.SiLU):
                mod.inplace = True
        m = self.detect
        for conv, s in zip(m.m, m.stride):
            b = conv.bias.detach().view(m.na, -1)
            b[:, 4] += math.log(8 / (640 / float(s)) ** 2)
            b[:, 5:] += math.log(0.6 / (m.nc - 0.99)) if m.nc > 1 else 0.0
            conv.bias = nn.Parameter(b.view(-1))

    def _run_layers(self, x: torch.Tensor, upto_detect_raw: bool = False):
        y: List[Optional[torch.Tensor]] = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            if upto_detect_raw and m is self.detect:
                return m.raw(x)
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x

    def forward(self, x: torch.Tensor):
        return self._run_layers(x)

    def forward_raw(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Network body up to (and including) the Detect 1x1 convs; no reshaping/decoding."""
        return self._run_layers(x, upto_detect_raw=True)

    def fuse(self) -> "Model":
        """Fold every Conv's BatchNorm into its Conv2d (inference only)."""
        for mod in self.modules():
            if isinstance(mod, Conv) and hasattr(mod, "bn"):
                mod.conv = fuse_conv_and_bn(mod.conv, mod.bn)
                delattr(mod, "bn")
        return self

    def decode_module(self) -> DetectDecode:
        """A scriptable decoder with this model's anchors (pixels) and strides."""
        m = self.detect
        anchor_px = m.anchors * m.stride.view(-1, 1, 1)
        return DetectDecode(anchor_px, [int(s) for s in m.stride.tolist()], m.nc)

    def info(self) -> Dict[str, int]:
        return {"layers": len(list(self.modules())),
                "parameters": sum(p.numel() for p in self.parameters())}


@torch.no_grad()
def fuse_conv_and_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a Conv2d with bias equal to ``bn(conv(x))`` in eval mode."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=conv.kernel_size,
                      stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                      groups=conv.groups, bias=True).requires_grad_(False).to(conv.weight.device)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    b_conv = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((b_conv - bn.running_mean) * scale + bn.bias)
    return fused


def load_yaml(path: str) -> Dict[str, Any]:
    """Read a model yaml file (safe loader: plain data only)."""
    import yaml
    with open(path, "r", encoding="utf-8") as fh:
        d = yaml.safe_load(fh)
    if not isinstance(d, dict):
        raise ModelConfigError(f"{path}: not a yaml mapping")
    return d


# The v6.x layout shared by yolov5n/s/m/l/x (only depth/width multiples differ).
V6_BACKBONE = [
    [-1, 1, "Conv", [64, 6, 2, 2]],
    [-1, 1, "Conv", [128, 3, 2]],
    [-1, 3, "C3", [128]],
    [-1, 1, "Conv", [256, 3, 2]],
    [-1, 6, "C3", [256]],
    [-1, 1, "Conv", [512, 3, 2]],
    [-1, 9, "C3", [512]],
    [-1, 1, "Conv", [1024, 3, 2]],
    [-1, 3, "C3", [1024]],
    [-1, 1, "SPPF", [1024, 5]],
]
V6_HEAD = [
    [-1, 1, "Conv", [512, 1, 1]],
    [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
    [[-1, 6], 1, "Concat", [1]],
    [-1, 3, "C3", [512, False]],
    [-1, 1, "Conv", [256, 1, 1]],
    [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
    [[-1, 4], 1, "Concat", [1]],
    [-1, 3, "C3", [256, False]],
    [-1, 1, "Conv", [256, 3, 2]],
    [[-1, 14], 1, "Concat", [1]],
    [-1, 3, "C3", [512, False]],
    [-1, 1, "Conv", [512, 3, 2]],
    [[-1, 10], 1, "Concat", [1]],
    [-1, 3, "C3", [1024, False]],
    [[17, 20, 23], 1, "Detect", ["nc", "anchors"]],
]
V6_ANCHORS = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
V6_SCALES = {"n": (0.33, 0.25), "s": (0.33, 0.50), "m": (0.67, 0.75), "l": (1.0, 1.0), "x": (1.33, 1.25)}


def v6_config(size: str = "n", nc: int = 80, anchors=None) -> Dict[str, Any]:
    """The yaml dict of yolov5{n,s,m,l,x} v6.x (for building without a checkpoint)."""
    gd, gw = V6_SCALES[size]
    return {"nc": nc, "depth_multiple": gd, "width_multiple": gw,
            "anchors": copy.deepcopy(anchors or V6_ANCHORS),
            "backbone": copy.deepcopy(V6_BACKBONE), "head": copy.deepcopy(V6_HEAD)}
