"""Convolution, pooling and upsampling layers (Conv1d, Conv2d, ConvTranspose2d, pools, Upsample)."""
__all__ = []
