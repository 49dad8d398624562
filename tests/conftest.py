"""Shared fixtures: the demo head, the real ICT model, a renderer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DEFAULT_ICT = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "ict-facekit" / "FaceXModel"


@pytest.fixture(scope="session")
def ict_path() -> Path:
    """The real ICT-FaceKit folder. $FACEPART_ICT_MODEL set but missing is a failure, not a skip."""
    env = os.environ.get("FACEPART_ICT_MODEL")
    if env:
        path = Path(env)
        if not (path / "generic_neutral_mesh.obj").is_file():
            pytest.fail(f"FACEPART_ICT_MODEL={env} does not hold the ICT model (generic_neutral_mesh.obj)")
        return path
    if (DEFAULT_ICT / "generic_neutral_mesh.obj").is_file():
        return DEFAULT_ICT
    pytest.skip("ICT model not found; set FACEPART_ICT_MODEL")


@pytest.fixture(scope="session")
def ict_model(ict_path):
    from facepart.data import load_model

    return load_model(ict_path)


@pytest.fixture(scope="session")
def demo_model():
    from facepart.data.demo_head import demo_head

    return demo_head()


@pytest.fixture(scope="session")
def demo_truth():
    from facepart.data.demo_head import demo_truth

    return demo_truth()


@pytest.fixture(scope="session")
def renderer256():
    from facepart.renderers.pyrender_backend import PyrenderRenderer

    r = PyrenderRenderer(256, 256)
    yield r
    r.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
