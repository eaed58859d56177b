"""Stage 1: the 2.5D slice classifier (timm EfficientNetV2, global max pooling) that says which slices show a PE."""

from .augment import Cutout, TrainAugment
from .backbones import available_backbones, build_classifier
from .config import ClassifierTrainConfig
from .data import StudySource, sources_from_dataset, split_studies
from .inference import LoadedClassifier, load_classifier, predict_slices
from .metrics import card_slice_metrics, validation_metrics
from .spec import ClassifierSpec, parse_window
from .train import train_classifier
from .windows import prepare_study, window_indices, windows_for

__all__ = ["ClassifierSpec", "parse_window", "build_classifier", "available_backbones", "prepare_study",
           "windows_for", "window_indices", "predict_slices", "load_classifier", "LoadedClassifier",
           "train_classifier", "ClassifierTrainConfig", "StudySource", "sources_from_dataset", "split_studies", "Cutout", "TrainAugment",
           "card_slice_metrics", "validation_metrics"]
