"""Import ultralytics YOLOv5 ``.pt`` checkpoints safely, without ultralytics installed.

Why: an ultralytics checkpoint is a pickle of ultralytics' own classes.
``torch.load`` would need that code on the path, and unpickling *executes*
whatever callables the pickle names (``os.system`` included).  This module
reads torch's zip container itself and unpickles ``data.pkl`` with a
restricted :class:`pickle.Unpickler` whose ``find_class`` hands out only:

* tensor rebuilds: ``torch._utils._rebuild_tensor_v2``, ``_rebuild_tensor``,
  ``_rebuild_parameter`` -- mapped to this module's own implementations, which
  view bytes read from the zip's ``data/<key>`` entries (``torch.*Storage``
  names only select the dtype);
* plain data: ``collections.OrderedDict``, ``builtins`` ``set``,
  ``frozenset``, ``list``, ``dict``, ``tuple``, ``_codecs.encode`` (how protocol-2
  pickles spell ``bytes``), ``torch.Size``, ``torch.device`` and the
  ``torch.<dtype>`` objects;
* classes of ultralytics' model code (modules ``models.*``, ``utils.*``) and of
  ``torch.nn.modules.*``: mapped to inert :class:`Placeholder` classes that only
  record the pickled ``__dict__`` (so ``_parameters``, ``_buffers``,
  ``_modules``, ``yaml``, ``names``, ``stride`` can be read afterwards).

Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...)
raises :class:`UnsafeCheckpointError` naming it, from inside ``find_class`` --
i.e. before the pickle can call it.

The placeholder tree of the ``ema`` entry (if present and not None, else
``model``) is flattened into a state dict and loaded into
:class:`lookout_models.yolo.Model` built from the checkpoint's ``model.yaml``;
every tensor must be accounted for by name and shape (missing, unexpected and
shape-mismatched tensors are reported), half precision becomes float32.

The same reader loads lookout's own checkpoints (``format: lookout-yolo-v1``,
written by :mod:`lookout_models.train`).
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

from .yolo import Model, ModelConfigError


class CheckpointError(RuntimeError):
    """The file is not a checkpoint this importer can read (names the file and the problem)."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle names a global outside the allow-list; nothing it names was run."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint's tensors do not match the network built from its yaml."""


# ---------------------------------------------------------------------------
# Allow-list
# ---------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_DTYPE_NAMES = {"float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long",
                "int32", "int", "int16", "short", "int8", "uint8", "bool"}
# Module prefixes whose *classes* become inert placeholders.
_PLACEHOLDER_PREFIXES = ("models.", "utils.", "torch.nn.modules.")
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")


class _StorageType:
    """What ``torch.<X>Storage`` resolves to: just a dtype tag for persistent_load."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class Placeholder:
    """Inert stand-in for a pickled class: records constructor args and state, runs nothing."""

    _qualname = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["_init_args"] = (args, kwargs)

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            state, slots = state
            if slots:
                self.__dict__.update(slots)
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif state is not None:
            self.__dict__["_state"] = state

    def __repr__(self):
        return f"<placeholder {self._qualname}>"


_PLACEHOLDERS: Dict[str, type] = {}


def _placeholder_class(module: str, name: str) -> type:
    q = f"{module}.{name}"
    if q not in _PLACEHOLDERS:
        _PLACEHOLDERS[q] = type(name, (Placeholder,), {"_qualname": q, "__module__": __name__})
    return _PLACEHOLDERS[q]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, torch.Tensor):
        raise CheckpointError(f"tensor rebuild got {type(storage).__name__} instead of a storage")
    try:
        return torch.as_strided(storage, tuple(size), tuple(stride), int(storage_offset))
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"tensor of size {tuple(size)} does not fit its storage "
                              f"({storage.numel()} elements): {e}") from None


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeCheckpointError(f"_codecs.encode called with unexpected arguments ({type(obj).__name__}, "
                                    f"{encoding!r})")
    return obj.encode(encoding, errors)


_SAFE_GLOBALS: Dict[Tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("builtins", "list"): list, ("__builtin__", "list"): list,
    ("builtins", "dict"): dict, ("__builtin__", "dict"): dict,
    ("builtins", "tuple"): tuple, ("__builtin__", "tuple"): tuple,
    ("_codecs", "encode"): _codecs_encode,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}


def allowed_global(module: str, name: str) -> Any:
    """What the restricted unpickler returns for ``module.name``; raises if not allowed."""
    key = (module, name)
    if key in _SAFE_GLOBALS:
        return _SAFE_GLOBALS[key]
    if module == "torch" and name in _STORAGE_DTYPES:
        return _StorageType(name)
    if module == "torch" and name in _DTYPE_NAMES:
        return getattr(torch, name)
    if module.startswith(_PLACEHOLDER_PREFIXES) and _CLASS_NAME.match(name):
        return _placeholder_class(module, name)
    raise UnsafeCheckpointError(
        f"refusing to unpickle the global '{module}.{name}': it is not on the allow-list "
        f"(tensor rebuilds, torch storages/dtypes, OrderedDict/set/list/dict/tuple, and model classes "
        f"under {', '.join(_PLACEHOLDER_PREFIXES)} as inert placeholders); nothing was executed")


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only via :func:`allowed_global`.

    ``storages`` maps a persistent-id key to a 1-D tensor (or a callable
    ``(key, dtype) -> tensor``) for torch's zip format.
    """

    def __init__(self, fh, storage_loader=None, where: str = "<pickle>"):
        super().__init__(fh)
        self._loader = storage_loader
        self._where = where

    def find_class(self, module, name):  # noqa: D401 - pickle API
        try:
            return allowed_global(module, name)
        except UnsafeCheckpointError as e:
            raise UnsafeCheckpointError(f"{self._where}: {e}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise CheckpointError(f"{self._where}: unsupported persistent id {pid!r:.80}")
        if self._loader is None:
            raise CheckpointError(f"{self._where}: tensor storage outside a torch zip archive")
        stype, key = pid[1], str(pid[2])
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"{self._where}: storage {key} has an unknown type {stype!r:.80}")
        return self._loader(key, stype.dtype)


