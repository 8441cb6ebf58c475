"""Chapter 9's PyTorch language models and their training recipe (characters in, next character out).

``import dlcore.torch_text`` does not import torch; every function imports it when called.

* ``transformer_lm()``: a decoder-only transformer (GPT-style, pre-norm) over token ids (N, T) -> logits
  (N, T, V). Attention runs in ``F.scaled_dot_product_attention`` (causal); with ``model.keep_attention =
  True`` it is computed by hand instead and each block keeps its weights in ``block.attention``
  (N, heads, T, T), for plots.
* ``gru_lm()``: a recurrent baseline, embedding -> GRU -> linear.
* ``fit_lm()`` trains either on random windows of a long id sequence (AdamW, linear warm-up, cosine decay,
  gradient clipping, optional bfloat16 autocast); ``evaluate_lm()`` gives nats per token on held-out ids;
  ``generate()`` continues a prompt at a temperature.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .checks import positive_int


def transformer_lm(vocab_size: int, context: int = 128, d: int = 128, n_layers: int = 4, n_heads: int = 4,
                   dropout: float = 0.0):
    """A decoder-only transformer: ids (N, T), T <= context -> logits (N, T, vocab_size).

    x = E[ids] + P[:T]  (token and learned position embeddings, d each), then ``n_layers`` blocks of
    x = x + Attention(LayerNorm(x)), x = x + MLP(LayerNorm(x)) (MLP: d -> 4d -> GELU -> d), a last
    LayerNorm and a linear read-out that shares E's weights (weight tying: logits = x E^T). Weights start
    N(0, 0.02^2) as in GPT-2, the residual projections scaled down by sqrt(2 n_layers). Initial weights
    come from torch's global generator (seed it first).
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    for value, name in ((vocab_size, "vocab_size"), (context, "context"), (d, "d"), (n_layers, "n_layers"),
                        (n_heads, "n_heads")):
        positive_int(value, f"transformer_lm {name}")
    if d % n_heads:
        raise ValueError(f"transformer_lm: d={d} must be divisible by n_heads={n_heads}")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.drop = nn.Dropout(dropout)
            self.attention = None

        def attend(self, x, keep: bool):
            N, T, _ = x.shape
            q, k, v = self.qkv(x).view(N, T, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
            if keep:  # by hand, to keep the weights: softmax(q k^T / sqrt(d_head)), future masked
                S = q @ k.transpose(-2, -1) / math.sqrt(d // n_heads)
                S = S.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), -math.inf)
                A = S.softmax(-1)
                self.attention = A.detach()
                out = A @ v
            else:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                     dropout_p=dropout if self.training else 0.0)
            return self.proj(out.transpose(1, 2).reshape(N, T, d))

        def forward(self, x, keep: bool = False):
            x = x + self.drop(self.attend(self.ln1(x), keep))
            return x + self.drop(self.mlp(self.ln2(x)))

    class TransformerLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.context = context
            self.keep_attention = False
            self.tok, self.pos = nn.Embedding(vocab_size, d), nn.Embedding(context, d)
            self.blocks = nn.ModuleList(Block() for _ in range(n_layers))
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab_size, bias=False)
            self.head.weight = self.tok.weight  # weight tying
            for name, p in self.named_parameters():
                if p.ndim > 1:
                    residual_out = name.endswith(("proj.weight", "mlp.2.weight"))
                    std = 0.02 / math.sqrt(2 * n_layers) if residual_out else 0.02
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, ids):
            T = ids.shape[1]
            if T > self.context:
                raise ValueError(f"transformer_lm: a sequence of {T} tokens is longer than its context "
                                 f"{self.context}")
            x = self.tok(ids) + self.pos.weight[:T]
            for block in self.blocks:
                x = block(x, self.keep_attention)
            return self.head(self.ln(x))

    return TransformerLM()


def gru_lm(vocab_size: int, d_embed: int = 64, hidden: int = 256, n_layers: int = 1):
    """A recurrent language model: ids (N, T) -> logits (N, T, vocab_size), via an embedding, a GRU
    (``n_layers`` layers of ``hidden`` units, each step reading the previous state) and a linear read-out.
    Any T: the state carries the whole past, not a window."""
    from torch import nn

    for value, name in ((vocab_size, "vocab_size"), (d_embed, "d_embed"), (hidden, "hidden"),
                        (n_layers, "n_layers")):
        positive_int(value, f"gru_lm {name}")

    class GRULM(nn.Module):
        def __init__(self):
            super().__init__()
            self.context = None
            self.embed = nn.Embedding(vocab_size, d_embed)
            self.gru = nn.GRU(d_embed, hidden, n_layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab_size)

        def forward(self, ids):
            out, _ = self.gru(self.embed(ids))
            return self.head(out)

    return GRULM()


def _ids_tensor(ids, what: str):
    import torch

    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"{what} must be one long sequence of token ids (1-D), got shape {tuple(ids.shape)}")
    return ids


