"""GradScaler: loss scaling for float16 training (PyTorch's torch.amp.GradScaler).

The loss is multiplied by a scale before backward so that small float16 gradients do not
underflow; ``unscale_`` divides the gradients back and notes whether any is inf/NaN;
``step`` skips the optimizer step when one is; ``update`` halves the scale after such a
step and doubles it after ``growth_interval`` clean steps in a row (PyTorch's defaults)."""
import math
import warnings

import numpy as np

__all__ = ["GradScaler", "OptState"]


class OptState:
    READY, UNSCALED, STEPPED = 0, 1, 2


def _new_state():
    return {"stage": OptState.READY, "found_inf": None}


class GradScaler:
    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled and device in ("cuda", "wgpu", "mps"):
            from .. import wgpu
            if not wgpu.is_available():
                warnings.warn(f"torch.cuda.amp.GradScaler is enabled, but {device} is not available.  "
                              "Disabling.", stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None  # a 0-d float32 tensor on the device of the first scaled output
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = {}

    # ---- scaling ---------------------------------------------------------------------------
    def _lazy_init(self, like):
        from ..ops.creation import tensor
        self._scale = tensor(float(self._init_scale), dtype=_f32(), device=like.device)
        self._growth_tracker = self._init_growth_tracker

    def scale(self, outputs):
        """outputs (a tensor, or nested lists/tuples of them) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if hasattr(outputs, "_be"):
            if self._scale is None:
                self._lazy_init(outputs)
            s = self._scale if self._scale._be is outputs._be else self._scale.to(outputs.device)
            return outputs * s
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if hasattr(outputs, "__iter__"):
            return map(self.scale, outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _state(self, optimizer):
        return self._per_optimizer_states.setdefault(id(optimizer), _new_state())

    def _unscale_grads(self, optimizer, inv_scale, allow_fp16):
        from ..autograd import no_grad
        from ..ops.shape import stack
        flags = {}  # per device: one "all finite" flag per gradient, read back once
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if not allow_fp16 and g.dtype.name == "float16":
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    g.mul_(inv_scale)
                    flags.setdefault(g.device.type, []).append(g.isfinite().all())
        return any(not bool(stack(fs).all().item()) for fs in flags.values())

    def unscale_(self, optimizer):
        """Divide optimizer's gradients by the scale, in place (once between updates)."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["stage"] == OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if st["stage"] == OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        _check_scaled(self, "unscale_")
        # PyTorch: the reciprocal in double, then rounded to float32
        inv = float(np.float32(1.0 / float(self._scale.item())))
        st["found_inf"] = self._unscale_grads(optimizer, inv, False)
        st["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(...) unless the (unscaled) gradients hold inf/NaN; returns its value or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        st = self._state(optimizer)
        if st["stage"] == OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] == OptState.READY:
            self.unscale_(optimizer)
        ret = None
        if not st["found_inf"]:
            ret = optimizer.step(*args, **kwargs)
        st["stage"] = OptState.STEPPED
        return ret

    def update(self, new_scale=None):
        """Set the scale for the next iteration: new_scale if given, else back off after an
        inf/NaN, or grow after growth_interval clean steps."""
        if not self._enabled:
            return
        _check_scaled(self, "update")
        if new_scale is not None:
            if hasattr(new_scale, "_be"):
                if new_scale.numel() != 1:
                    raise AssertionError("new_scale should be a single-element tensor")
                if new_scale.requires_grad:
                    raise AssertionError("new_scale should not require grad.")
                new_scale = new_scale.item()
            self._scale.fill_(float(new_scale))
        else:
            found = [st["found_inf"] for st in self._per_optimizer_states.values() if st["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            scale = np.float32(self._scale.item())
            if any(found):
                scale = np.float32(scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                done = self._growth_tracker + 1
                if done == self._growth_interval:
                    grown = np.float32(scale * np.float32(self._growth_factor))
                    if math.isfinite(grown):
                        scale = grown
                    done = 0
                self._growth_tracker = done
            self._scale.fill_(float(scale))
        self._per_optimizer_states = {}

    # ---- settings and state --------------------------------------------------------------
    def get_scale(self):
        if not self._enabled:
            return 1.0
        return float(self._init_scale) if self._scale is None else float(self._scale.item())

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(float(state_dict["scale"]))
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker = state_dict["_growth_tracker"]

    def __getstate__(self):
        state = self.__dict__.copy()
        if self._enabled:
            state["_per_optimizer_states"] = {}
        return state


def _check_scaled(scaler, fn):
    if scaler._scale is None:
        raise AssertionError(f"Attempted {fn} but _scale is None.  This may indicate your script did not use "
                             "scaler.scale(loss or outputs) earlier in the iteration.")


def _f32():
    from ..dtypes import float32
    return float32
