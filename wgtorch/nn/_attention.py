"""The functional form of attention (F.scaled_dot_product_attention)."""
__all__ = []
