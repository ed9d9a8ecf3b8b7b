"""YOLOv5 network built from yaml: structure, shapes, Detect semantics, fusion, scripted decoding."""

import copy
import os

import pytest
import torch

from models_testlib import MODELS
from lookout_models import yolo
from lookout_models.yolo import DetectDecode, Model, ModelConfigError, load_yaml, v6_config

SHAPES_YAML = os.path.join(MODELS, "lookout_models", "configs", "shapes.yaml")


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_yolov5n_structure_matches_published_figures():
    # ultralytics' own summary for v6.1 yolov5n: 270 layers / 1,872,157 parameters,
    # and after Conv+BN fusion 213 layers / 1,867,405 parameters (see ../shared/README.md).
    m = Model(v6_config("n"))
    assert len(list(m.modules())) == 270
    assert n_params(m) == 1872157
    assert m.stride.tolist() == [8.0, 16.0, 32.0]
    m.eval().fuse()
    assert len(list(m.modules())) == 213
    assert n_params(m) == 1867405


def test_yolov5s_parameter_count():
    # Published v6.1 yolov5s summary: 7,235,389 parameters.
    assert n_params(Model(v6_config("s"))) == 7235389


def test_width_and_depth_multiples_scale_the_network():
    n = Model(v6_config("n"))
    s = Model(v6_config("s"))
    # width: stem channels 64 * 0.25 = 16 and 64 * 0.5 = 32
    assert n.model[0].conv.out_channels == 16
    assert s.model[0].conv.out_channels == 32
    # depth: layer 6 is C3 x9 -> round(9 * 0.33) = 3 bottlenecks
    assert len(n.model[6].m) == 3
    m = Model(v6_config("m"))
    assert len(m.model[6].m) == round(9 * 0.67)


def test_custom_class_count_changes_detect_outputs():
    m = Model(v6_config("n", nc=3)).eval()
    assert all(c.out_channels == 3 * (5 + 3) for c in m.detect.m)
    with torch.no_grad():
        y = m(torch.rand(1, 3, 128, 160))
    assert y.shape == (1, 3 * (16 * 20 + 8 * 10 + 4 * 5), 8)


@pytest.mark.parametrize("h,w,rows", [(640, 640, 25200), (640, 480, 18900), (320, 320, 6300)])
def test_eval_output_rows(h, w, rows):
    m = Model(v6_config("n")).eval()
    with torch.no_grad():
        y = m(torch.rand(1, 3, h, w))
    assert tuple(y.shape) == (1, rows, 85)
    # all after sigmoid: scores in 0..1, sizes positive
    assert float(y[..., 4:].min()) >= 0 and float(y[..., 4:].max()) <= 1
    assert float(y[..., 2:4].min()) > 0


def test_training_mode_returns_per_level_maps():
    m = Model(v6_config("n", nc=2)).train()
    maps = m(torch.rand(2, 3, 64, 96))
    assert [tuple(p.shape) for p in maps] == [(2, 3, 8, 12, 7), (2, 3, 4, 6, 7), (2, 3, 2, 3, 7)]


def test_detect_decoding_semantics():
    """Zero logits -> sigmoid 0.5 -> box centred in its cell with exactly the anchor size in pixels."""
    m = Model(v6_config("n", nc=1)).eval()
    det = m.detect
    maps = [torch.zeros(1, det.na, 4 * 2 ** (2 - i), 4 * 2 ** (2 - i), det.no) for i in range(det.nl)]
    y = det.decode(maps)[0]
    first = y[0]  # level 0, anchor 0, cell (0, 0)
    assert first[:2].tolist() == [4.0, 4.0]  # (0 + 0.5) * stride 8
    assert first[2:4].tolist() == [10.0, 13.0]  # the first v6 anchor, in pixels
    assert torch.allclose(first[4:], torch.tensor([0.5, 0.5]))
    # cell (x=1, y=2) of level 0, anchor 0 is row 2 * 16 + 1
    assert y[2 * 16 + 1, :2].tolist() == [12.0, 20.0]
    # largest level, last anchor: 373 x 326 px
    assert y[-1, 2:4].tolist() == [373.0, 326.0]


