"""Registers facepart's own formats (one place; each format's code lives in its own module)."""

from __future__ import annotations

from . import blender, flame_pkl, indexfiles, meshes, npz, preview, tddfa, triangles, uvmask
from .registry import register

MESH_OPTIONS = ("split", "tri_rule")

register("json", indexfiles.write_json, indexfiles.read_json, (".json",),
         "part -> sorted vertex ids with the topology fingerprint and part table (anyone)",
         options=(), detect=indexfiles.is_facepart_json, default_name="parts.facepart.json")
register("parts", indexfiles.write_parts, indexfiles.read_parts, (".json",),
         "parts.json: part -> sorted vertex ids, nothing else (what annotate writes, --truth reads)",
         options=(), detect=indexfiles.is_plain_parts, default_name="parts.json", reader_needs_topology=True)
register("csv", indexfiles.write_csv, indexfiles.read_csv, (".csv",),
         "rows of vertex,part (spreadsheets, R, pandas)", options=(), detect=indexfiles.is_facepart_csv,
         default_name="parts.csv", reader_needs_topology=True)
register("npz", npz.write_npz, npz.read_npz, (".npz",),
         "facepart's canonical annotation.npz (labels, votes, confidence, part table, fingerprint)",
         options=(), detect=npz.is_npz, default_name="annotation.npz")
register("3ddfa", tddfa.write_3ddfa, tddfa.read_3ddfa, (".npy",),
         "3DDFA-V3 annotation / annotation_tri lists, a small .npy or a copy of face_model.npy (--into)",
         options=("tri_rule", "into"), needs_model=True, detect=tddfa.is_3ddfa, default_name="annotation_3ddfa.npy")
register("flame-pkl", flame_pkl.write_flame_pkl, flame_pkl.read_flame_pkl, (".pkl", ".pickle"),
         "FLAME_masks.pkl layout: pickled dict name -> int64 vertex ids (plain pickle.load)",
         options=(), default_name="parts_masks.pkl", reader_needs_topology=True)
register("meshcapade", indexfiles.write_meshcapade, indexfiles.read_meshcapade, (".json",),
         "Meshcapade SMPL/SMPL-X segmentation JSON: camelCase part -> vertex ids (body-model tools)",
         options=(), detect=indexfiles.is_meshcapade, default_name="parts_vert_segmentation.json",
         reader_needs_topology=True)
register("tri", triangles.write_tri, triangles.read_tri, (".npz", ".npy"),
         "per-triangle labels under --tri-rule all|any|majority (.npz; .npy = SMIRK's dict layout)",
         options=("tri_rule",), needs_model=True, detect=triangles.is_tri, default_name="triangle_parts.npz",
         reader_needs_topology=True)
register("ply", meshes.write_ply, meshes.read_ply, (".ply",),
         "mesh coloured by part, with a 'part' vertex property (MeshLab); --split: a folder, one file per part",
         options=MESH_OPTIONS, needs_model=True, detect=meshes.is_ply, default_name="parts.ply")
register("obj", meshes.write_obj, meshes.read_obj_parts, (".obj",),
         "mesh with per-vertex colours (v x y z r g b; Blender, MeshLab); --split: one object per part",
         options=MESH_OPTIONS, needs_model=True, default_name="parts.obj")
register("glb", meshes.write_glb, meshes.read_glb, (".glb",),
         "binary glTF with vertex colours (three.js, Blender); --split: one node per part",
         options=MESH_OPTIONS, needs_model=True, default_name="parts.glb")
register("blender", blender.write_blender, blender.read_blender, (".py",),
         "a Python script that makes one vertex group per part on the imported mesh (Blender)",
         options=(), detect=blender.is_blender, default_name="parts_blender.py")
register("uvmask", uvmask.write_uvmask, uvmask.read_uvmask, ("",),
         "a folder of <part>.png masks in the model's UV space (DECA-style texture losses)",
         options=("size",), needs_model=True, detect=uvmask.is_uvmask, default_name="uvmask",
         reader_needs_topology=True)
register("preview", preview.write_preview, None, (".png",),
         "preview.png: the labelled mean shape from three sides with a legend",
         options=("size", "renderer"), needs_model=True, default_name="preview.png")
