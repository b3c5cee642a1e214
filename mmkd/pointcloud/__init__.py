"""Point-cloud neighbour search in plain PyTorch (PyG-compatible ``fps``, ``knn``,
``knn_graph``, ``radius``, ``radius_graph``; no pyg-lib / torch-cluster needed)."""
from .ops import fps, knn, knn_graph, radius, radius_graph

__all__ = ['fps', 'knn', 'knn_graph', 'radius', 'radius_graph']
