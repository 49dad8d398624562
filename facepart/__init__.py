"""facepart: which vertices of a 3D face model are the eyes, brows, lips, nose and skin.

Data flow (each arrow a plain function over plain data)::

    model file --load--> FaceModel --sample--> Variant
        --render--> Fragments --segment--> part map (H, W)
        --vote--> per-view votes --consensus--> vote table (V, P) --assign--> Annotation

The public API, in the spirit of ``smplx.create``::

    import facepart
    model = facepart.load_model("demo")                       # or a model file / folder
    seg = facepart.make_segmenter("mediapipe", model=model)   # or "oracle", "bisenet:PATH", ...
    settings = facepart.AnnotateSettings(variants=50, sampling=facepart.sampling_for(seg))  # the parser's yaw
    result = facepart.annotate_model(model, seg, settings, out="out/demo")
    facepart.export_as(result.annotation, "flame-pkl", "out/demo/masks.pkl")

Names are imported on first use, so ``import facepart`` stays cheap. No public name is also the name
of a subpackage (``annotate``, ``export``): importing the subpackage would replace the attribute.
"""

__version__ = "0.1.0"

#: public name -> module that defines it (``module:name`` where the name there differs)
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
    "sampling_for": "facepart.annotate.settings",
    "compute_annotation": "facepart.annotate.pipeline:annotate",
    "annotate_model": "facepart.workflow",
    "merge_shards": "facepart.workflow",
    "export_as": "facepart.export.registry:export",
    "read_annotation": "facepart.export",
    "FacepartError": "facepart.errors",
    "stop_on_sigterm": "facepart.interrupts",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, _, attribute = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'facepart' has no attribute '{name}'")


def __dir__():
    return __all__
