"""Vision-language (CLIP-style) distillation: open_clip adapter, datasets, losses, metrics."""
from . import edge_graphs  # noqa: F401  (registers the edge-export graphs)
from . import losses  # noqa: F401
from .datasets import CsvImageText, ImageFolderCaptions, SyntheticCaptionedScenes
from .fashion_mnist_captions import FashionMNISTCaptions
from .metrics import RetrievalRecall, ZeroShotAccuracy
from .models import OpenCLIPModel

__all__ = ['CsvImageText', 'FashionMNISTCaptions', 'ImageFolderCaptions',
           'SyntheticCaptionedScenes', 'RetrievalRecall', 'ZeroShotAccuracy', 'OpenCLIPModel']
