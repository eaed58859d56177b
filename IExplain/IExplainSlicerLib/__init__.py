"""Slicer-side parts of the IExplain module, one concern per file.

Pure Python (testable anywhere): ``process`` (background worker, tree cancel), ``progress_tracker``, ``job``,
``commands`` (worker command lines from the panel's values), ``worker`` (which Python, environment, injected
runner), ``model_registry``, ``dataset_folder`` (finetuning export layout), ``dependencies`` (requirements checks;
installs only inside Slicer), ``settings`` (what the module remembers, in an injected store).
MRML (testable on the PyPI ``slicer-core`` libraries): ``volumes``, ``segments``, ``heatmap``, ``findings_table``,
``export``, ``detection``, ``finetuning``, ``phantom_check`` (the self-test's checks). Nothing here imports Qt; the
widget in ``IExplain.py`` owns the GUI.
"""
