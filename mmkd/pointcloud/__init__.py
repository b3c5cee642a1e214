"""Point clouds: PyTorch neighbour search with PyG conventions (PyG 2.8's own needs pyg-lib),
PyG-layer classifiers, open3d-backed datasets and transforms."""
from . import edge_graphs  # noqa: F401  (registers the edge-export graph)
from . import losses  # noqa: F401
from . import views  # noqa: F401  (registers PointCloudWithViews)
from .datasets import ModelNetFolder, PointCloudFolder, SyntheticShapes
from .models import DGCNNClassifier, PointNet2Classifier, PointNetClassifier
from .ops import fps, knn, knn_graph, radius, radius_graph
from .transforms import (Compose, Jitter, NormalizeToUnitSphere, RandomPointDropout,
                         RandomRotation, SamplePoints)

__all__ = ['ModelNetFolder', 'PointCloudFolder', 'SyntheticShapes', 'DGCNNClassifier',
           'PointNet2Classifier', 'PointNetClassifier', 'fps', 'knn', 'knn_graph', 'radius',
           'radius_graph', 'Compose', 'Jitter', 'NormalizeToUnitSphere', 'RandomPointDropout',
           'RandomRotation', 'SamplePoints']
