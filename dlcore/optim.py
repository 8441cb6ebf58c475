"""Optimisers. ``step()`` updates every parameter IN PLACE from its gradient (the arrays keep their
identity, so the model, and any view of its parameters, sees the new values).

The update equations are exactly those of ``torch.optim.SGD``, ``torch.optim.Adam`` and
``torch.optim.AdamW``. ``lr`` is a plain attribute: a schedule may change it between steps.
``no_decay`` names parameters that get no weight decay, by the last part of their name
(``no_decay=("b", "gamma", "beta")`` spares "0.b", "2.f.1.gamma", ...), as PyTorch's parameter groups do.
"""

import math

import numpy as np

from .checks import finite_number


class Optimizer:
    """Base class. ``model`` is anything with ``.params`` and ``.grads`` dicts (a Sequential or a Layer)."""

    def __init__(self, model, lr: float, no_decay: tuple[str, ...] = ()):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        finite_number(lr, "learning rate", low=0, low_open=True)  # NaN and inf too
        if not getattr(model, "params", None):
            raise ValueError(f"{type(self).__name__}: the model has no parameters to optimise ({model!r})")
        if isinstance(no_decay, str):
            raise TypeError(f"no_decay must be a tuple of names, e.g. ({no_decay!r},), not a string")
        self.model, self.lr, self.no_decay = model, lr, tuple(no_decay)
        self.state: dict[str, object] = {}  # per-parameter buffers, by parameter name

    def _decays(self, name: str) -> bool:
        """Whether parameter ``name`` gets weight decay: not when its last part is in ``no_decay``."""
        return name.rsplit(".", 1)[-1] not in self.no_decay

    def _params_and_grads(self):
        params, grads = self.model.params, self.model.grads
        for name, p in params.items():
            if name not in grads:
                raise RuntimeError(f"parameter {name!r} has no gradient: call backward() before step()")
            yield name, p, grads[name]

    def zero_grad(self) -> None:
        """Set every gradient to 0 (our ``backward`` overwrites gradients, so this is only needed if you
        want a clean slate; it mirrors PyTorch's loop)."""
        for g in self.model.grads.values():
            g.fill(0)

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and L2 weight decay:

        g = grad + weight_decay * p
        b = momentum * b + g          (b starts as g)
        p -= lr * b
    """

    def __init__(self, model, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 no_decay: tuple[str, ...] = ()):
        super().__init__(model, lr, no_decay)
        finite_number(momentum, "SGD momentum", low=0, high=1, high_open=True)
        finite_number(weight_decay, "SGD weight_decay", low=0)
        self.momentum, self.weight_decay = momentum, weight_decay

    def step(self) -> None:
        for name, p, g in self._params_and_grads():
            if self.weight_decay and self._decays(name):
                g = g + self.weight_decay * p
            if self.momentum:
                b = self.state.get(name)
                if b is None:
                    b = self.state[name] = g.copy()
                else:
                    b *= self.momentum
                    b += g
                g = b
            p -= self.lr * g

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


class Adam(Optimizer):
    """Adam (Kingma & Ba), with bias correction, at step t = 1, 2, ...:

        m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``weight_decay`` adds weight_decay * p to g first (L2, coupled to the adaptive scaling; see AdamW).
    """

    decoupled = False  # AdamW: decay p directly instead of adding to g

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, no_decay: tuple[str, ...] = ()):
        super().__init__(model, lr, no_decay)
        if len(betas) != 2:
            raise ValueError(f"Adam betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            finite_number(beta, f"Adam betas[{i}]", low=0, high=1, high_open=True)
        finite_number(eps, "Adam eps", low=0)
        finite_number(weight_decay, "Adam weight_decay", low=0)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        sqrt_bc2 = math.sqrt(1 - b2**self.t)
        for name, p, g in self._params_and_grads():
            if self.weight_decay and self._decays(name):
                if self.decoupled:
                    p *= 1 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p
            if name not in self.state:
                self.state[name] = (np.zeros_like(p), np.zeros_like(p))
            m, v = self.state[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= step_size * m / (np.sqrt(v) / sqrt_bc2 + self.eps)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps})"


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``: each step first

        p *= 1 - lr * weight_decay

    then takes the Adam step with the plain gradient, so the decay is not rescaled by 1/sqrt(v).
    """

    decoupled = True

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, no_decay: tuple[str, ...] = ()):
        super().__init__(model, lr, betas, eps, weight_decay, no_decay)

    def __repr__(self) -> str:
        return f"AdamW(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})"
