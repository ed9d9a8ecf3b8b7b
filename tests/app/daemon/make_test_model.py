"""Writes a tiny TorchScript detector for the daemon tests (models/FORMAT.md).

Why: the daemon tests need a real TorchScript detection model that loads in
well under a second and whose output depends on the frame, so every test can
start its own lookoutd. Classes are those of the shipped shapes model.

The model averages the input over a 32x32 grid and predicts, per cell, a box
centred on the cell, an objectness and class scores with a fixed 1x1
convolution of the cell's mean colour: bright, colourful cells become
confident detections, so synthetic scenes give detections of varying classes.

    /usr/bin/python3 make_test_model.py OUT.torchscript
"""

import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

NAMES = ["circle", "square", "triangle", "star", "cross"]
STRIDE = 32


class TinyDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        nc = len(NAMES)
        self.head = nn.Conv2d(3, 5 + nc, 1)
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(5 + nc, 3, 1, 1, generator=g) * 6.0)
            self.head.bias.copy_(torch.randn(5 + nc, generator=g))
            # Objectness: high where the cell is bright.
            self.head.weight[4].fill_(4.0)
            self.head.bias[4] = -5.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != 3 or x.size(2) % 32 != 0 or x.size(3) % 32 != 0:
            raise RuntimeError("expected [1, 3, H, W] with H, W multiples of 32")
        stride = 32
        cells = F.avg_pool2d(x, stride)
        out = torch.sigmoid(self.head(cells))  # [1, 5 + nc, gh, gw]
        gh = out.size(2)
        gw = out.size(3)
        ys = torch.arange(gh, dtype=torch.float32).view(gh, 1).expand(gh, gw)
        xs = torch.arange(gw, dtype=torch.float32).view(1, gw).expand(gh, gw)
        cx = (xs + 0.5) * stride
        cy = (ys + 0.5) * stride
        w = out[0, 2] * stride * 3 + 8
        h = out[0, 3] * stride * 3 + 8
        rows = torch.cat([cx.unsqueeze(0), cy.unsqueeze(0), w.unsqueeze(0), h.unsqueeze(0),
                          out[0, 4:]], 0)
        return rows.reshape(rows.size(0), gh * gw).t().unsqueeze(0).contiguous()


def main() -> None:
    out = sys.argv[1]
    model = torch.jit.script(TinyDetector().eval())
    config = {"shape": [1, 3, 320, 320], "stride": STRIDE, "names": NAMES, "task": "detect",
              "name": "tiny-test", "dynamic": True}
    y = model(torch.rand(1, 3, 320, 256))
    assert y.shape == (1, 10 * 8, 5 + len(NAMES)), y.shape
    torch.jit.save(model, out, _extra_files={"config.txt": json.dumps(config)})


if __name__ == "__main__":
    main()
