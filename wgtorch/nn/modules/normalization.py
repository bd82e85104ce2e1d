"""Normalisation layers (BatchNorm1d/2d, LayerNorm, GroupNorm, RMSNorm)."""
__all__ = []
