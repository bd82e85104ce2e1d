"""wgtorch.nn: modules, parameters, initialisers, utilities and functional."""
from . import functional, init, utils  # noqa: F401  (wgtorch.nn.functional, .init, .utils)
from .modules import *  # noqa: F401,F403
from .parameter import Parameter  # noqa: F401
