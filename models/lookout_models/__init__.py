"""lookout_models: the Python half of lookout's model tooling.

Why this package exists: the C++ engine (``app/engine``) only loads TorchScript
files that follow ``models/FORMAT.md``.  This package writes such files without
depending on ultralytics' code:

* :mod:`lookout_models.yolo`      YOLOv5 (v6.x) built from a ``model.yaml`` dict
* :mod:`lookout_models.ckpt`      restricted-unpickler importer for ultralytics ``.pt`` files
* :mod:`lookout_models.export`    fuse, trace the body, script the Detect decoding, save + verify
* :mod:`lookout_models.reference` letterbox / decode / NMS reference pipeline (CLI, JSON lines)
* :mod:`lookout_models.scenes`    the "shapes v1" synthetic scene renderer (``models/SCENES.md``)
* :mod:`lookout_models.loss`      YOLOv5-style training loss (anchor matching, CIoU, BCE)
* :mod:`lookout_models.train`     trains the embedded default model on generated scenes
* :mod:`lookout_models.evaluate`  mAP@0.5 (VOC all-point) on a held-out generated set
* :mod:`lookout_models.mnist`     MNIST classifier exported with ``torch.jit.script``

Run the CLIs with Debian's interpreter from the ``models/`` directory (or with
``PYTHONPATH=models``), e.g. ``/usr/bin/python3 -m lookout_models.export --help``.
"""

__version__ = "0.1.0"
