"""Exports for other projects and imports back: one registry (:mod:`facepart.export.registry`)."""

from .registry import EXPORTERS, KINDS, Exporter, export, get_exporter, register

__all__ = ["EXPORTERS", "KINDS", "Exporter", "export", "get_exporter", "register"]
