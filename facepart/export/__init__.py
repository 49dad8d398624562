"""Exports for other projects and imports back: one registry (:mod:`facepart.export.registry`).

Importing this package registers facepart's own formats (:mod:`.builtin`).
"""

from .registry import EXPORTERS, KINDS, Exporter, export, find_importer, get_exporter, register
from . import builtin, landmarks  # noqa: E402,F401  (register the built-in annotation and landmark formats)
from .api import (ExportReport, export_annotation, export_file, export_landmarks, export_region_sets,  # noqa: E402
                  model_for, read_annotation, write_annotation_files)
from .options import ExportOptions  # noqa: E402
from .view import PartView  # noqa: E402

__all__ = ["EXPORTERS", "KINDS", "Exporter", "ExportOptions", "ExportReport", "PartView", "export",
           "export_annotation", "export_file", "export_landmarks", "export_region_sets", "find_importer",
           "get_exporter", "model_for", "read_annotation", "register", "write_annotation_files"]
