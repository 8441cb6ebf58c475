"""Optimisers. ``step()`` updates every parameter IN PLACE from its gradient (the arrays keep their
identity, so the model, and any view of its parameters, sees the new values).

The update equations are exactly those of ``torch.optim.SGD`` and ``torch.optim.Adam``.
"""

import math

import numpy as np

from .checks import finite_number


class Optimizer:
    """Base class. ``model`` is anything with ``.params`` and ``.grads`` dicts (a Sequential or a Layer)."""

    def __init__(self, model, lr: float):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        finite_number(lr, "learning rate", low=0, low_open=True)  # NaN and inf too
        if not getattr(model, "params", None):
            raise ValueError(f"{type(self).__name__}: the model has no parameters to optimise ({model!r})")
        self.model, self.lr = model, lr
        self.state: dict[str, object] = {}  # per-parameter buffers, by parameter name

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

    def __init__(self, model, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(model, lr)
        finite_number(momentum, "SGD momentum", low=0, high=1, high_open=True)
        finite_number(weight_decay, "SGD weight_decay", low=0)
        self.momentum, self.weight_decay = momentum, weight_decay

    def step(self) -> None:
        for name, p, g in self._params_and_grads():
            if self.weight_decay:
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
    """

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(model, lr)
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
            if self.weight_decay:
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
