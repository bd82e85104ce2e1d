"""wgtorch.utils: helpers under torch.utils' names (safetensors files; data loading lives in utils/data)."""
