"""Attention and transformer layers (MultiheadAttention, Transformer encoder/decoder layers)."""
__all__ = []
