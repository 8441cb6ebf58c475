"""dlcore.torch_text: the PyTorch language models of chapter 9 and their recipe (fit_lm, evaluate_lm,
generate): shapes, causality, the hand-written attention path equal to the fused one, a model that learns
a periodic text, determinism, clear errors."""

import math

import numpy as np
import pytest

from dlcore import torch_text

torch = pytest.importorskip("torch")

PERIODIC = np.tile(np.arange(5), 400)  # 0 1 2 3 4 0 1 2 ...: perfectly predictable after one token


def small_transformer(V=7, context=16, seed=0):
    torch.manual_seed(seed)
    return torch_text.transformer_lm(V, context=context, d=16, n_layers=2, n_heads=2)


def test_transformer_shapes_tying_and_causality():
    model = small_transformer().eval()
    ids = torch.randint(0, 7, (3, 10), generator=torch.Generator().manual_seed(0))
    logits = model(ids)
    assert logits.shape == (3, 10, 7)
    assert model.head.weight is model.tok.weight  # weight tying
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 7
    with torch.no_grad():
        after = model(changed)
    torch.testing.assert_close(after[:, :6], logits[:, :6].detach(), rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, 6:], logits[:, 6:].detach())


def test_kept_attention_is_the_fused_attention():
    """keep_attention computes softmax(q k^T / sqrt(d)) by hand: same logits as F.scaled_dot_product_attention,
    and its weights are causal rows that sum to one."""
    model = small_transformer().eval()
    ids = torch.randint(0, 7, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fused = model(ids)
        model.keep_attention = True
        by_hand = model(ids)
    torch.testing.assert_close(by_hand, fused, rtol=1e-5, atol=1e-5)
    for block in model.blocks:
        A = block.attention
        assert A.shape == (2, 2, 9, 9)
        torch.testing.assert_close(A.sum(-1), torch.ones(2, 2, 9))
        assert torch.all(A.triu(1) == 0)


def test_transformer_errors():
    with pytest.raises(ValueError, match="d=10 must be divisible by n_heads=4"):
        torch_text.transformer_lm(7, d=10, n_heads=4)
    with pytest.raises(ValueError, match="longer than its context 16"):
        small_transformer()(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="vocab_size"):
        torch_text.transformer_lm(0)


def test_gru_shapes_and_causality():
    torch.manual_seed(0)
    model = torch_text.gru_lm(7, d_embed=4, hidden=8).eval()
    ids = torch.randint(0, 7, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(ids)
        changed = ids.clone()
        changed[:, 8] = (changed[:, 8] + 1) % 7
        after = model(changed)
    assert logits.shape == (2, 12, 7)
    torch.testing.assert_close(after[:, :8], logits[:, :8])


def test_evaluate_lm_is_the_mean_cross_entropy_of_its_blocks():
    model = small_transformer().eval()
    ids = np.random.default_rng(0).integers(0, 7, 100)
    block = 16
    n = 99 // block
    X = torch.tensor(ids[:n * block]).view(n, block)
    Y = torch.tensor(ids[1:n * block + 1]).view(n, block)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(X).flatten(0, 1), Y.flatten()).item()
    assert torch_text.evaluate_lm(model, ids, block=block, batch_size=2) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="fewer than one block"):
        torch_text.evaluate_lm(model, ids[:10], block=16)
    with pytest.raises(ValueError, match="1-D"):
        torch_text.evaluate_lm(model, ids.reshape(10, 10), block=4)


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_fit_lm_learns_a_periodic_text_and_is_deterministic(kind):
    def run():
        torch.manual_seed(0)
        model = (torch_text.transformer_lm(5, context=16, d=16, n_layers=1, n_heads=2) if kind == "transformer"
                 else torch_text.gru_lm(5, d_embed=8, hidden=16))
        hist = torch_text.fit_lm(model, PERIODIC, PERIODIC[:200], steps=60, batch_size=8, context=16,
                                 max_lr=1e-2, warmup=5, eval_every=30, log=None)
        return model, hist

    model, hist = run()
    assert hist["steps"] == 60 and len(hist["loss"]) == 60 and hist["val_step"] == [30, 60]
    assert hist["val_loss"][-1] < 0.3 * math.log(5)  # far below guessing
    assert not model.training
    _, again = run()
    assert again["loss"] == hist["loss"]
    assert torch_text.generate(model, [0, 1], 8, temperature=0) == [2, 3, 4, 0, 1, 2, 3, 4]


def test_fit_lm_errors():
    model = small_transformer()
    with pytest.raises(ValueError, match="too few"):
        torch_text.fit_lm(model, np.arange(10) % 7, None, steps=1, context=16, log=None)
    with pytest.raises(ValueError, match="steps"):
        torch_text.fit_lm(model, PERIODIC, None, steps=0, context=16, log=None)


def test_generate_seeds_temperature_and_errors():
    model = small_transformer(context=8)
    a = torch_text.generate(model, [1, 2, 3], 20, temperature=1.0, seed=3)
    assert a == torch_text.generate(model, [1, 2, 3], 20, temperature=1.0, seed=3)
    assert len(a) == 20 and all(0 <= i < 7 for i in a)
    greedy = torch_text.generate(model, [1, 2, 3], 5, temperature=0)
    with torch.no_grad():
        first = int(model(torch.tensor([[1, 2, 3]]))[0, -1].argmax())
    assert greedy[0] == first
    with pytest.raises(ValueError, match="temperature"):
        torch_text.generate(model, [1], 3, temperature=-1)
    with pytest.raises(ValueError, match="at least one token"):
        torch_text.generate(model, [], 3)
