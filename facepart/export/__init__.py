"""Exports for other projects and imports back: one registry (:mod:`facepart.export.registry`)."""

from .registry import EXPORTERS, KINDS, Exporter, export, get_exporter, register
from . import landmarks  # noqa: E402,F401  (registers the landmark formats)

__all__ = ["EXPORTERS", "KINDS", "Exporter", "export", "get_exporter", "register"]