def restricted_load_bytes(data: bytes, where: str = "<pickle>") -> Any:
    """Unpickle plain bytes with the allow-list (no tensor storages)."""
    return RestrictedUnpickler(io.BytesIO(data), None, where).load()


def read_torch_zip(path: str) -> Any:
    """Unpickle a torch zip-format file (``torch.save`` since 1.6) with the allow-list."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a torch zip archive (legacy pre-1.6 torch.save files and "
                              f"non-torch files are not supported)")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkl:
            raise CheckpointError(f"{path}: zip archive without <dir>/data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        order = prefix + "byteorder"
        if order in names and z.read(order).decode().strip() != "little":
            raise CheckpointError(f"{path}: big-endian tensor data is not supported")
        cache: Dict[str, torch.Tensor] = {}

        def load_storage(key: str, dtype: torch.dtype) -> torch.Tensor:
            ck = f"{key}:{dtype}"
            if ck not in cache:
                entry = f"{prefix}data/{key}"
                if entry not in names:
                    raise CheckpointError(f"{path}: tensor storage {entry} is missing")
                raw = bytearray(z.read(entry))
                itemsize = torch.empty((), dtype=dtype).element_size()
                if len(raw) % itemsize:
                    raise CheckpointError(f"{path}: storage {entry} has {len(raw)} bytes, "
                                          f"not a multiple of {dtype} size {itemsize}")
                cache[ck] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            return cache[ck]

        return RestrictedUnpickler(io.BytesIO(z.read(pkl[0])), load_storage, path).load()


# ---------------------------------------------------------------------------
# Placeholder tree -> state dict
# ---------------------------------------------------------------------------

def placeholder_state_dict(node: Any, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
    """Flatten a pickled nn.Module tree (placeholders) into ``name -> tensor`` like ``state_dict()``."""
    out: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    d = getattr(node, "__dict__", {})
    non_persistent = d.get("_non_persistent_buffers_set") or set()
    for kind in ("_parameters", "_buffers"):
        for k, v in (d.get(kind) or {}).items():
            if v is None or (kind == "_buffers" and k in non_persistent):
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"{prefix}{k}: expected a tensor, found {type(v).__name__}")
            out[prefix + k] = v
    for k, child in (d.get("_modules") or {}).items():
        if child is not None:
            out.update(placeholder_state_dict(child, f"{prefix}{k}."))
    return out


def _placeholder_modules(node: Any, prefix: str = ""):
    """Yield ``(name, placeholder)`` for every module in a pickled tree."""
    yield prefix.rstrip("."), node
    for k, child in (getattr(node, "__dict__", {}).get("_modules") or {}).items():
        if child is not None:
            yield from _placeholder_modules(child, f"{prefix}{k}.")


@dataclass
class LoadReport:
    """How the checkpoint's tensors matched the built network."""

    loaded: int = 0
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    converted_from: List[str] = field(default_factory=list)  # dtypes converted to float32

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 20) -> str:
        parts = [f"{self.loaded} tensors loaded"]
        if self.missing:
            parts.append(f"missing from checkpoint ({len(self.missing)}): {', '.join(self.missing[:limit])}")
        if self.unexpected:
            parts.append(f"unexpected in checkpoint ({len(self.unexpected)}): {', '.join(self.unexpected[:limit])}")
        if self.mismatched:
            parts.append(f"shape mismatch ({len(self.mismatched)}): " + ", ".join(
                f"{k} checkpoint {list(a)} vs model {list(b)}" for k, a, b in self.mismatched[:limit]))
        return "; ".join(parts)


