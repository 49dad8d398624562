"""Lighting of a render: one directional light plus ambient."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Light(NamedTuple):
    direction: np.ndarray  # (3,) unit vector the light travels along, world frame
    intensity: float = 3.0
    ambient: float = 0.35
