"""Hard-negative mining: the place of strongest PE evidence is found, and negative patches are centred there."""

import numpy as np
import pytest
import torch

from IExplainLib.classifier import ClassifierSpec, train_classifier
from IExplainLib.classifier.data import SliceDataset, prepare_all
from IExplainLib.classifier.hard_negatives import evidence_location, mine_hard_negatives
from IExplainLib.errors import InputError
from IExplainLib.modelfile import read_card


class DarkSpotNet(torch.nn.Module):
    """A tiny max-pooled classifier with timm's interface whose evidence is darkness: (1 - x) on an 8x8 grid."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, -1.0]]))  # channel 1 counts against: no share
            self.head.bias.zero_()

    def forward_features(self, x):
        dark = torch.nn.functional.avg_pool2d(1 - x.mean(dim=1, keepdim=True), 4)
        return torch.cat([dark, dark], dim=1)

    def get_classifier(self):
        return self.head


def test_evidence_location_is_the_cell_holding_the_largest_positive_share():
    inputs = torch.ones(2, 7, 32, 32)
    inputs[0, :, 20:24, 4:8] = 0.0    # a dark spot in the cell (5, 1) of a 4-pixel grid
    inputs[1, :, 0:4, 28:32] = 0.2    # the cell (0, 7)
    assert evidence_location(DarkSpotNet(), inputs).tolist() == [[22, 6], [2, 30]]


def test_mined_locations_centre_half_of_the_negative_patches(tmp_path, make_tube_study):
    spec = ClassifierSpec(input_size=32)
    volume, labels = make_tube_study(3, slices=12, size=32, clot_slices=None)
    array = np.full(volume.shape, 450, np.int16)  # the top of the window: no darkness anywhere...
    array[:, 24:28, 2:6] = -1000  # ...but here, where DarkSpotNet sees "PE" on every slice
    from IExplainLib.classifier import StudySource

    source = StudySource("neg", load=lambda: volume.with_array(array), slice_labels=labels)
    studies = prepare_all([source], spec, tmp_path)
    mined = mine_hard_negatives(DarkSpotNet(), studies, spec)
    assert mined == [{z: (26, 2) for z in range(12)}]
    dataset = SliceDataset(studies, spec, crop=16)
    whole, _ = SliceDataset(studies, spec)[4]

    def patches_on_the_spot(draws: int = 60) -> int:
        torch.manual_seed(0)
        count = 0
        for _ in range(draws):
            patch, _ = dataset[4]
            hits = [(y, x) for y in range(17) for x in range(17) if torch.equal(whole[:, y:y + 16, x:x + 16], patch)]
            count += any(y <= 24 and 28 <= y + 16 and x <= 2 and 6 <= x + 16 for y, x in hits)  # holds it whole
        return count

    by_chance = patches_on_the_spot()
    dataset.set_hard_negatives(mined)
    assert patches_on_the_spot() >= by_chance + 15  # about half of the draws are now centred there
    with pytest.raises(ValueError, match="one hard-negative map per training study"):
        dataset.set_hard_negatives([])


def test_training_with_hard_negatives_records_it_and_needs_patches(tube_dataset, tmp_path, tiny_spec):
    fast = dict(epochs=2, batch_size=8, lr=3e-3, warmup=2, device="cpu", samples_per_epoch=32, seed=1)
    out = tmp_path / "clf.safetensors"
    train_classifier(tube_dataset, out, tiny_spec, crop=16, hard_negatives=True, **fast)
    assert read_card(out)["training"]["hard_negatives"] is True
    with pytest.raises(InputError, match="patch training"):
        train_classifier(tube_dataset, tmp_path / "other.safetensors", tiny_spec, hard_negatives=True, **fast)


def test_evidence_centres_every_positive_patch_where_the_network_sees_the_clot_not_on_the_truth(tmp_path,
                                                                                                make_tube_study):
    from IExplainLib.classifier import StudySource
    from IExplainLib.classifier.hard_negatives import mine_evidence
    from IExplainLib.volume import Volume

    spec = ClassifierSpec(input_size=32)
    volume, labels = make_tube_study(3, slices=12, size=32, clot_slices=None)
    labels[4:8] = 1
    array = np.full(volume.shape, 450, np.int16)
    array[:, 24:28, 2:6] = -1000  # where DarkSpotNet sees "PE"
    truth = np.zeros(volume.shape, np.uint8)
    truth[4:8, 2:6, 24:28] = 1  # a voxel label elsewhere: the truth-centred patches go there
    source = StudySource("pos", load=lambda: volume.with_array(array), slice_labels=labels,
                         load_label=lambda: Volume(truth, spacing=volume.spacing))
    studies = prepare_all([source], spec, tmp_path)
    mined = mine_evidence(DarkSpotNet(), studies, spec, positive=True)
    assert mined == [{z: (26, 2) for z in range(4, 8)}]  # PE slices only
    dataset = SliceDataset(studies, spec, crop=16)
    whole, _ = SliceDataset(studies, spec)[5]

    def holds(patch, y0, y1, x0, x1) -> bool:
        hits = [(y, x) for y in range(17) for x in range(17) if torch.equal(whole[:, y:y + 16, x:x + 16], patch)]
        return any(y <= y0 and y1 <= y + 16 and x <= x0 and x1 <= x + 16 for y, x in hits)

    torch.manual_seed(0)
    assert all(holds(dataset[5][0], 2, 6, 24, 28) for _ in range(20))  # truth-centred: around the label
    dataset.set_evidence_positives(mined)
    assert all(holds(dataset[5][0], 24, 28, 2, 6) for _ in range(20))  # evidence-centred: every PE patch
    with pytest.raises(ValueError, match="one evidence map per training study"):
        dataset.set_evidence_positives([])


@pytest.mark.parametrize("centres", ["evidence", "image"])  # image: Testing/classifier/test_image_centres.py
def test_training_with_slice_label_centred_positives_records_it_and_needs_patches(tube_dataset, tmp_path, tiny_spec,
                                                                                   centres):
    fast = dict(epochs=2, batch_size=8, lr=3e-3, warmup=2, device="cpu", samples_per_epoch=32, seed=1)
    out = tmp_path / "clf.safetensors"
    train_classifier(tube_dataset, out, tiny_spec, crop=16, positive_centres=centres, **fast)
    assert read_card(out)["training"]["positive_centres"] == centres
    with pytest.raises(InputError, match=f"{centres}-centred positives need patch training"):
        train_classifier(tube_dataset, tmp_path / "other.safetensors", tiny_spec, positive_centres=centres, **fast)
    with pytest.raises(InputError, match="'truth', 'evidence' or 'image'"):
        train_classifier(tube_dataset, tmp_path / "other.safetensors", tiny_spec, crop=16, positive_centres="boxes",
                         **fast)
