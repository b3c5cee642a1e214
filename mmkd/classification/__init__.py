"""Image classification: the digits and Fashion-MNIST datasets, CNN and ResNet classifiers, a
pretrained network with a new head."""
from . import edge_graphs  # noqa: F401  (registers the edge-export graph)
from .datasets import DigitsDataset
from .fashion_mnist import FashionMNIST
from .metrics import Accuracy
from .models import ConvClassifier, PretrainedClassifier, ResNetClassifier

__all__ = ['Accuracy', 'ConvClassifier', 'DigitsDataset', 'FashionMNIST', 'PretrainedClassifier',
           'ResNetClassifier']
