"""The explainer's own hysteresis clustering (low = h / 2, a small box), as the sweep applies it to heat maps."""

from IExplainLib.explain.clustering import hysteresis


def cluster_with_explainer(heatmap, high_threshold):
    return hysteresis(heatmap, high_threshold, high_threshold * 0.5, (1, 3, 3))
