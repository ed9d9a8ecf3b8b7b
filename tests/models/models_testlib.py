"""Paths and helpers shared by the models/ tests (a uniquely named module, not ``conftest``)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "models")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
DEFAULT_MODEL = os.path.join(MODELS, "default", "shapes.torchscript")

if MODELS not in sys.path:
    sys.path.insert(0, MODELS)


def run_module(module: str, *args: str, timeout: float = 300):
    """Run ``/usr/bin/python3 -m lookout_models.<module> args`` from models/; returns CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = MODELS + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", f"lookout_models.{module}", *args], cwd=MODELS, env=env,
                          capture_output=True, text=True, timeout=timeout)
