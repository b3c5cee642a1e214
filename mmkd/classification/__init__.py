"""Image classification: the digits and Fashion-MNIST datasets, CNN and ResNet classifiers."""
from . import edge_graphs  # noqa: F401  (registers the edge-export graph)
from .datasets import DigitsDataset
from .fashion_mnist import FashionMNIST
from .metrics import Accuracy
from .models import ConvClassifier, ResNetClassifier

__all__ = ['Accuracy', 'ConvClassifier', 'DigitsDataset', 'FashionMNIST', 'ResNetClassifier']
