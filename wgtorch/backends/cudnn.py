"""torch.backends.cudnn's flags, accepted so that PyTorch scripts run.

There is no cuDNN under wgtorch: `benchmark`, `deterministic`, `enabled` and
`allow_tf32` are plain attributes that scripts may set and read back; they
change nothing here."""

benchmark = False
deterministic = False
enabled = True
allow_tf32 = True


def is_available():
    return False


def version():
    return None
