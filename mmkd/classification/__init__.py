"""Image classification on small images: the embedded digits experiment of the core."""
from .datasets import DigitsDataset
from .metrics import Accuracy
from .models import ConvClassifier

__all__ = ['Accuracy', 'ConvClassifier', 'DigitsDataset']
