"""nn.modules: Module, containers and layers (one file per family)."""
from . import activation, container, dropout, flatten, linear, loss, module
from .activation import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403  (the loss modules, written with the losses)
from .module import *  # noqa: F401,F403

__all__ = [n for m in (module, container, linear, activation, dropout, flatten, loss) for n in m.__all__]
