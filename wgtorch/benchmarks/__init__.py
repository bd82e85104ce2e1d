"""Benchmarks, run as ``python -m wgtorch.benchmarks``: wgtorch against NumPy and
(when installed) PyTorch in the same process, printed as times and ratios."""
