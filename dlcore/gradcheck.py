"""Gradient checking: compare backprop's gradients with centred finite differences.

    errors = gradcheck(Dense(3, 2), x)                    # a layer, scalar = sum(layer(x) * dy)
    errors = gradcheck(model, X, SoftmaxCrossEntropy(), y)  # a model and a loss
    print(report(errors))

Everything runs in float64: with eps = 1e-6 a correct backward gives relative errors ~1e-9 or less.
"""

from collections.abc import Callable

import numpy as np


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| / max(|a| + |b|) over the whole tensor: 0 when equal, ~1 when unrelated."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = np.max(np.abs(a) + np.abs(b), initial=0.0)
    return 0.0 if denom == 0 else float(np.max(np.abs(a - b)) / denom)


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by centred differences, (f(x + eps) - f(x - eps)) / (2 eps), one entry at a time.

    ``f`` takes no arguments and reads ``x``, which is nudged in place and restored afterwards.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def gradcheck(model, x: np.ndarray, loss_fn=None, y: np.ndarray | None = None, dy: np.ndarray | None = None,
              eps: float = 1e-6, seed: int = 0) -> dict[str, float]:
    """Relative error between backprop and finite differences, for every parameter and the input "x".

    ``model`` is a Layer or a Sequential with float64 parameters. Without ``loss_fn`` the scalar
    checked is sum(model(x) * dy) with a random upstream gradient ``dy`` (seeded); with it, the
    scalar is ``loss_fn(model(x), y)``. Returns e.g. ``{"W": 3e-11, "b": 1e-12, "x": 2e-11}``. Integer
    ``x`` (token ids into an Embedding) are not nudged: there is no "x" entry then.
    """
    for name, p in model.params.items():
        if p.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 parameters; {name!r} is {p.dtype} "
                            "(use model.astype(np.float64))")
    ids = np.asarray(x).dtype.kind in "iu"  # token ids (an Embedding first): no gradient for the input
    x = np.array(x) if ids else np.array(x, dtype=np.float64)  # our own copy: we nudge it in place

    if loss_fn is None:
        out = model.forward(x)
        if dy is None:
            dy = np.random.default_rng(seed).standard_normal(out.shape)
        dy = np.asarray(dy, dtype=np.float64)

        def f() -> float:
            return float(np.sum(model.forward(x) * dy))

        dout = dy
    else:

        def f() -> float:
            return loss_fn(model.forward(x), y)

        f()
        dout = loss_fn.backward()

    # backprop (forward again so every cache belongs to the unperturbed x)
    model.forward(x)
    dx = model.backward(dout)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    numeric = {name: numerical_grad(f, p, eps) for name, p in model.params.items()}
    if not ids:
        analytic["x"] = np.array(dx)
        numeric["x"] = numerical_grad(f, x, eps)
    return {name: rel_error(analytic[name], numeric[name]) for name in numeric}


def report(errors: dict[str, float], tol: float = 1e-7) -> str:
    """A small table of ``gradcheck`` results, one tensor per line, marked ok / FAIL against ``tol``."""
    width = max([len(name) for name in errors] + [6])
    lines = [f"{'tensor':<{width}}  rel. error"]
    for name, err in errors.items():
        lines.append(f"{name:<{width}}  {err:.2e}  {'ok' if err <= tol else 'FAIL'}")
    return "\n".join(lines)
