"""Captioned depth views of point clouds: image-text pairs for a CLIP teacher of 3D shapes, and
point clouds paired with what that teacher sees, for a ULIP-style point student.

:class:`ShapeViewCaptions` wraps a point-cloud classification dataset (``SyntheticShapes``,
``ModelNetFolder``, ...) and renders one depth view of each item's points with
:func:`mmkd.pointcloud.views.project_depth_views`, captioned from the class name (``'a depth
image of a {class}.'``). Items, by ``inputs``:

* ``'image'`` (train / evaluate the CLIP teacher; the mmkd.vlm contract of
  :class:`mmkd.vlm.models.OpenCLIPModel`)::

      dict(inputs=dict(image=FloatTensor[3, H, W] in [0, 1], text=str),
           data_samples=dict(labels=int, sample_idx=int, view=int))

* ``'points'`` (train / evaluate a point student such as
  :class:`~mmkd.crossmodal.models.ULIPPointEncoder`; a ``Distill`` teacher spec with
  ``inputs='batch.clip_inputs'`` gives the CLIP teacher the rendered view and the caption)::

      dict(inputs=FloatTensor[N, 3],
           data_samples=dict(labels=int, sample_idx=int, view=int,
                             clip_inputs=dict(image=FloatTensor[3, H, W], text=str)))

The view is rendered from the points *after* the wrapped dataset's transforms, so a point student
and its image teacher see the same (augmented) shape. The depth image (near = bright,
background 0) is repeated to 3 channels.
"""
from typing import Dict, Sequence, Union

import torch
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError
from mmkd.pointcloud.views import (point_item, project_depth_views, view_names,
                                   view_rotations)
from mmkd.registry import DATASETS

__all__ = ['ShapeViewCaptions', 'DEPTH_TEMPLATES']

# prompts of both the captions and the zero-shot classifier
DEPTH_TEMPLATES = ('a depth image of a {}.', 'a depth map of a {}.', 'a rendering of a {}.',
                   'a 3d model of a {}.')


@DATASETS.register_module()
class ShapeViewCaptions(Dataset):
    """One captioned depth view per item of a point-cloud classification dataset.

    Args:
        dataset: the wrapped point dataset (config dict or instance); its items are
            ``dict(inputs=[N, 3], data_samples=dict(labels=int, ...))`` and its
            ``metainfo['classes']`` names the classes.
        inputs: ``'image'`` or ``'points'`` (see the module docstring).
        num_views, views, elevation: the view set (:func:`~mmkd.pointcloud.views.view_rotations`)
            one view of which each item shows.
        image_size, radius, extent, min_intensity: rendering
            (:func:`~mmkd.pointcloud.views.project_depth_views`).
        templates: caption templates, ``'{}'`` standing for the class name (``_`` becomes a
            space).
        choice: how an item picks its view and template. ``'random'`` draws both from torch's
            global RNG on every access (training augmentation; reproducible under a seeded run
            as the wrapped dataset's random transforms are); ``'cycle'`` is deterministic:
            item ``i`` shows view ``i % num_views`` with template
            ``(i // num_views) % len(templates)`` (evaluation); an int fixes the view and uses
            the first template.
    """

    def __init__(self, dataset: Union[dict, Dataset], inputs: str = 'image', num_views: int = 6,
                 views: str = 'ring', elevation: float = 30.0, image_size: int = 32,
                 radius: int = 1, extent: float = 1.0, min_intensity: float = 0.2,
                 templates: Sequence[str] = DEPTH_TEMPLATES,
                 choice: Union[str, int] = 'random') -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        if inputs not in ('image', 'points'):
            raise InvalidValueError(f"inputs: expected 'image' or 'points', got {inputs!r}")
        self.inputs = inputs
        self.rotations = view_rotations(num_views, views, elevation).float()
        self.num_views = self.rotations.shape[0]
        if isinstance(choice, bool) or not (choice in ('random', 'cycle') or (
                isinstance(choice, int) and 0 <= choice < self.num_views)):
            raise InvalidValueError(f"choice: expected 'random', 'cycle' or a view index in "
                                    f'[0, {self.num_views}), got {choice!r}')
        self.choice = choice
        self.templates = tuple(templates)
        if not self.templates or not all(isinstance(t, str) and '{}' in t
                                         for t in self.templates):
            raise InvalidValueError(f"templates: expected strings with '{{}}' for the class name, "
                                    "got "
                                    f'{templates!r}')
        classes = (getattr(self.dataset, 'metainfo', None) or {}).get('classes')
        if not classes:
            raise InvalidValueError('ShapeViewCaptions: the wrapped dataset '
                                    f'{type(self.dataset).__name__} has no metainfo["classes"] to '
                                    'caption its items with')
        self.class_names = tuple(str(c).replace('_', ' ') for c in classes)
        self.render_cfg = dict(image_size=image_size, radius=radius, extent=extent,
                               min_intensity=min_intensity)
        project_depth_views(torch.zeros(1, 3), views=self.rotations[:1], **self.render_cfg)
        self.metainfo = dict(self.dataset.metainfo, templates=self.templates,
                             view_names=tuple(view_names(num_views, views, elevation)))

    def __len__(self) -> int:
        return len(self.dataset)

    def _pick(self, index: int):
        if self.choice == 'random':
            view = int(torch.randint(self.num_views, ()))
            template = int(torch.randint(len(self.templates), ()))
        elif self.choice == 'cycle':
            view = index % self.num_views
            template = (index // self.num_views) % len(self.templates)
        else:
            view, template = int(self.choice), 0
        return view, template

    def caption(self, label: int, template: int = 0) -> str:
        """The caption of class ``label`` with template number ``template``."""
        return self.templates[template].format(self.class_names[label])

    def __getitem__(self, index: int) -> Dict:
        points, data_samples = point_item(self.dataset[index], 'ShapeViewCaptions')
        index = index % len(self)
        label = int(data_samples['labels'])
        view, template = self._pick(index)
        with torch.no_grad():
            image = project_depth_views(points.float()[:, :3], views=self.rotations[view:view + 1],
                                        **self.render_cfg)[0, 0]  # [1, H, W]
        clip_inputs = dict(image=image.expand(3, -1, -1).contiguous(),
                           text=self.caption(label, template))
        data_samples['view'] = view
        if self.inputs == 'image':
            return dict(inputs=clip_inputs, data_samples=data_samples)
        data_samples['clip_inputs'] = clip_inputs
        return dict(inputs=points, data_samples=data_samples)

    def __repr__(self) -> str:
        return (f'ShapeViewCaptions({self.dataset!r}, inputs={self.inputs!r}, '
                f'num_views={self.num_views}, choice={self.choice!r}, {self.render_cfg})')
