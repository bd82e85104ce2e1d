"""The functional forms of normalisation and embedding (F.batch_norm, F.layer_norm, F.group_norm, F.rms_norm, F.embedding)."""
__all__ = []
