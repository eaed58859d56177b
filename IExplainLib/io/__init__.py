"""Readers and writers: DICOM series, NIfTI/NRRD/MHA, Slicer segmentations, heat maps, DICOM SEG, RSPECT labels
and boxes. Everything returns or takes a :class:`IExplainLib.volume.Volume` (array (z, y, x), LPS geometry)."""

from .boxes import Box, boxes_to_mask, read_boxes_csv, read_boxes_mdai_json
from .ct_check import require_ct_hounsfield
from .dicom_seg import check_dicom_seg_source, export_dicom_seg, write_dicom_seg
from .dicom_seg_read import read_dicom_seg
from .dicom_series import read_dicom_series
from .heatmap import write_heatmap
from .images import read_volume, write_volume
from .rspect import RSPECT_COLUMNS, RspectLabels, read_rspect_labels
from .segmentation import (EMBOLUS_TERMINOLOGY, SegmentInfo, distinct_color, iteration_segments, read_segmentation,
                           write_labelmap, write_segmentation)

__all__ = ["read_volume", "require_ct_hounsfield", "read_dicom_series", "write_volume", "write_segmentation", "read_segmentation",
           "write_heatmap", "write_labelmap", "write_dicom_seg", "read_dicom_seg", "export_dicom_seg",
           "check_dicom_seg_source", "SegmentInfo", "EMBOLUS_TERMINOLOGY", "iteration_segments",
           "distinct_color", "read_rspect_labels", "RspectLabels", "RSPECT_COLUMNS", "Box", "read_boxes_csv",
           "read_boxes_mdai_json", "boxes_to_mask"]
