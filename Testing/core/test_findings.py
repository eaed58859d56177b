import numpy as np

from IExplainLib.findings import describe_findings, filter_findings, label_findings


def test_diagonal_voxels_are_one_finding():
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    assert label_findings(mask)[1] == 1


def test_filters_small_and_peripheral_clusters_at_reference_size():
    mask = np.zeros((10, 512, 512), bool)
    mask[2:6, 250:260, 250:260] = True      # 400 voxels at the centre: kept
    mask[2:3, 100:105, 256:260] = True      # 20 voxels: too small
    mask[2:8, 250:260, 480:490] = True      # 600 voxels, 229 px from the centre: too far
    kept = filter_findings(mask)
    labels, count = label_findings(kept)
    assert count == 1 and kept[3, 255, 255]
    finding = describe_findings(labels)[0]
    assert finding.voxels == 400 and finding.slice_range == (2, 5)


def test_thresholds_scale_with_in_plane_size():
    mask = np.zeros((10, 128, 128), bool)
    mask[2:5, 60:63, 60:63] = True  # 27 voxels: above 100 * (128/512)^2 = 6.25
    mask[2:5, 60:63, 122:125] = True  # 59 px from centre: beyond 160 * 0.25 = 40
    kept = filter_findings(mask)
    assert kept[3, 61, 61] and not kept[3, 61, 123]
    assert not filter_findings(mask, reference_size=None).any()  # unscaled: 27 < 100


def test_a_score_shows_the_decimals_that_tell_a_reducers_scores_apart():
    from IExplainLib.findings import score_text

    # the bundled reducer keeps findings from 0.9998 (session 23's from 0.9985): its scores crowd between that and 1
    assert [score_text(s) for s in (0.99851, 0.99937, 0.99981, 1.0, 0.5)] == ["0.9985", "0.9994", "0.9998", "1.0000",
                                                                             "0.5000"]
