"""unitsface_torch: the unitsface face-recognition losses for PyTorch (CPU tensors).

The losses run in the unitsface C++ library, on the tensors' own memory (no copies), with
its analytic gradients; torch.autograd.Function classes connect them to autograd, and
torch.nn.Module classes hold their parameters (class weights, the trainable bias) and the
feature memory (buffers). See python/README.md.

Importing the package loads the operator library ``_ext.so`` next to this file (built by
CMake into ``<build>/python/unitsface_torch/``); ``UNITSFACE_TORCH_LIBRARY`` names another
file. Bad input raises ValueError naming the argument, as unitsface::invalid_argument does.
"""

import os as _os

import torch as _torch


def _load():
    path = _os.environ.get("UNITSFACE_TORCH_LIBRARY") or _os.path.join(
        _os.path.dirname(_os.path.abspath(__file__)), "_ext.so")
    if not _os.path.exists(path):
        raise ImportError(
            f"unitsface_torch: the operator library {path} does not exist; build it with "
            "`cmake --build <build> --target unitsface_torch` and put <build>/python on "
            "PYTHONPATH (python/README.md)")
    _torch.ops.load_library(path)


_load()

from .functional import (  # noqa: E402
    ArcFaceFunction, CosFaceFunction, EmbeddedFunction, SSBCEFunction, SSSoftmaxFunction,
    USSFunction, memory_update)
from .modules import (  # noqa: E402
    ArcFaceLoss, CosFaceLoss, EmbeddedLoss, FeatureMemory, SSBCELoss, SSSoftmaxLoss, USSLoss)

__all__ = [
    "USSFunction", "SSBCEFunction", "SSSoftmaxFunction", "CosFaceFunction", "ArcFaceFunction",
    "EmbeddedFunction", "memory_update", "USSLoss", "SSBCELoss", "SSSoftmaxLoss", "CosFaceLoss",
    "ArcFaceLoss", "EmbeddedLoss", "FeatureMemory",
]
