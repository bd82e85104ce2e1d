"""wgtorch.onnx: export a model to ONNX by tracing one forward pass (needs the `onnx` package:
``pip install wgtorch[onnx]``)."""
from ._export import TrainingMode, export
from ._graph import UnsupportedOperatorError


__all__ = ["export", "TrainingMode", "UnsupportedOperatorError"]
