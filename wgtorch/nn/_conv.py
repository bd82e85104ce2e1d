"""The functional forms of convolution, pooling and interpolation (F.conv2d, F.max_pool2d, F.interpolate, ...)."""
__all__ = []
