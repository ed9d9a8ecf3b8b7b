"""MNIST classifier: IDX reading, seeded split, scripted export with control flow, accuracy."""

import gzip
import json
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models_testlib import run_module
from lookout_models import mnist
from lookout_models.reference import read_config


def test_read_idx_and_errors(tmp_path):
    p = tmp_path / "x.idx.gz"
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    with gzip.open(p, "wb") as fh:
        fh.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 3, 4) + arr.tobytes())
    assert np.array_equal(mnist.read_idx(str(p)), arr)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(ValueError, match="bad magic"):
        mnist.read_idx(str(bad))
    short = tmp_path / "short.idx"
    short.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"abc")
    with pytest.raises(ValueError, match="header says"):
        mnist.read_idx(str(short))


def test_split_is_seeded_and_disjoint(mnist_dir):
    xtr, ytr, xte, yte = mnist.load_split(mnist_dir, seed=0)
    assert xtr.shape == (8000, 28, 28) and xte.shape == (2000, 28, 28)
    assert set(np.unique(ytr)) == set(range(10))
    again = mnist.load_split(mnist_dir, seed=0)
    assert np.array_equal(again[2], xte)
    other = mnist.load_split(mnist_dir, seed=1)
    assert not np.array_equal(other[2], xte)
    # disjoint: no held-out image appears in the training part (compare raw bytes)
    train_set = {x.tobytes() for x in xtr}
    dup = sum(x.tobytes() in train_set for x in xte)
    assert dup <= 2  # the t10k set itself holds a couple of byte-identical digits at most


def test_cli_missing_data(tmp_path):
    r = run_module("mnist", "--data", str(tmp_path), "--out", str(tmp_path / "m.torchscript"))
    assert r.returncode == 2 and "MNIST file not found" in r.stderr
    assert not (tmp_path / "m.torchscript").exists()


@pytest.fixture(scope="module")
def mnist_model(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "mnist.torchscript"
    r = run_module("mnist", "--data", mnist_dir, "--out", str(out), "--quiet", timeout=600)
    assert r.returncode == 0, r.stderr
    return str(out), json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mnist_export_metadata_and_accuracy(mnist_model, mnist_dir):
    path, report = mnist_model
    assert report["heldout_accuracy"] >= 0.97
    cfg = read_config(path)
    assert cfg["task"] == "classify" and cfg["shape"] == [1, 1, 28, 28]
    assert cfg["names"] == [str(i) for i in range(10)]
    assert cfg["recipe"]["heldout_accuracy"] == report["heldout_accuracy"]
    # independent re-measurement through the saved file
    m = torch.jit.load(path)
    _, _, xte, yte = mnist.load_split(mnist_dir, seed=0)
    x = torch.from_numpy(xte[:500]).float().div(255).unsqueeze(1)
    pred = [int(m(x[i:i + 1]).argmax(1)) for i in range(len(x))]
    assert np.mean(np.array(pred) == yte[:500]) >= 0.97


@pytest.mark.slow
def test_mnist_is_scripted_with_control_flow(mnist_model, mnist_dir):
    m = torch.jit.load(mnist_model[0])
    graph = str(m.graph)
    assert graph.count("prim::If") >= 3  # channels, size and background branches survive as real control flow
    _, _, xte, yte = mnist.load_split(mnist_dir, seed=0)
    digits = torch.from_numpy(xte[:60]).float().div(255).unsqueeze(1)
    agree = {"rgb": 0, "inverted": 0, "large": 0, "small": 0}
    for i in range(len(digits)):
        g = digits[i:i + 1]
        p = m(g)
        assert p.shape == (1, 10) and float(p.sum()) == pytest.approx(1.0, abs=1e-5) and float(p.min()) >= 0
        c = int(p.argmax(1))
        agree["rgb"] += int(int(m(g.repeat(1, 3, 1, 1)).argmax(1)) == c)
        agree["inverted"] += int(int(m(1.0 - g).argmax(1)) == c)  # dark digit on white paper
        agree["large"] += int(int(m(F.interpolate(g, size=[84, 84], mode="bilinear")).argmax(1)) == c)
        agree["small"] += int(int(m(F.interpolate(g, size=[20, 20], mode="bilinear")).argmax(1)) == c)
    assert agree["rgb"] == len(digits)
    assert agree["inverted"] == len(digits)
    assert agree["large"] >= 0.9 * len(digits)
    assert agree["small"] >= 0.8 * len(digits)
    with pytest.raises(Exception, match="1 \\(grey\\) or 3 \\(RGB\\) channels"):
        m(torch.rand(1, 2, 28, 28))
