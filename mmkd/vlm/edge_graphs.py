"""Edge-export graphs of the CLIP model: its image and its text encoder
(:mod:`mmkd.engine.graph_export`)."""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.engine.graph_export import ExportGraph, example_generator
from mmkd.registry import EXPORTERS

CAPTIONS = ('a red cube on the left', 'two blue spheres', 'a green cone above a yellow torus',
            'an empty scene', 'a small purple cylinder next to a large box')


class CLIPImageEncoder(nn.Module):
    """``image [B, 3, H, W] in [0, 1] -> image_embeds [B, D]`` (normalised with the model's mean
    and std inside the graph; H, W must be the model's ``image_size``: resizing stays outside)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor:
        return self.model.encode_image(image)


class CLIPTextEncoder(nn.Module):
    """``tokens [B, context_length] int64 -> text_embeds [B, D]`` (tokenizing stays outside)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> Tensor:
        return F.normalize(self.model.clip.encode_text(tokens), dim=-1)


@EXPORTERS.register_module(name='OpenCLIPModel')
def clip_graphs(model: nn.Module) -> List[ExportGraph]:
    def image(batch_size: int, seed: int) -> Tuple[Tensor]:
        return torch.rand(batch_size, 3, *model.image_size, generator=example_generator(seed)),

    def tokens(batch_size: int, seed: int) -> Tuple[Tensor]:
        picks = torch.randint(len(CAPTIONS), (batch_size,), generator=example_generator(seed))
        return model.tokenize([CAPTIONS[i] for i in picks]),

    return [ExportGraph('image_encoder', CLIPImageEncoder(model), image, ['image'],
                        ['image_embeds']),
            ExportGraph('text_encoder', CLIPTextEncoder(model), tokens, ['tokens'],
                        ['text_embeds'])]
