"""Export: traced body + scripted decoding, any stride-aligned size, config.txt, verification, CLI."""

import copy
import json

import pytest
import torch

from models_testlib import run_module
from lookout_models import yolo
from lookout_models.export import alt_size, export_model, expected_rows
from lookout_models.reference import read_config
from lookout_models.train import lookout_checkpoint

REQUIRED_KEYS = {"shape", "stride", "names", "task", "name", "dynamic", "anchors", "letterbox", "recipe"}


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    cfg = yolo.v6_config("n", nc=3)
    cfg["width_multiple"] = 0.125
    m = yolo.Model(cfg, names=["red", "green", "blue"]).eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def small_export(small, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exp") / "small.torchscript")
    rep = export_model(small, small.names, out, (128, 128), recipe={"source": "unit test"})
    return out, rep


def test_config_txt_metadata(small_export, small):
    out, _ = small_export
    cfg = read_config(out)
    assert REQUIRED_KEYS <= set(cfg)
    assert cfg["shape"] == [1, 3, 128, 128]
    assert cfg["stride"] == 32
    assert cfg["names"] == ["red", "green", "blue"]
    assert cfg["task"] == "detect" and cfg["dynamic"] is True and cfg["name"] == "small"
    assert cfg["letterbox"] == {"pad": 114, "center": True}
    assert cfg["anchors"][0] == [10, 13, 16, 30, 33, 23] and len(cfg["anchors"]) == 3
    assert cfg["recipe"]["source"] == "unit test"
    assert cfg["recipe"]["verification"]["tolerance"] == 1e-4


@pytest.mark.parametrize("h,w", [(128, 128), (128, 96), (96, 160), (64, 320), (32, 32)])
def test_any_stride_aligned_size_matches_eager(small_export, small, h, w):
    out, _ = small_export
    m = torch.jit.load(out)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * 1000 + w))
    fused = copy.deepcopy(small).fuse()
    with torch.no_grad():
        ys = m(x)
        yf = fused(x)
        ye = small(x)
    assert tuple(ys.shape) == (1, expected_rows(small, h, w), 8)
    assert float((ys - yf).abs().max()) <= 1e-4
    assert torch.allclose(ys, ye, rtol=1e-4, atol=1e-3)


def test_bad_input_sizes_raise_clear_errors(small_export):
    m = torch.jit.load(small_export[0])
    with pytest.raises(Exception, match="multiples of the stride 32"):
        m(torch.rand(1, 3, 100, 128))
    with pytest.raises(Exception, match=r"expected input \[1, 3, H, W\]"):
        m(torch.rand(1, 1, 128, 128))


def test_export_is_mixed_trace_and_script(small_export):
    m = torch.jit.load(small_export[0])
    # the decoding is scripted code with a loop over levels, not a traced constant-shape graph
    code = m.decode.code
    assert "for" in code or "prim::Loop" in str(m.decode.graph)
    assert "aten::arange" in str(m.decode.graph)


def test_optimize_for_mobile_variant(small, tmp_path):
    out = str(tmp_path / "small_mobile.torchscript")
    rep = export_model(small, small.names, out, (128, 96), optimize_mobile=True)
    m = torch.jit.load(out)
    cfg = read_config(out)
    assert cfg["recipe"]["optimize_for_mobile"] is True and cfg["shape"] == [1, 3, 128, 96]
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        d = (m(x) - copy.deepcopy(small).fuse()(x)).abs()
    assert float(d[..., 4:].max()) <= 1e-3  # scores
    assert float(d[..., :4].max()) <= 1e-2  # pixel coordinates (float32 at ~100 px)
    assert set(rep["checks"]) == {"128x96", "128x64"}


def test_export_rejects_unaligned_default_size(small, tmp_path):
    with pytest.raises(ValueError, match="multiples of the stride 32"):
        export_model(small, small.names, str(tmp_path / "x.torchscript"), (100, 128))
    assert not (tmp_path / "x.torchscript").exists()


def test_alt_size():
    assert alt_size(640, 640, 32) == (640, 480)
    assert alt_size(320, 320, 32) == (320, 256)


def test_cli_exports_a_lookout_checkpoint(small, tmp_path):
    ck = tmp_path / "small.pt"
    torch.save(lookout_checkpoint(small, {"epoch": 7, "val_map50": 0.25}), ck)
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"heldout_map50": 0.5}))
    out = tmp_path / "cli.torchscript"
    r = run_module("export", "--weights", str(ck), "--out", str(out), "--imgsz", "96", "128",
                   "--name", "tiny", "--recipe-json", str(recipe), "--threads", "1")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["shape"] == [1, 3, 96, 128] and set(rep["checks"]) == {"96x128", "96x96"}
    cfg = read_config(str(out))
    assert cfg["name"] == "tiny" and cfg["recipe"]["heldout_map50"] == 0.5 and cfg["recipe"]["epoch"] == 7
    assert cfg["recipe"]["source"] == "small.pt" and len(cfg["recipe"]["source_sha256"]) == 64


def test_cli_errors(tmp_path, small):
    r = run_module("export", "--weights", str(tmp_path / "absent.pt"), "--out", str(tmp_path / "o.torchscript"))
    assert r.returncode == 2 and "no such file" in r.stderr
    ck = tmp_path / "small.pt"
    torch.save(lookout_checkpoint(small), ck)
    r = run_module("export", "--weights", str(ck), "--out", str(tmp_path / "o.torchscript"), "--imgsz", "100")
    assert r.returncode == 1 and "multiples of the stride 32" in r.stderr
    assert not (tmp_path / "o.torchscript").exists()


# --------------------------------------------------------------------------- yolov5n.pt

@pytest.mark.slow
def test_yolov5n_export_shapes_and_agreement(yolov5n_torchscript, yolov5n_import):
    out, rep = yolov5n_torchscript
    m = torch.jit.load(out)
    eager = yolov5n_import.model
    fused = copy.deepcopy(eager).fuse()
    for (h, w), rows in (((640, 640), 25200), ((640, 480), 18900)):
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ys = m(x)
            d = float((ys - fused(x)).abs().max())
            rel = float(((ys - eager(x)).abs() / (eager(x).abs() + 1)).max())
        assert tuple(ys.shape) == (1, rows, 85)
        assert d <= 1e-4, f"{h}x{w}: {d}"
        assert rel <= 1e-4, f"{h}x{w}: {rel}"
    cfg = read_config(out)
    assert cfg["shape"] == [1, 3, 640, 640] and len(cfg["names"]) == 80 and cfg["stride"] == 32
    assert rep["checks"]["640x480"]["shape"] == [1, 18900, 85]


def test_verify_cli_accepts_its_export_and_rejects_another_checkpoint(small, small_export, tmp_path):
    ck = tmp_path / "small.pt"
    torch.save(lookout_checkpoint(small), ck)
    r = run_module("verify", "--weights", str(ck), "--model", small_export[0], "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "128x128" in json.loads(r.stdout.strip().splitlines()[0])["checks"]
    other = copy.deepcopy(small)
    with torch.no_grad():
        other.model[0].conv.weight.mul_(1.5)
    ck2 = tmp_path / "other.pt"
    torch.save(lookout_checkpoint(other), ck2)
    r = run_module("verify", "--weights", str(ck2), "--model", small_export[0], "--threads", "1")
    assert r.returncode == 1 and "exceeds" in r.stderr