def load_state(model: torch.nn.Module, sd: Dict[str, torch.Tensor], strict: bool = True,
               where: str = "checkpoint") -> LoadReport:
    """Copy ``sd`` into ``model`` by name, checking shapes; float tensors become the model's dtype."""
    rep = LoadReport()
    target = model.state_dict()
    for k in target:
        if k not in sd:
            rep.missing.append(k)
    for k, v in sd.items():
        if k not in target:
            rep.unexpected.append(k)
        elif tuple(v.shape) != tuple(target[k].shape):
            rep.mismatched.append((k, tuple(v.shape), tuple(target[k].shape)))
    if strict and not rep.ok:
        raise CheckpointMismatchError(f"{where}: tensors do not match the network built from its yaml: "
                                      f"{rep.describe()}")
    conv = set()
    with torch.no_grad():
        for k, v in sd.items():
            if k in target and tuple(v.shape) == tuple(target[k].shape):
                if v.dtype != target[k].dtype:
                    conv.add(str(v.dtype))
                target[k].copy_(v.to(target[k].dtype))
                rep.loaded += 1
    rep.converted_from = sorted(conv)
    return rep


@dataclass
class ImportedCheckpoint:
    """The result of :func:`load_checkpoint`."""

    model: Model
    names: List[str]
    report: LoadReport
    source: str  # "ema" / "model" / "lookout"
    meta: Dict[str, Any]


def _names_list(names: Any, nc: int) -> List[str]:
    if names is None:
        return [str(i) for i in range(nc)]
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=lambda k: int(k))]
    return [str(n) for n in names]


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(path: str, strict: bool = True) -> ImportedCheckpoint:
    """Read an ultralytics YOLOv5 or lookout checkpoint into a float32 :class:`Model` (eval mode).

    Raises :class:`UnsafeCheckpointError` for disallowed globals,
    :class:`CheckpointMismatchError` when tensors do not line up (``strict``),
    :class:`CheckpointError` for anything else unreadable.
    """
    obj = read_torch_zip(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: top level is {type(obj).__name__}, expected a checkpoint dict")
    meta: Dict[str, Any] = {"file": os.path.basename(path), "sha256": sha256_of(path)}

    if obj.get("format") == "lookout-yolo-v1":
        yaml_d, sd = obj.get("yaml"), obj.get("state_dict")
        if not isinstance(yaml_d, dict) or not isinstance(sd, dict):
            raise CheckpointError(f"{path}: lookout checkpoint without 'yaml' / 'state_dict'")
        names = _names_list(obj.get("names"), int(yaml_d.get("nc", 0)))
        source = "lookout"
        for k in ("epoch", "val_map50", "train_settings", "elapsed"):
            if k in obj:
                meta[k] = obj[k]
        bn_eps = None
    else:
        source = "ema" if obj.get("ema") is not None else "model"
        top = obj.get(source)
        if top is None:
            raise CheckpointError(f"{path}: neither 'ema' nor 'model' entry holds a model "
                                  f"(keys: {sorted(map(str, obj))})")
        if not isinstance(top, Placeholder):
            raise CheckpointError(f"{path}: '{source}' entry is a {type(top).__name__}, expected a pickled model")
        d = top.__dict__
        yaml_d = d.get("yaml")
        if not isinstance(yaml_d, dict):
            raise CheckpointError(f"{path}: '{source}' has no model.yaml dict (a {top._qualname}); "
                                  f"only YOLOv5 detection checkpoints are supported")
        names = _names_list(d.get("names"), int(yaml_d.get("nc", 0)))
        sd = placeholder_state_dict(top)
        for k in ("epoch", "date", "best_fitness"):
            if k in obj and isinstance(obj[k], (int, float, str)):
                meta[k] = obj[k]
        eps = {float(p.__dict__["eps"]) for _, p in _placeholder_modules(top)
               if getattr(p, "_qualname", "").endswith("BatchNorm2d") and "eps" in p.__dict__}
        bn_eps = eps.pop() if len(eps) == 1 else None

    try:
        model = Model(yaml_d, ch=int(yaml_d.get("ch", 3)), names=names)
    except (ModelConfigError, KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: cannot build the network from its model.yaml: {e}") from None
    rep = load_state(model, sd, strict=strict, where=path)
    if bn_eps is not None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.eps = bn_eps
    meta["source_entry"] = source
    return ImportedCheckpoint(model.float().eval(), names, rep, source, meta)


def main(argv=None) -> int:
    """``python3 -m lookout_models.ckpt FILE.pt``: import and print a summary (or the refusal)."""
    import argparse
    import json
    import sys
    ap = argparse.ArgumentParser(prog="python3 -m lookout_models.ckpt",
                                 description="Import a YOLOv5 checkpoint with the restricted unpickler.")
    ap.add_argument("checkpoint")
    a = ap.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    info = ck.model.info()
    print(json.dumps({"file": a.checkpoint, "entry": ck.source, "nc": len(ck.names),
                      "stride": [int(s) for s in ck.model.stride.tolist()], "parameters": info["parameters"],
                      "report": ck.report.describe(), "converted_from": ck.report.converted_from,
                      "meta": {k: v for k, v in ck.meta.items() if k != "train_settings"}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
