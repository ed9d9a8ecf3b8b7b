"""Writes the TorchScript files the engine and CLI tests load (ctest fixtures).

    make_test_models.py toy  OUT_DIR   small hand-made models and broken files (seconds)
    make_test_models.py data OUT_DIR   yolov5n (lookout export and an ultralytics-style
                                       trace) and the MNIST classifier, from ../shared
                                       (exit 77 = skipped when ../shared is absent)

Run with Debian's /usr/bin/python3 (python3-torch). Files are written to a
temporary name and renamed, so an interrupted run never leaves half a model.
"""

import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F


def save(module, path, config=None):
    tmp = path + ".tmp"
    extra = {"config.txt": json.dumps(config)} if config is not None else {}
    torch.jit.save(module, tmp, _extra_files=extra)
    os.replace(tmp, path)


class CellDetector(torch.nn.Module):
    """A detector whose answer is known: one 32x32 box per 32x32 input cell,
    objectness = mean red, class scores = mean green, mean blue. A white
    block aligned to cells gives exactly those cells' boxes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.avg_pool2d(x, 32)  # [1, 3, H/32, W/32]
        ny, nx = p.shape[2], p.shape[3]
        gy = torch.arange(ny, dtype=x.dtype).view(ny, 1).expand(ny, nx)
        gx = torch.arange(nx, dtype=x.dtype).view(1, nx).expand(ny, nx)
        cx = (gx + 0.5) * 32
        cy = (gy + 0.5) * 32
        wh = torch.full((ny, nx), 32.0, dtype=x.dtype)
        rows = torch.stack([cx, cy, wh, wh, p[0, 0], p[0, 1], p[0, 2]], 2)
        return rows.view(1, ny * nx, 7)


class TupleOut(torch.nn.Module):
    """ultralytics' export wraps the prediction in a tuple."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return (self.inner(x),)


class Brightness(torch.nn.Module):
    """Classifier: softmax over (dark, bright) from the mean intensity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean()
        return torch.softmax(torch.stack([1 - m, m]).view(1, 2) * 10, 1)


class WrongOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))  # [1, 3]: no detection rows


class WantsFlat(torch.nn.Module):
    """Accepts only [1, N] input (like a model exported for flattened images)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError("expected a 2-D input [1, N], got " + str(x.dim()) + " dimensions")
        return x[:, :7].view(1, 1, 7)


def toy(out):
    det = torch.jit.script(CellDetector())
    names2 = ["warm", "cool"]
    save(det, f"{out}/cells.torchscript",
         {"task": "detect", "name": "cells", "shape": [1, 3, 256, 320], "stride": 32,
          "dynamic": True, "names": names2, "letterbox": {"pad": 114, "center": True}})
    save(det, f"{out}/cells_noconfig.torchscript")
    # As ultralytics' export.py writes them: traced at one size, a tuple out,
    # names as a dict {"0": ...} (YOLOv5 >= 7) and no task key.
    traced = torch.jit.trace(TupleOut(CellDetector()), torch.zeros(1, 3, 64, 96))
    save(traced, f"{out}/cells_ultralytics.torchscript",
         {"shape": [1, 3, 64, 96], "stride": 32, "names": {"0": "warm", "1": "cool"}})
    save(torch.jit.script(Brightness()), f"{out}/brightness.torchscript",
         {"task": "classify", "shape": [1, 3, 16, 16], "names": ["dark", "bright"]})

    # Broken ones, each for one of the engine's refusals.
    open(f"{out}/empty.torchscript", "wb").close()
    with open(f"{out}/text.torchscript", "w") as f:
        f.write("this is not a model\n")
    torch.save({"weight": torch.zeros(3)}, f"{out}/state_dict.pt")  # a zip, but no TorchScript
    with open(f"{out}/cells.torchscript", "rb") as f:
        whole = f.read()
    with open(f"{out}/truncated.torchscript", "wb") as f:
        f.write(whole[: len(whole) // 2])
    save(torch.jit.script(WrongOutput()), f"{out}/wrong_output.torchscript",
         {"task": "detect", "shape": [1, 3, 64, 64], "stride": 32, "names": ["a", "b"]})
    save(torch.jit.script(WantsFlat()), f"{out}/wrong_rank.torchscript",
         {"task": "detect", "shape": [1, 3, 64, 64], "stride": 32, "names": ["a", "b"]})
    save(det, f"{out}/names_mismatch.torchscript",
         {"shape": [1, 3, 64, 64], "stride": 32, "names": ["a", "b", "c"]})
    tmp = f"{out}/bad_json.torchscript.tmp"
    torch.jit.save(det, tmp, _extra_files={"config.txt": "{shape: [1, 3, 64, 64]"})
    os.replace(tmp, f"{out}/bad_json.torchscript")
    save(det, f"{out}/bad_shape.torchscript", {"shape": [1, 3, 64], "stride": 32})
    return 0


def data(out, shared, models_dir):
    weights = os.path.join(shared, "data", "yolov5", "yolov5n.pt")
    mnist = os.path.join(shared, "data", "mnist")
    if not os.path.exists(weights):
        print(f"skipped: {weights} not found")
        return 77
    env = dict(os.environ, PYTHONPATH=models_dir)
    target = f"{out}/yolov5n.torchscript"
    if not os.path.exists(target):
        subprocess.run([sys.executable, "-m", "lookout_models.export", "--weights", weights,
                        "--out", target, "--imgsz", "640", "640"], check=True, env=env)
    target = f"{out}/yolov5n_ultralytics.torchscript"
    if not os.path.exists(target):
        # ultralytics' export.py: the whole fused model traced at 640x640
        # (grid baked in), output (pred,), config {shape, stride, names}.
        sys.path.insert(0, models_dir)
        from lookout_models.ckpt import load_checkpoint

        model = load_checkpoint(weights).model.float().eval().fuse()
        with torch.no_grad():
            traced = torch.jit.trace(TupleOut(model), torch.zeros(1, 3, 640, 640), strict=False)
        names = list(model.names)
        save(traced, target, {"shape": [1, 3, 640, 640], "stride": 32, "names": names})
    target = f"{out}/mnist.torchscript"
    if not os.path.exists(target):
        subprocess.run([sys.executable, "-m", "lookout_models.mnist", "--data", mnist, "--out", target,
                        "--quiet", "--threads", "2"], check=True, env=env)
    # 30 test digits as PGM files plus their labels, for the classify tests.
    digits = f"{out}/digits"
    os.makedirs(digits, exist_ok=True)
    sys.path.insert(0, models_dir)
    from lookout_models.mnist import IMAGES, LABELS, read_idx

    x = read_idx(os.path.join(mnist, IMAGES))
    y = read_idx(os.path.join(mnist, LABELS))
    labels = {}
    for i in range(30):
        path = f"{digits}/{i:02d}.pgm"
        with open(path, "wb") as f:
            f.write(b"P5\n28 28\n255\n" + x[i].tobytes())
        labels[path] = int(y[i])
    with open(f"{digits}/labels.json", "w") as f:
        json.dump(labels, f)
    return 0


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("toy", "data"):
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    if sys.argv[1] == "toy":
        return toy(out)
    return data(out, sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    sys.exit(main())
