"""Image classification: the digits and Fashion-MNIST datasets, CNN and ResNet classifiers."""
from .datasets import DigitsDataset
from .fashion_mnist import FashionMNIST
from .metrics import Accuracy
from .models import ConvClassifier, ResNetClassifier

__all__ = ['Accuracy', 'ConvClassifier', 'DigitsDataset', 'FashionMNIST', 'ResNetClassifier']
