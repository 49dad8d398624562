"""Label-set tables (exact index orders of formats.md 3) and the mapping onto parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepart.data.parts import IGNORE, PAPER_PARTS, PartTable
from facepart.errors import FacepartError
from facepart.segmenters.labelsets import TABLES, LabelSet, PartMapping, canonical_name, load_label_set


def test_exact_index_orders():
    assert TABLES["helen"].classes == ("background", "skin", "left_eyebrow", "right_eyebrow", "left_eye",
                                       "right_eye", "nose", "upper_lip", "inner_mouth", "lower_lip", "hair")
    assert TABLES["lapa"].canonical == TABLES["helen"].canonical
    assert TABLES["ibugmask14"].classes[11:] == ("left_ear", "right_ear", "glasses")
    official = TABLES["celebamask"].classes
    assert official == ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
                        "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
    bisenet = TABLES["celebamask-bisenet"].classes
    assert bisenet == ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
                       "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
    assert sorted(official) == sorted(bisenet) and official != bisenet
    assert TABLES["farl-lapa"].classes[2:6] == ("rb", "lb", "re", "le")
    assert len(TABLES["farl-celebm"]) == 19 and TABLES["farl-celebm"].classes[4:6] == ("rr", "lr")


def test_canonical_names():
    bis = TABLES["celebamask-bisenet"]
    # CelebAMask-HQ's l_lip is the lower lip, "mouth" the inner mouth, ear_r an earring
    assert bis.canonical[13] == "down_lip" and bis.canonical[12] == "up_lip"
    assert bis.canonical[11] == "inner_mouth" and bis.canonical[9] == "earring"
    assert bis.canonical[7:9] == ("left_ear", "right_ear") and bis.canonical[10] == "nose"
    farl = TABLES["farl-celebm"]
    assert farl.canonical[4:10] == ("right_ear", "left_ear", "right_eyebrow", "left_eyebrow", "right_eye", "left_eye")
    assert farl.canonical[2] == "skin" and farl.canonical[15] == "glasses" and farl.canonical[18] == "necklace"
    assert canonical_name("Left Eyebrow") == "left_eyebrow"
    assert canonical_name("beard") == "beard"


def test_default_mapping_of_every_table_to_the_paper_parts():
    mapping = PartMapping.default()
    for name, table in TABLES.items():
        lut = mapping.lut(table)
        # each of the 8 parts comes from exactly one class in every built-in table
        assert sorted(lut[lut >= 0].tolist()) == list(range(8)), name
        for c, canon in enumerate(table.canonical):
            expected = PAPER_PARTS.index(canon) if canon in PAPER_PARTS else IGNORE
            assert lut[c] == expected, (name, table.classes[c])
    helen = mapping.lut(TABLES["helen"])
    assert helen.tolist() == [-1, 7, 2, 3, 0, 1, 6, 4, -1, 5, -1]
    ignored = mapping.ignored(TABLES["celebamask-bisenet"])
    assert ignored == ["background", "eye_g", "l_ear", "r_ear", "ear_r", "mouth", "neck", "neck_l", "cloth",
                       "hair", "hat"]


def test_part_sets_are_data_ears_neck_inner_mouth():
    parts = PartTable.from_names(PAPER_PARTS + ("left_ear", "right_ear", "neck", "inner_mouth"))
    lut = PartMapping.default(parts).lut(TABLES["celebamask-bisenet"])
    bis = TABLES["celebamask-bisenet"].classes
    assert lut[bis.index("l_ear")] == parts.index("left_ear")
    assert lut[bis.index("neck")] == parts.index("neck")
    assert lut[bis.index("mouth")] == parts.index("inner_mouth")
    # a 11-class table has no ears or neck: those parts simply get no pixels
    helen = PartMapping.default(parts).lut(TABLES["helen"])
    assert parts.index("neck") not in helen and parts.index("inner_mouth") in helen
    # one part from several classes
    merged = PartMapping.default(PartTable.paper(), {"skin": ["skin", "neck"]}).lut(TABLES["celebamask"])
    assert merged[TABLES["celebamask"].classes.index("neck")] == 7
    with pytest.raises(FacepartError, match="lacks"):
        PartMapping.default(PartTable.paper(), {"ears": ["left_ear"]})
    with pytest.raises(FacepartError, match="two parts"):
        PartMapping.default(PartTable.paper(), {"skin": ["skin", "nose"]})


def test_swaps_and_apply():
    mapping = PartMapping.default()
    lut = mapping.lut(TABLES["helen"], swaps=[("left_eye", "right_eye")])
    assert lut[4] == 1 and lut[5] == 0 and lut[2] == 2  # eyes swapped, brows not
    label_map = np.array([[0, 4], [5, 10]])
    assert mapping.apply(label_map, TABLES["helen"]).tolist() == [[-1, 0], [1, -1]]
    with pytest.raises(FacepartError, match="11 classes"):
        mapping.apply(np.array([[11]]), TABLES["helen"])


def test_image_sided_label_set_is_flipped():
    ls = LabelSet.from_names("img", ["bg", "l_eye", "r_eye"], sides="image")
    assert ls.canonical == ("background", "right_eye", "left_eye")


def test_user_table_yaml_and_json(tmp_path):
    y = tmp_path / "mine.yaml"
    y.write_text("name: my-parser\nclasses: [background, face, lb, rb, blob]\ncanonical: {blob: skin}\n")
    ls = load_label_set(str(y))
    assert ls.name == "my-parser" and ls.canonical == ("background", "skin", "left_eyebrow", "right_eyebrow", "skin")
    j = tmp_path / "other.json"
    j.write_text(json.dumps({"classes": {"0": "background", "1": "skin", "2": "beard"}, "sides": "subject"}))
    ls = load_label_set(j)
    assert ls.name == "other" and ls.canonical[2] == "beard"
    # a part table with a user part picks it up
    parts = PartTable.from_names(["skin", "beard"])
    assert PartMapping.default(parts).lut(ls).tolist() == [-1, 0, 1]
    assert load_label_set("BiSeNet") is TABLES["celebamask-bisenet"]


@pytest.mark.parametrize("text, match", [
    ("classes: 3\n", "non-empty list"),
    ("[a, b]\n", "expected a mapping"),
    ("classes: [a, a]\n", "unique"),
    ("classes: [a, b]\nsides: left\n", "sides"),
    ("classes: {0: a, 2: b}\n", "without gaps"),
    ("classes: [a, b]\ncanonical: {c: skin}\n", "does not have"),
    ("classes: [a\n", "not a readable label table"),
])
def test_bad_user_tables_give_one_line(tmp_path, text, match):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(FacepartError, match=match) as err:
        load_label_set(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_unknown_table_name():
    with pytest.raises(FacepartError, match="unknown label table 'nope'"):
        load_label_set("nope")
    with pytest.raises(FacepartError, match="not found"):
        load_label_set("/nonexistent/t.yaml")


def test_class_names_facepart_does_not_know_are_refused(tmp_path):
    p = tmp_path / "labels.yaml"
    p.write_text("classes: [background, skin, brow, brow2, eye, eye2, nose, lips, mouth, lips2, hair]\n")
    ls = load_label_set(p)
    mapping = PartMapping.default()
    assert mapping.unknown_classes(ls) == ["brow", "brow2", "eye", "eye2", "lips", "lips2"]
    with pytest.raises(FacepartError, match="does not know: brow, brow2, eye, eye2, lips, lips2; ") as err:
        mapping.lut(ls)
    msg = str(err.value)
    assert str(p) in msg and "left_eye" in msg and "'canonical'" in msg and "\n" not in msg
    # ... through a segmenter too (any parser: masks, onnx, bisenet share the mapping)
    from facepart.segmenters.parser import ParserSegmenter

    class Fixed:
        name, labels = "fixed", ls

        def parse(self, image):
            return np.zeros(image.shape[:2], np.int16)

    with pytest.raises(FacepartError, match="does not know"):
        ParserSegmenter(Fixed())
    # mapped in the table, they are accepted; a part of the table's own name still picks its class up
    p.write_text("classes: [background, skin, brow, eye, blob]\ncanonical: {brow: left_eyebrow, eye: left_eye, "
                 "blob: background}\n")
    assert mapping.lut(load_label_set(p)).tolist() == [-1, 7, 2, 0, -1]
    beard = LabelSet.from_names("b", ["background", "skin", "beard"])
    assert PartMapping.default(PartTable.from_names(["skin", "beard"])).lut(beard).tolist() == [-1, 0, 1]
    with pytest.raises(FacepartError, match="does not know: beard"):
        mapping.lut(beard)


def test_spelled_out_side_and_lip_names_are_aliases():
    ls = LabelSet.from_names("x", ["background", "skin", "eyebrow_left", "eyebrow_right", "eye_left", "eye_right",
                                   "nose", "lip_upper", "inner_mouth", "lip_lower", "hair", "ear_left", "ear_right"])
    assert ls.canonical[2:6] == ("left_eyebrow", "right_eyebrow", "left_eye", "right_eye")
    assert ls.canonical[7] == "up_lip" and ls.canonical[9] == "down_lip"
    assert ls.canonical[11:] == ("left_ear", "right_ear")
    assert canonical_name("ear_r") == "earring"  # CelebAMask-HQ's earring stays one
    assert PartMapping.default().lut(ls).tolist() == PartMapping.default().lut(TABLES["helen"]).tolist() + [-1, -1]


def test_camel_case_lip_names_are_aliases_and_region_names_stay_free_for_custom_parts():
    assert canonical_name("LowerLip") == "down_lip" and canonical_name("UpperLip") == "up_lip"
    # a name like forehead or beard is not folded into skin or hair: a part table with that part picks it up
    for name in ("forehead", "beard", "tongue"):
        assert canonical_name(name) == name
        ls = LabelSet.from_names("x", ["background", "skin", name])
        assert PartMapping.default(PartTable.from_names(["skin", name])).lut(ls).tolist() == [-1, 0, 1]
