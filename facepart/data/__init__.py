"""Face models, their loaders, part tables, topology fingerprints and the annotation file."""

from .face_model import FaceModel
from .loaders import FORMATS, ModelFormat, load_model, register
from .parts import PAPER_PARTS, PartTable
from .topology import Fingerprint

__all__ = ["FaceModel", "FORMATS", "ModelFormat", "load_model", "register", "PAPER_PARTS", "PartTable", "Fingerprint"]