def evaluate_lm(model, ids, block: int = 128, batch_size: int = 64, device: str = "cpu") -> float:
    """Mean negative log-likelihood in nats per token of ``ids`` (1-D) under ``model``, in eval mode.

    The ids are cut into consecutive blocks of ``block + 1`` tokens overlapping by one (the leftover tail is
    dropped); each block predicts its last ``block`` tokens from the ones before them, within the block.
    """
    import torch
    import torch.nn.functional as F

    ids = _ids_tensor(ids, "evaluate_lm ids")
    n = (len(ids) - 1) // block
    if n < 1:
        raise ValueError(f"evaluate_lm: {len(ids)} ids are fewer than one block of {block + 1}")
    X = ids[: n * block].view(n, block)
    Y = ids[1: n * block + 1].view(n, block)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, batch_size):
            logits = model(X[i:i + batch_size].to(device)).float()
            total += F.cross_entropy(logits.flatten(0, 1), Y[i:i + batch_size].to(device).flatten(),
                                     reduction="sum").item()
    return total / (n * block)


def fit_lm(model, train_ids, val_ids, steps: int, batch_size: int = 64, context: int = 128,
           max_lr: float = 3e-3, weight_decay: float = 0.1, warmup: int = 100, min_lr_ratio: float = 0.1,
           clip: float = 1.0, seed: int = 0, bf16: bool = False, eval_every: int = 0, device: str = "cpu",
           log: Callable[[str], None] | None = print) -> dict:
    """Train a language model for ``steps`` steps on random windows of ``train_ids`` (1-D).

    Each step draws ``batch_size`` windows of ``context + 1`` tokens (inputs: the first ``context``, targets:
    the next token at every position), AdamW (weight decay on matrices only, see
    ``torch_train.param_groups``), learning rate rising linearly over ``warmup`` steps to ``max_lr`` then
    falling along a cosine to ``min_lr_ratio * max_lr``, gradients clipped to norm ``clip``.
    ``bf16``: forward and loss under ``torch.autocast`` in bfloat16. Every ``eval_every`` steps (and at the
    end) the validation loss is measured with ``evaluate_lm``. Returns ``{"step", "loss", "val_step",
    "val_loss", "seconds" (training only), "steps"}``; the model ends in eval mode.
    """
    import torch
    import torch.nn.functional as F

    from .torch_train import param_groups

    positive_int(steps, "fit_lm steps")
    train_ids = _ids_tensor(train_ids, "fit_lm train_ids")
    if len(train_ids) <= context + 1:
        raise ValueError(f"fit_lm: {len(train_ids)} training ids are too few for windows of {context + 1}")
    model.to(device)
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=max_lr, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(context + 1)
    history: dict = {"step": [], "loss": [], "val_step": [], "val_loss": [], "seconds": 0.0, "steps": 0}
    running = None
    for step in range(steps):
        start = time.perf_counter()
        model.train()
        starts = torch.randint(0, len(train_ids) - context - 1, (batch_size,), generator=generator)
        window = train_ids[starts[:, None] + offsets].to(device)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(window[:, :-1])
            loss = F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step + 1}: training diverged")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        scheduler.step()
        history["seconds"] += time.perf_counter() - start
        history["steps"] += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        history["step"].append(step + 1)
        history["loss"].append(loss.item())
        last = step + 1 == steps
        if (eval_every and (step + 1) % eval_every == 0) or last:
            val = math.nan if val_ids is None else evaluate_lm(model, val_ids, block=context, device=device)
            history["val_step"].append(step + 1)
            history["val_loss"].append(val)
            if log is not None:
                log(f"step {step + 1:5d}/{steps}: train loss {running:.3f}, val {val:.3f} nats/token "
                    f"({history['seconds']:.0f} s)")
    model.eval()
    return history


def generate(model, prompt_ids, n: int, temperature: float = 1.0, seed: int = 0,
             device: str = "cpu") -> list[int]:
    """``n`` new token ids after ``prompt_ids`` (a non-empty 1-D sequence), one at a time.

    Each step feeds the last ``model.context`` ids (all of them for a recurrent model), divides the last
    position's logits by ``temperature`` and draws from their softmax (``temperature=0``: the most likely
    token). Deterministic for a given ``seed``.
    """
    import torch

    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    ids = _ids_tensor(prompt_ids, "generate prompt_ids").tolist()
    if not ids:
        raise ValueError("generate needs a prompt of at least one token")
    generator = torch.Generator().manual_seed(seed)
    window = getattr(model, "context", None)
    model.eval()
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([ids[-window:] if window else ids], device=device)
            logits = model(x)[0, -1].float().cpu()
            if temperature == 0:
                nxt = int(logits.argmax())
            else:
                nxt = int(torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator))
            ids.append(nxt)
            out.append(nxt)
    return out
