from .distill import Distill
from .mutual import MutualLearning

__all__ = ['Distill', 'MutualLearning']
