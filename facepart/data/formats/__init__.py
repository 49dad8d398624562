"""Loaders of the published face-model file layouts.

One module per family, each returning a :class:`~facepart.data.face_model.FaceModel`
in facepart's frame (+x the subject's left, +y up, +z toward the viewer,
metres, 0-based indices, outward winding):

* :mod:`.bfm2009`   Basel Face Model 2009 ``01_MorphableModel.mat`` (+ ``Exp_Pca.bin``)
* :mod:`.deep3d`    Deep3D ``BFM_model_front.mat``, ascust ``BFM09_model_info.mat``,
  3DDFA-V3 ``face_model.npy``
* :mod:`.tddfa_v2`  3DDFA_V2 ``bfm_noneck_v3.pkl`` (+ ``tri.pkl``)
* :mod:`.bfm2017`   BFM 2017 / 2019 statismo HDF5
* :mod:`.faceverse` FaceVerse v0-v3 ``.npy``
* :mod:`.flame`     FLAME 2020 / 2023 ``generic_model.pkl`` (+ ``FLAME_masks.pkl``)

Pickled files (``.pkl``, object ``.npy``) are read only through
:mod:`.safe_pickle`, which never runs code from a file.

What the loaders share, one job per module:

* :mod:`.containers`   reading files (.mat, companions) with one-line errors
* :mod:`.arrays`       checks of the arrays a file holds (numeric, whole, in range, shaped)
* :mod:`.frame`        units, frame (checked with 68 landmarks) and outward winding
* :mod:`.builder`      :func:`~.builder.make_model`, the last step of every loader
* :mod:`.pickle_cache` a pickled file unpickled once for detection and loading
* :mod:`.region_files` stand-alone region files (``FLAME_masks.pkl``)
"""
