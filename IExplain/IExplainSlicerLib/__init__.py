"""Slicer-side parts of the IExplain module, one concern per file.

Pure Python (testable anywhere): ``process`` (background worker, tree cancel), ``progress_tracker``, ``job``,
``commands`` (worker command lines), ``worker`` (which Python, environment, injected runner), ``model_registry``,
``dataset_folder`` (finetuning export layout), ``dependencies`` (requirements checks; installs only inside Slicer).
MRML (testable on the PyPI ``slicer-core`` libraries): ``volumes``, ``segments``, ``heatmap``, ``findings_table``,
``export``, ``detection``, ``finetuning``. Nothing here imports Qt; the widget in ``IExplain.py`` owns the GUI.
"""
