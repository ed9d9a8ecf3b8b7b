"""Shared pytest set-up for the models/ tests.

* puts ``<repo>/models`` on ``sys.path`` so ``import lookout_models`` works;
* registers the ``slow`` marker (deselect with ``-m "not slow"``);
* ``shared_data`` fixture: ``<repo>/../shared/data`` (computed from this file's
  location), skipping the test with a clear message when it is absent;
* limits torch to ``LOOKOUT_TORCH_THREADS`` threads (default 1: on the shared
  2-core machines 1 thread is faster than 2 whenever the other core is busy).

Run: ``cd <repo> && /usr/bin/python3 -m pytest tests/models``.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models_testlib import MODELS, REPO, SHARED_DATA  # noqa: E402,F401  (also puts models/ on sys.path)

try:
    import torch

    torch.set_num_threads(int(os.environ.get("LOOKOUT_TORCH_THREADS", "1")))
except ImportError:  # pragma: no cover - reported by the tests themselves
    pass


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (training, yolov5n export)")


def _require(path: str, what: str) -> str:
    if not os.path.exists(path):
        pytest.skip(f"{what} not available: {path} is absent (needs the shared data next to the checkout, "
                    f"see ../shared/README.md)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> str:
    return _require(SHARED_DATA, "shared data directory")


@pytest.fixture(scope="session")
def yolov5n_pt(shared_data) -> str:
    return _require(os.path.join(shared_data, "yolov5", "yolov5n.pt"), "yolov5n.pt")


@pytest.fixture(scope="session")
def bus_jpg(shared_data) -> str:
    return _require(os.path.join(shared_data, "yolov5", "bus.jpg"), "bus.jpg")


@pytest.fixture(scope="session")
def zidane_jpg(shared_data) -> str:
    return _require(os.path.join(shared_data, "yolov5", "zidane.jpg"), "zidane.jpg")


@pytest.fixture(scope="session")
def mnist_dir(shared_data) -> str:
    d = os.path.join(shared_data, "mnist")
    _require(os.path.join(d, "t10k-images-idx3-ubyte.gz"), "MNIST t10k images")
    _require(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "MNIST t10k labels")
    return d


@pytest.fixture(scope="session")
def yolov5n_import(yolov5n_pt):
    from lookout_models.ckpt import load_checkpoint

    return load_checkpoint(yolov5n_pt)


@pytest.fixture(scope="session")
def yolov5n_torchscript(yolov5n_import, tmp_path_factory):
    """yolov5n exported once per session at 640x640 (through the library API)."""
    from lookout_models.export import export_model

    out = str(tmp_path_factory.mktemp("export") / "yolov5n.torchscript")
    report = export_model(yolov5n_import.model, yolov5n_import.names, out, (640, 640),
                          recipe={"source": "yolov5n.pt"})
    return out, report
