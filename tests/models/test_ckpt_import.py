"""Checkpoint importer: restricted unpickling, tensor accounting, ema/model choice, yolov5n.pt."""

import io
import os
import pickle
import sys
import types
import zipfile

import pytest
import torch

from lookout_models import yolo
from lookout_models.ckpt import (CheckpointError, CheckpointMismatchError, UnsafeCheckpointError,
                                 load_checkpoint, read_torch_zip, restricted_load_bytes)
from lookout_models.train import lookout_checkpoint


def write_torch_zip(path, pickle_bytes, storages=None):
    """A file laid out like torch.save's zip format, with arbitrary data.pkl bytes."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", "3\n")
        for key, raw in (storages or {}).items():
            z.writestr(f"archive/data/{key}", raw)


def proto0_call(module, name, arg):
    """Protocol-0 pickle that calls module.name(arg) on load: GLOBAL, MARK, STRING, TUPLE, REDUCE."""
    return f"c{module}\n{name}\n(S{arg!r}\ntR.".encode()


# --------------------------------------------------------------------------- refusals

def test_crafted_pickle_naming_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "os-system-ran"
    payload = proto0_call("os", "system", f"touch {marker}")
    path = tmp_path / "evil.pt"
    write_torch_zip(path, payload)
    with pytest.raises(UnsafeCheckpointError, match=r"'os\.system'") as exc:
        load_checkpoint(str(path))
    assert str(path) in str(exc.value)
    assert not marker.exists()
    # Control: the same bytes really do run the command under a plain unpickler.
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("subprocess", "check_call"),
                                         ("builtins", "getattr"), ("posix", "system"),
                                         ("torch", "load"), ("collections", "namedtuple")])
def test_other_disallowed_globals_are_refused(tmp_path, module, name):
    marker = tmp_path / "ran"
    arg = f"open({str(marker)!r}, 'w').write('x')" if name == "eval" else f"touch {marker}"
    path = tmp_path / "evil.pt"
    write_torch_zip(path, proto0_call(module, name, arg))
    with pytest.raises(UnsafeCheckpointError, match=rf"'{module}\.{name}'"):
        read_torch_zip(str(path))
    assert not marker.exists()


def test_torch_saved_reduce_payload_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil_saved.pt"
    torch.save({"epoch": 1, "model": Evil()}, path)  # pickling does not run it
    with pytest.raises(UnsafeCheckpointError, match=r"'posix\.system'|'os\.system'|'nt\.system'"):
        load_checkpoint(str(path))
    assert not marker.exists()


def test_restricted_load_bytes_refuses_and_allows():
    with pytest.raises(UnsafeCheckpointError, match="'builtins.exec'"):
        restricted_load_bytes(proto0_call("builtins", "exec", "x = 1"))
    from collections import OrderedDict
    data = pickle.dumps({"a": OrderedDict(b={1, 2}), "c": (1, 2.5, "s")}, protocol=2)
    assert restricted_load_bytes(data) == {"a": OrderedDict(b={1, 2}), "c": (1, 2.5, "s")}


def test_classes_outside_the_model_namespaces_are_refused(tmp_path):
    # Our own classes pickled directly: lookout_models.* is not an allowed placeholder namespace.
    path = tmp_path / "plain_module.pt"
    torch.save({"model": yolo.Model(yolo.v6_config("n", nc=2))}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"'lookout_models\.yolo\.Model'"):
        load_checkpoint(str(path))


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "text.pt"
    p.write_text("hello")
    with pytest.raises(CheckpointError, match="not a torch zip archive"):
        load_checkpoint(str(p))
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(str(tmp_path / "absent.pt"))
    z = tmp_path / "nodata.pt"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("something/else.txt", "x")
    with pytest.raises(CheckpointError, match="without <dir>/data.pkl"):
        load_checkpoint(str(z))


# --------------------------------------------------------------------------- ultralytics-like files

@pytest.fixture
def ultralytics_namespace(monkeypatch):
    """Subclasses of our modules living under ultralytics' module names (models.common / models.yolo),
    so torch.save writes a pickle that names the same globals as a real ultralytics checkpoint."""
    mods = {n: types.ModuleType(n) for n in ("models", "models.common", "models.yolo")}
    mapping = {}
    for cls, modname in [(yolo.Conv, "models.common"), (yolo.C3, "models.common"),
                         (yolo.Bottleneck, "models.common"), (yolo.SPPF, "models.common"),
                         (yolo.Concat, "models.common"), (yolo.Detect, "models.yolo"), (yolo.Model, "models.yolo")]:
        sub = type(cls.__name__, (cls,), {"__module__": modname})
        setattr(mods[modname], cls.__name__, sub)
        mapping[cls] = sub
    for n, m in mods.items():
        monkeypatch.setitem(sys.modules, n, m)

    def relabel(model):
        for mod in model.modules():
            if type(mod) in mapping:
                mod.__class__ = mapping[type(mod)]
        return model

    return relabel


def small_model(nc=3, seed=0):
    torch.manual_seed(seed)
    cfg = yolo.v6_config("n", nc=nc)
    cfg["width_multiple"] = 0.125
    m = yolo.Model(cfg, names=[f"c{i}" for i in range(nc)]).eval()
    for mod in m.modules():  # non-trivial BN statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 1.5)
    return m


def test_ultralytics_like_checkpoint_prefers_ema_and_converts_half(tmp_path, ultralytics_namespace):
    model = ultralytics_namespace(small_model(seed=0)).half()
    ema = ultralytics_namespace(small_model(seed=1)).half()
    path = tmp_path / "fake_v5.pt"
    torch.save({"epoch": 10, "best_fitness": 0.5, "model": model, "ema": ema, "updates": 100,
                "optimizer": None, "date": "2024-01-01"}, path)
    ck = load_checkpoint(str(path))
    assert ck.source == "ema"
    assert ck.report.ok and ck.report.loaded == len(ck.model.state_dict())
    assert ck.report.converted_from == ["torch.float16"]
    assert ck.names == ["c0", "c1", "c2"]
    assert all(v.dtype == torch.float32 for v in ck.model.state_dict().values() if v.is_floating_point())
    ref = ema.float().state_dict()
    for k, v in ck.model.state_dict().items():
        assert torch.equal(v, ref[k].to(v.dtype)), k
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ck.model(x), ema.float().eval()(x), atol=1e-5)


def test_ultralytics_like_checkpoint_falls_back_to_model(tmp_path, ultralytics_namespace):
    model = ultralytics_namespace(small_model(seed=2))
    model.names = {0: "a", 1: "b", 2: "c"}  # later ultralytics versions store a dict
    path = tmp_path / "fake_v5_noema.pt"
    torch.save({"epoch": -1, "model": model, "ema": None}, path)
    ck = load_checkpoint(str(path))
    assert ck.source == "model"
    assert ck.names == ["a", "b", "c"]
    assert torch.equal(ck.model.state_dict()["model.0.conv.weight"], model.state_dict()["model.0.conv.weight"])


def test_mismatched_tensors_are_reported_by_name_and_shape(tmp_path, ultralytics_namespace):
    model = ultralytics_namespace(small_model(nc=3))
    model.yaml["nc"] = 4  # the yaml now disagrees with the Detect weights
    model.names = ["a", "b", "c", "d"]
    path = tmp_path / "bad.pt"
    torch.save({"model": model, "ema": None}, path)
    with pytest.raises(CheckpointMismatchError) as exc:
        load_checkpoint(str(path))
    msg = str(exc.value)
    assert "model.24.m.0.weight checkpoint [24, 32, 1, 1] vs model [27, 32, 1, 1]" in msg
    assert str(path) in msg


def test_missing_and_unexpected_tensors_are_reported(tmp_path):
    m = small_model()
    ck = lookout_checkpoint(m)
    del ck["state_dict"]["model.9.cv1.conv.weight"]
    ck["state_dict"]["model.99.extra"] = torch.zeros(3)
    path = tmp_path / "lk.pt"
    torch.save(ck, path)
    with pytest.raises(CheckpointMismatchError, match=r"missing from checkpoint \(1\): model\.9\.cv1\.conv\.weight"):
        load_checkpoint(str(path))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected in checkpoint \(1\): model\.99\.extra"):
        load_checkpoint(str(path))
    rep = load_checkpoint(str(path), strict=False).report
    assert rep.missing == ["model.9.cv1.conv.weight"] and rep.unexpected == ["model.99.extra"]


def test_lookout_checkpoint_round_trip(tmp_path):
    m = small_model(nc=5)
    path = tmp_path / "lk.pt"
    torch.save(lookout_checkpoint(m, {"epoch": 3, "val_map50": 0.5}), path)
    ck = load_checkpoint(str(path))
    assert ck.source == "lookout" and ck.meta["epoch"] == 3
    x = torch.rand(1, 3, 96, 64)
    with torch.no_grad():
        assert torch.equal(ck.model(x), m(x))


# --------------------------------------------------------------------------- the real yolov5n.pt

def test_yolov5n_checkpoint_imports_completely(yolov5n_import):
    ck = yolov5n_import
    assert ck.report.ok, ck.report.describe()
    assert ck.report.loaded == len(ck.model.state_dict()) == 349
    assert ck.report.converted_from == ["torch.float16"]
    assert ck.source == "model"  # release checkpoints have ema = None
    assert len(ck.names) == 80 and ck.names[0] == "person" and ck.names[5] == "bus" and ck.names[27] == "tie"
    assert ck.model.stride.tolist() == [8.0, 16.0, 32.0]
    assert sum(p.numel() for p in ck.model.parameters()) == 1872157
    assert ck.model.yaml["width_multiple"] == 0.25
    # anchors come from the checkpoint (stored in stride units)
    px = ck.model.detect.anchors * ck.model.stride.view(-1, 1, 1)
    assert px[0].flatten().tolist() == [10, 13, 16, 30, 33, 23]
    assert ck.meta["date"].startswith("2022-02-08")


def test_yolov5n_pickle_uses_only_allowed_globals(yolov5n_pt):
    # Every global the real file names must resolve through the allow-list (documented set).
    import pickletools
    with zipfile.ZipFile(yolov5n_pt) as z:
        data = z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])
    from lookout_models.ckpt import allowed_global
    strings, names = [], set()
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "GLOBAL":
            names.add(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            names.add((strings[-2], strings[-1]))
    assert ("models.yolo", "Model") in names and ("torch", "HalfStorage") in names
    for mod, name in names:
        allowed_global(mod, name)  # raises if not allowed


def _tensor_pickle(size, stride, offset=0):
    """data.pkl bytes of one tensor over storage '0' (4 floats), written without torch.save."""
    from collections import OrderedDict

    class FakeStorage:
        pass

    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (FakeStorage(), offset, size, stride, False, OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, FakeStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", 4)
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"t": Rebuild()})
    return buf.getvalue()


def test_tensors_are_rebuilt_from_the_zip_and_bounds_checked(tmp_path):
    raw = torch.tensor([1.0, 2.0, 3.0, 4.0]).numpy().tobytes()
    ok = tmp_path / "ok.pt"
    write_torch_zip(ok, _tensor_pickle((2, 2), (1, 2)), {"0": raw})
    assert read_torch_zip(str(ok))["t"].tolist() == [[1.0, 3.0], [2.0, 4.0]]
    bad = tmp_path / "bad.pt"
    write_torch_zip(bad, _tensor_pickle((100,), (1,)), {"0": raw})
    with pytest.raises(CheckpointError, match=r"tensor of size \(100,\) does not fit its storage \(4 elements\)"):
        read_torch_zip(str(bad))
    missing = tmp_path / "missing.pt"
    write_torch_zip(missing, _tensor_pickle((2,), (1,)))
    with pytest.raises(CheckpointError, match="archive/data/0 is missing"):
        read_torch_zip(str(missing))
