"""Shared fixtures for the dlcore tests. PyTorch is the reference; it is imported only through the
``torch`` fixture, so tests that don't need it run (and dlcore is tested) without it."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch():
    """The torch module (the test is skipped when it is not installed), limited to 2 threads."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
