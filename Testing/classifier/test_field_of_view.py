"""The classifier's physical field of view: a central square in mm, mapped back exactly onto the CT grid."""

import numpy as np

from IExplainLib import Volume
from IExplainLib.classifier import ClassifierSpec, prepare_study
from IExplainLib.classifier.windows import field_of_view_box
from IExplainLib.explain.params import ExplainParams
from IExplainLib.explain.study import StudyExplanation, to_ct_grid
from IExplainLib.transforms import FieldOfView


def test_box_is_the_central_square_of_the_given_side_in_mm():
    spec = ClassifierSpec(input_size=32, field_of_view_mm=112.0)
    assert field_of_view_box((5, 256, 256), (1.4, 1.4, 2.0), spec) == (88, 168, 88, 168)  # 80 px = 112 mm
    assert field_of_view_box((5, 64, 64), (1.4, 1.4, 2.0), spec) == (0, 64, 0, 64)  # smaller slice: all of it
    assert field_of_view_box((5, 256, 256), (1.4, 1.4, 2.0), ClassifierSpec()) == (0, 256, 0, 256)


def test_only_the_central_square_reaches_the_classifier():
    hu = np.full((3, 256, 256), -1000, np.int16)
    hu[:, 88:168, 88:168] = 300  # bright exactly inside the field of view
    spec = ClassifierSpec(input_size=40, field_of_view_mm=112.0, hu_windows=[(100.0, 700.0)])
    stack = prepare_study(Volume(hu, (1.4, 1.4, 2.0)), spec)
    assert stack.shape == (3, 1, 40, 40)
    assert float(stack.min()) == float(stack.max()) > 0.7  # no dark pixel from outside the box came in


def test_heat_and_segments_return_to_their_place_on_the_ct_grid():
    depth, size = 4, 20
    heat = np.zeros((depth, size, size), np.float32)
    heat[:, 5:10, 5:10] = 1.0
    votes = {1: (heat > 0).astype(np.float32)}
    explanation = StudyExplanation(heat, votes, np.zeros(depth), np.zeros(depth, dtype=np.int32))
    view = FieldOfView((100, 120), (30, 70, 50, 90), size)  # 40 x 40 pixels of a 100 x 120 slice
    result = to_ct_grid(explanation, (depth, 100, 120), ExplainParams(filter=False), view)
    ys, xs = np.nonzero(result.labelmap[0])
    assert 30 + 9 <= ys.min() and ys.max() <= 30 + 21 and 50 + 9 <= xs.min() and xs.max() <= 50 + 21
    assert result.heat[:, :30].max() == 0 and result.heat[:, :, 90:].max() == 0
