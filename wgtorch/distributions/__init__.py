"""wgtorch.distributions: probability distributions with PyTorch's API (sample, rsample, log_prob,
entropy, mean, variance, argument validation). Sampling uses the library's random ops, so on cpu
a seeded run draws what torch draws."""
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "Uniform", "constraints", "kl_divergence",
           "register_kl"]
