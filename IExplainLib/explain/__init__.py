"""Stage 2, iExplain: batched Integrated Gradients (several references, SmoothGrad), hysteresis clustering,
Algorithm 1 (explain, cluster, mask, repeat), sliding-window study assembly and the paper's cluster filters.

Main entry points (imported lazily, so ``import IExplainLib.explain`` does not load torch):
``ExplainParams``, ``IExplainer``, ``pseudo_label_dataset``, ``integrated_gradients``, ``hysteresis``,
``run_algorithm1``, ``explain_windows``, ``explain_stack``, ``to_ct_grid``.
"""

_EXPORTS = {
    "ExplainParams": "params",
    "IExplainer": "explainer",
    "pseudo_label_dataset": "pseudo_label",
    "integrated_gradients": "attribution",
    "make_references": "attribution",
    "hysteresis": "clustering",
    "run_algorithm1": "iterative",
    "explain_windows": "study",
    "explain_stack": "study",
    "to_ct_grid": "study",
    "prepare_for_attribution": "model_prep",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)
