"""facepart: which vertices of a 3D face model are the eyes, brows, lips, nose and skin.

Data flow (each arrow a plain function over plain data)::

    model file --load--> FaceModel --sample--> Variant
        --render--> Fragments --segment--> part map (H, W)
        --vote--> per-view votes --consensus--> vote table (V, P) --assign--> Annotation

The public API, in the spirit of ``smplx.create``::

    import facepart
    model = facepart.load_model("demo")                       # or a model file / folder
    seg = facepart.make_segmenter("mediapipe", model=model)   # or "oracle", "bisenet:PATH", ...
    result = facepart.annotate_model(model, seg, facepart.AnnotateSettings(variants=50), out="out/demo")
    facepart.export(result.annotation, "flame-pkl", "out/demo/masks.pkl")

Names are imported on first use, so ``import facepart`` stays cheap.
"""

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "load_model": "facepart.data.loaders",
    "FaceModel": "facepart.data.face_model",
    "PartTable": "facepart.data.parts",
    "Annotation": "facepart.data.annotation",
    "load_annotation": "facepart.data.annotation",
    "make_segmenter": "facepart.segmenters",
    "make_renderer": "facepart.renderers.base",
    "AnnotateSettings": "facepart.annotate.settings",
    "SamplingSettings": "facepart.annotate.variants",
    "annotate": "facepart.annotate.pipeline",
    "annotate_model": "facepart.workflow",
    "merge_shards": "facepart.workflow",
    "export": "facepart.export",
    "read_annotation": "facepart.export",
    "FacepartError": "facepart.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'facepart' has no attribute '{name}'")


def __dir__():
    return __all__