def test_decoding_extremes_follow_v5_parameterisation():
    m = Model(v6_config("n", nc=1)).eval()
    det = m.detect
    big = [torch.full((1, det.na, 2, 2, det.no), 50.0) for _ in range(det.nl)]  # sigmoid -> 1
    y = det.decode(big)[0]
    # xy = (1 * 2 - 0.5 + grid) * stride -> cell (0,0) of level 0 is 1.5 * 8 = 12; wh = 4 * anchor
    assert y[0, :4].tolist() == [12.0, 12.0, 40.0, 52.0]


def test_scripted_decode_matches_eager_at_any_size():
    torch.manual_seed(0)
    m = Model(v6_config("n", nc=4)).eval()
    dec = torch.jit.script(m.decode_module())
    for h, w in [(64, 64), (96, 160), (32, 256)]:
        feats = [torch.randn(1, m.detect.na * m.detect.no, h // s, w // s) for s in (8, 16, 32)]
        maps = [f.view(1, m.detect.na, m.detect.no, f.shape[2], f.shape[3]).permute(0, 1, 3, 4, 2) for f in feats]
        assert torch.allclose(dec(feats), m.detect.decode(maps), atol=1e-5, rtol=0)


def test_fuse_keeps_outputs():
    torch.manual_seed(0)
    m = Model(v6_config("n", nc=3)).eval()
    # give BN non-trivial statistics so the fold is actually exercised
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a = m(x)
        b = copy.deepcopy(m).fuse()(x)
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in copy.deepcopy(m).fuse().modules())
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-3)


def test_state_dict_names_follow_checkpoint_layout():
    sd = Model(v6_config("n")).state_dict()
    for key in ("model.0.conv.weight", "model.0.bn.running_var", "model.2.m.0.cv1.conv.weight",
                "model.9.cv2.bn.bias", "model.24.anchors", "model.24.m.2.bias"):
        assert key in sd, key
    assert "model.24.stride" not in sd  # not a buffer in ultralytics checkpoints either
    # anchors are stored in units of their level's stride
    assert sd["model.24.anchors"][0, 0].tolist() == [10 / 8, 13 / 8]


def test_shapes_config_is_small():
    cfg = load_yaml(SHAPES_YAML)
    m = Model(cfg)
    assert m.nc == 5
    assert n_params(m) < 1_000_000  # ~1.9 MB as float32


def test_bad_yaml_is_reported_with_the_layer():
    cfg = v6_config("n")
    cfg["backbone"][3] = [-1, 1, "Transformer", [256]]
    with pytest.raises(ModelConfigError, match=r"layer 3 .*unsupported module 'Transformer'"):
        Model(cfg)
    cfg = v6_config("n")
    cfg["head"][2] = [[-1, 30], 1, "Concat", [1]]
    with pytest.raises(ModelConfigError, match=r"layer 12 .*'from' index 30"):
        Model(cfg)
    cfg = v6_config("n")
    del cfg["anchors"]
    with pytest.raises(ModelConfigError, match="missing key 'anchors'"):
        Model(cfg)


def test_yaml_strings_are_not_evaluated():
    cfg = v6_config("n")
    cfg["backbone"][0] = [-1, 1, "Conv", ["__import__('os').getpid()", 6, 2, 2]]
    with pytest.raises(ModelConfigError, match="unsupported symbolic argument"):
        Model(cfg)


def test_anchor_order_is_fixed_when_reversed():
    cfg = v6_config("n")
    cfg["anchors"] = list(reversed(cfg["anchors"]))
    m = Model(cfg)
    areas = (m.detect.anchors * m.stride.view(-1, 1, 1)).prod(-1).mean(-1)
    assert areas[0] < areas[1] < areas[2]
