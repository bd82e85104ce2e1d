"""Whether operations record an autograd graph: no_grad, enable_grad, ...

The flag is a module global that ops read directly (``grad_mode.enabled``)."""
import functools

enabled = True
inference = False


def is_grad_enabled():
    return enabled


def is_inference_mode_enabled():
    return inference


class _Mode:
    """A context manager that is also usable as ``@mode()`` and ``@mode``."""

    def __new__(cls, *args, **kwargs):
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])  # bare decorator: @no_grad
        return super().__new__(cls)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with self.__class__(*self._args):
                return fn(*a, **k)
        return wrapper

    def __enter__(self):
        global enabled, inference
        self._prev = (enabled, inference)
        self._set()

    def __exit__(self, *exc):
        global enabled, inference
        enabled, inference = self._prev
        return False

    def clone(self):
        return self.__class__(*self._args)


class no_grad(_Mode):
    _args = ()

    def _set(self):
        global enabled
        enabled = False


class enable_grad(_Mode):
    _args = ()

    def _set(self):
        global enabled
        enabled = True


class set_grad_enabled(_Mode):
    """Sets the mode at once (usable as a plain call) and restores it on exit."""

    def __init__(self, mode):
        global enabled
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self._args = (mode,)
        self._prev = (enabled, inference)
        enabled = mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        global enabled
        enabled = self._prev[0]  # as a decorator it must not change the mode now
        return super().__call__(fn)

    def _set(self):
        pass


class inference_mode(_Mode):
    def __init__(self, mode=True):
        self._args = (mode,)

    def _set(self):
        global enabled, inference
        if self._args[0]:
            enabled, inference = False, True
