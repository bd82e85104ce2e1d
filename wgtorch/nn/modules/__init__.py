"""nn.modules: Module, containers and layers (one file per family)."""
from . import (activation, container, conv, distance, dropout, flatten, linear, loss, module, normalization, padding,
               pixelshuffle, rnn, sparse, transformer)
from .activation import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403  (the loss modules, written with the losses)
from .module import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403

__all__ = [n for m in (module, container, linear, activation, dropout, flatten, loss, conv, normalization, sparse, rnn,
                       transformer, padding, pixelshuffle, distance) for n in m.__all__]
