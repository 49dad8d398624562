"""facepart: which vertices of a 3D face model are the eyes, brows, lips, nose and skin.

Data flow (each arrow a plain function over plain data)::

    model file --load--> FaceModel --sample--> Variant
        --render--> Fragments --segment--> part map (H, W)
        --vote--> VoteTable (V, P) --assign--> Annotation

Public entry points: :func:`facepart.data.load_model`,
:func:`facepart.annotate.pipeline.annotate`, :func:`facepart.data.annotation.load_annotation`.
"""

__version__ = "0.1.0"
