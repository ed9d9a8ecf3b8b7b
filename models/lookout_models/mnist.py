"""MNIST digit classifier: lookout's second task type (``task: "classify"``).

Why: the C++ engine must handle classifiers as well as detectors, and it must
cope with a TorchScript module that is *scripted* (real control flow in
``forward``), not just traced.  This module trains a small CNN on the only
MNIST data available to the project (the 10,000-image ``t10k`` set, split by a
seeded permutation into 8,000 training and 2,000 held-out images) and exports
it with ``torch.jit.script``.

The exported ``forward(x)`` takes ``[1, C, H, W]`` floats in 0..1 and returns
softmax probabilities ``[1, 10]``.  Its control flow:

* ``C == 3``: RGB -> grey (ITU-R BT.601 weights); ``C`` other than 1 or 3 raises;
* ``H, W != 28``: resized to 28x28 (area averaging when shrinking, bilinear
  when enlarging);
* a light background (mean of the 1-pixel border > 0.5) is inverted, so dark
  digits on white paper look like MNIST's white-on-black;
* normalisation with the training mean/std happens inside.

``config.txt``: ``task: "classify"``, ``shape: [1, 1, 28, 28]``,
``names: ["0", ..., "9"]``, ``dynamic: true`` and a ``recipe`` with the
held-out accuracy.  The data is CC BY-SA 3.0: the model is produced on demand
(tests write it to a temporary directory), not committed.

    cd models && /usr/bin/python3 -m lookout_models.mnist --data ../../shared/data/mnist --out /tmp/mnist.torchscript
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} elements, header says {dims}")
    return arr.reshape(dims)


def load_split(data_dir: str, seed: int = 0, n_train: int = 8000) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of the t10k set: ``(x_train, y_train, x_test, y_test)``, images uint8 Nx28x28."""
    ip, lp = os.path.join(data_dir, IMAGES), os.path.join(data_dir, LABELS)
    for p in (ip, lp):
        if not os.path.exists(p):
            raise FileNotFoundError(f"MNIST file not found: {p} (expected {IMAGES} and {LABELS} in --data)")
    x, y = read_idx(ip), read_idx(lp)
    if x.shape[0] != y.shape[0] or x.shape[1:] != (28, 28):
        raise ValueError(f"{data_dir}: images {x.shape} and labels {y.shape} do not match")
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    tr, te = perm[:n_train], perm[n_train:]
    return x[tr], y[tr].astype(np.int64), x[te], y[te].astype(np.int64)


class Net(nn.Module):
    """Small CNN on normalised 1x28x28 input -> 10 logits (~60k parameters)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),   # 14
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 7
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 3
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 3 * 3, 64),
                                  nn.ReLU(inplace=True), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MnistClassifier(nn.Module):
    """The exported module: input adaptation (real control flow) + Net + softmax."""

    def __init__(self, net: Net, mean: float, std: float):
        super().__init__()
        self.net = net
        self.mean: float = float(mean)
        self.std: float = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4:
            raise ValueError("mnist: expected input [1, C, H, W], got " + str(x.shape))
        c = x.shape[1]
        if c == 3:
            x = x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114
        elif c != 1:
            raise ValueError("mnist: expected 1 (grey) or 3 (RGB) channels, got " + str(c))
        h, w = x.shape[2], x.shape[3]
        if h != 28 or w != 28:
            if h > 28 and w > 28:
                x = F.adaptive_avg_pool2d(x, [28, 28])
            else:
                x = F.interpolate(x, size=[28, 28], mode="bilinear", align_corners=False)
        border = torch.cat([x[:, :, 0, :].reshape(-1), x[:, :, 27, :].reshape(-1),
                            x[:, :, :, 0].reshape(-1), x[:, :, :, 27].reshape(-1)])
        if float(border.mean()) > 0.5:
            x = 1.0 - x
        x = (x - self.mean) / self.std
        return torch.softmax(self.net(x), dim=1)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (zero fill), per batch."""
    dx, dy = [int(v) for v in torch.randint(-2, 3, (2,), generator=g)]
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_mnist(data_dir: str, epochs: int = 4, seed: int = 0, batch: int = 64, lr: float = 2e-3,
                quiet: bool = False) -> Tuple[MnistClassifier, Dict[str, object]]:
    """Train on the 8,000-image split; return the exportable module and a recipe dict."""
    t0 = time.time()
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = load_split(data_dir, seed)
    xt = torch.from_numpy(xtr).float().div_(255).unsqueeze(1)
    mean, std = float(xt.mean()), float(xt.std())
    xt = (xt - mean) / std
    yt = torch.from_numpy(ytr)
    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xt) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        tot = 0.0
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb = _augment(xt[idx], g) if ep < epochs - 1 else xt[idx]
            loss = F.cross_entropy(net(xb), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
        if not quiet:
            print(f"epoch {ep} loss {tot / len(xt):.4f}", file=sys.stderr, flush=True)
    net.eval()
    model = MnistClassifier(net, mean, std).eval()
    # Measured through the scripted module, image by image: the exported interface itself.
    acc = accuracy(torch.jit.script(model), xte, yte)
    recipe = {"data": "MNIST t10k (CC BY-SA 3.0), seeded split 8000 train / 2000 held out",
              "seed": seed, "epochs": epochs, "batch": batch, "lr": lr, "optimizer": "AdamW + one-cycle",
              "augmentation": "random shifts up to 2 px", "heldout_accuracy": round(acc, 4),
              "train_seconds": round(time.time() - t0, 1), "torch": torch.__version__}
    return model, recipe


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` (the exported interface: 0..1 grey input) on uint8 images."""
    xt = torch.from_numpy(x).float().div(255).unsqueeze(1)
    correct = 0
    for i in range(len(xt)):
        correct += int(int(model(xt[i:i + 1]).argmax(1)) == int(y[i]))
    return correct / len(y)


def export_mnist(model: MnistClassifier, out: str, recipe: Dict[str, object], name: str = "mnist") -> Dict:
    """Script the classifier and save it with its config.txt; returns the config dict."""
    sm = torch.jit.script(model)
    cfg = {"task": "classify", "shape": [1, 1, 28, 28], "names": [str(i) for i in range(10)], "name": name,
           "dynamic": True, "stride": 1, "recipe": recipe}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    sm.save(tmp, _extra_files={"config.txt": json.dumps(cfg)})
    os.replace(tmp, out)
    return cfg


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.mnist",
                                 description="Train the MNIST classifier on t10k (8000/2000 split) and export "
                                             "it with torch.jit.script.")
    ap.add_argument("--data", required=True, help=f"directory holding {IMAGES} and {LABELS}")
    ap.add_argument("--out", required=True, help="output TorchScript file")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-accuracy", type=float, default=0.97,
                    help="fail (exit 1, no file written) below this held-out accuracy (default 0.97)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        model, recipe = train_mnist(a.data, a.epochs, a.seed, quiet=a.quiet)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if recipe["heldout_accuracy"] < a.min_accuracy:
        print(f"error: held-out accuracy {recipe['heldout_accuracy']} is below --min-accuracy {a.min_accuracy}; "
              f"not writing {a.out}", file=sys.stderr)
        return 1
    cfg = export_mnist(model, a.out, recipe)
    print(json.dumps({"out": a.out, "bytes": os.path.getsize(a.out), **cfg["recipe"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
