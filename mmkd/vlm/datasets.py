"""Image-text datasets for CLIP-style training and distillation.

* ``CsvImageText``: open_clip's CSV format (``--csv-img-key filepath --csv-caption-key title
  --csv-separator "\\t"``), image paths relative to ``data_root`` or the CSV's folder, with optional
  zero-shot labels from a column.
* ``ImageFolderCaptions``: a folder of images with a caption per image, from a sidecar
  ``<stem>.txt`` or a ``captions.json`` / ``captions.csv`` mapping; optional classes from
  sub-folders ``<class>/<image>``.
* ``SyntheticCaptionedScenes``: coloured shapes on dull noisy backgrounds with compositional
  captions ("two small red circles on the left", "a large blue star above a green square"),
  generated deterministically for a seed and cached once as an ``.npz``.

Items follow the mmkd.vlm contract: ``dict(inputs=dict(image=FloatTensor[3, H, W] in [0, 1],
text=str), data_samples=dict(labels=int (-1 without classes), sample_idx=int))``, so
``mmengine.dataset.default_collate`` gives ``image [B, 3, H, W]``, ``text`` a list of str and
``labels`` / ``sample_idx`` LongTensors. Data stay model-agnostic: models resize, normalise and
tokenize for themselves. ``metainfo`` holds ``classes`` and zero-shot ``templates`` where classes
exist. :func:`save_caption_grid` draws samples with their captions to a PNG.
"""
import csv
import hashlib
import io
import json
import math
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from mmkd.errors import ConfigError, InvalidValueError, MissingFileError, OutOfRangeError
from mmkd.fileio import atomic_write_bytes, save_figure
from mmkd.registry import DATASETS
from mmkd.shared.label_subsets import build_with_mask

from .image_files import (IMAGE_EXTENSIONS, caption_mapping_file, find_images, image_tensor,
                          load_image, mapped_captions, sidecar_captions)
from .synthetic_scenes import (COLORS, DEFAULT_COLORS, DEFAULT_SHAPES, SCENE_TEMPLATES, SHAPES,
                               render_scene, sample_scene)

__all__ = ['CsvImageText', 'ImageFolderCaptions', 'SyntheticCaptionedScenes',
           'save_caption_grid', 'load_image', 'render_scene', 'sample_scene', 'SHAPES',
           'COLORS', 'DEFAULT_TEMPLATES']

DEFAULT_TEMPLATES = ('a photo of a {}.', 'a {} shape.', 'an image of a {}.')


class _ImageTextBase(Dataset):
    """Items from ``self._image(index)`` (uint8 ``[H, W, 3]``), ``self.texts`` and
    ``self.labels``, with an optional ``transforms`` callable on the float image tensor."""

    texts: List[str]
    labels: List[int]
    transforms: Optional[Callable] = None

    def __len__(self) -> int:
        return len(self.texts)

    def _image(self, index: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __getitem__(self, index: int) -> Dict:
        if not -len(self) <= index < len(self):
            raise OutOfRangeError(f'{type(self).__name__}: index {index} out of range for '
                                  f'{len(self)} samples')
        index = index % len(self)
        image = image_tensor(self._image(index))
        if self.transforms is not None:
            image = self.transforms(image)
        return dict(inputs=dict(image=image, text=str(self.texts[index])),
                    data_samples=dict(labels=int(self.labels[index]), sample_idx=index))


def _class_metainfo(classes: Optional[Sequence[str]],
                    templates: Optional[Sequence[str]]) -> Dict:
    if classes is None:
        return {}
    return dict(classes=tuple(classes),
                templates=tuple(DEFAULT_TEMPLATES if templates is None else templates))


# ----------------------------------------------------------------------------- CSV
@DATASETS.register_module()
class CsvImageText(_ImageTextBase):
    """Image-caption pairs from a CSV/TSV file in open_clip's format.

    open_clip's ``--dataset-type csv`` defaults are ``img_key='filepath'``,
    ``caption_key='title'``, ``sep='\\t'``; the first line is the header. Relative image paths
    are resolved against ``data_root`` (default: the CSV's folder). Images are read on access,
    centre-cropped to a square and resized to ``image_size`` (PIL bicubic).

    Args:
        ann_file: the CSV file.
        img_key / caption_key: the image-path and caption columns.
        sep: the one-character field separator.
        data_root: folder for relative image paths (default: the CSV's folder).
        image_size: square working size (None: keep the original size; then all images must
            have the same size for batching).
        label_key: optional column with zero-shot class labels (class names, or integer
            indices into ``classes``).
        classes: class names in label order; default the sorted distinct values of
            ``label_key``.
        templates: zero-shot prompt templates for ``metainfo`` (default
            ``DEFAULT_TEMPLATES``).
        check_files: check in ``__init__`` that every image file exists.
        transforms: optional callable applied to each image tensor ``[3, H, W]``.

    Errors name the file, the missing column (with the columns present) or the image and its
    row (``row`` counts data rows from 0; ``line`` is the line number in the file).
    """

    def __init__(self, ann_file: str, img_key: str = 'filepath', caption_key: str = 'title',
                 sep: str = '\t', data_root: Optional[str] = None,
                 image_size: Optional[int] = 64, label_key: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 templates: Optional[Sequence[str]] = None, check_files: bool = True,
                 transforms: Optional[Callable] = None) -> None:
        ann_file = str(ann_file)
        if not osp.isfile(ann_file):
            raise MissingFileError(f'CsvImageText: annotation file {ann_file!r} does not exist')
        if not isinstance(sep, str) or len(sep) != 1:
            raise InvalidValueError(f'CsvImageText: sep must be a single character, got {sep!r}')
        self.ann_file = ann_file
        self.data_root = str(data_root) if data_root is not None else \
            osp.dirname(osp.abspath(ann_file))
        self.image_size = None if image_size is None else int(image_size)
        self.transforms = transforms
        with open(ann_file, newline='', encoding='utf-8-sig') as f:
            rows = list(csv.reader(f, delimiter=sep))
        if not rows:
            raise InvalidValueError(f'CsvImageText: {ann_file!r} is empty (expected a header line '
                                    f'with columns {img_key!r} and {caption_key!r})')
        header = [h.strip() for h in rows[0]]
        wanted = [img_key, caption_key] + ([label_key] if label_key is not None else [])
        for key in wanted:
            if key not in header:
                hint = '' if len(header) > 1 else \
                    f' (only one column was found: is the separator {sep!r} right?)'
                raise ConfigError(f'CsvImageText: column {key!r} not found in {ann_file!r}; '
                                  f'columns present: {header}{hint}')
        cols = {key: header.index(key) for key in wanted}
        self.files, self.texts, self.lines, raw_labels = [], [], [], []
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if len(row) < len(header):
                raise InvalidValueError(f'CsvImageText: {ann_file!r} line {line} has {len(row)} '
                                        f'fields, the header has {len(header)}: {row}')
            path = row[cols[img_key]].strip()
            if not path:
                raise InvalidValueError(f'CsvImageText: {ann_file!r} line {line}: empty '
                                        f'{img_key!r}')
            self.files.append(path if osp.isabs(path) else osp.join(self.data_root, path))
            self.texts.append(row[cols[caption_key]])
            self.lines.append(line)
            if label_key is not None:
                raw_labels.append(row[cols[label_key]].strip())
        if not self.files:
            raise InvalidValueError(f'CsvImageText: {ann_file!r} has a header but no rows')
        if check_files:
            missing = [(i, self.lines[i], p) for i, p in enumerate(self.files)
                       if not osp.isfile(p)]
            if missing:
                shown = '; '.join(f'row {i} (line {ln}): {p!r}' for i, ln, p in missing[:5])
                raise MissingFileError(
                    f'CsvImageText: {len(missing)} of {len(self.files)} image files listed in '
                    f'{ann_file!r} do not exist (relative paths are resolved against '
                    f'{self.data_root!r}): {shown}' + (' ...' if len(missing) > 5 else ''))
        if label_key is not None:
            if classes is None:
                classes = sorted(set(raw_labels))
            classes = [str(c) for c in classes]
            index = {c: i for i, c in enumerate(classes)}
            self.labels = []
            for i, value in enumerate(raw_labels):
                if value in index:
                    self.labels.append(index[value])
                elif value.lstrip('-').isdigit() and 0 <= int(value) < len(classes):
                    self.labels.append(int(value))
                else:
                    raise InvalidValueError(f'CsvImageText: {ann_file!r} row {i} (line '
                                            f'{self.lines[i]}): label {value!r} in column '
                                            f'{label_key!r} is not one of the classes {classes} '
                                            'nor an index into them')
        else:
            self.labels = [-1] * len(self.files)
        self.metainfo = _class_metainfo(classes, templates)

    def _image(self, index: int) -> np.ndarray:
        try:
            return load_image(self.files[index], self.image_size)
        except (OSError, ValueError) as e:
            raise type(e)(f'CsvImageText: row {index} (line {self.lines[index]}) of '
                          f'{self.ann_file!r}: {e}') from e


@DATASETS.register_module()
class ImageFolderCaptions(_ImageTextBase):
    """A folder of images with one caption each.

    Captions come from ``root/captions.json`` or ``root/captions.csv`` when present (keys: the
    image path relative to ``root`` with ``/`` separators, or just the file name), otherwise
    from a sidecar text file ``<stem>.txt`` next to each image. With classes, images are
    ``root/<class>/<image>`` and ``metainfo['classes']`` are the sorted sub-folder names;
    without, images are ``root/<image>`` and labels are -1.

    Args:
        root: the folder.
        class_from_folder: True: ``root/<class>/<image>``; False: ``root/<image>``; None
            (default): True when some sub-folder of ``root`` holds images.
        image_size: square working size (centre crop + bicubic resize), None to keep.
        captions: ``'auto'`` (mapping file if present, else sidecars), ``'sidecar'``, or the
            path of a ``.json`` / ``.csv`` mapping.
        templates: zero-shot prompt templates for ``metainfo``.
        extensions: image file extensions.
        transforms: optional callable applied to each image tensor.
    """

    def __init__(self, root: str, class_from_folder: Optional[bool] = None,
                 image_size: Optional[int] = 64, captions: str = 'auto',
                 templates: Optional[Sequence[str]] = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 transforms: Optional[Callable] = None) -> None:
        root = str(root)
        if not osp.isdir(root):
            raise MissingFileError(f'ImageFolderCaptions: root {root!r} is not a directory')
        self.root = root
        self.image_size = None if image_size is None else int(image_size)
        self.transforms = transforms
        rel_files, labels, classes = find_images(root, class_from_folder,
                                                 tuple(e.lower() for e in extensions))
        mapping_file = caption_mapping_file(root, captions)
        if mapping_file is not None:
            texts = mapped_captions(rel_files, mapping_file)
        else:
            texts = sidecar_captions(root, rel_files)
        self.files = [osp.join(root, *rel.split('/')) for rel in rel_files]
        self.texts = [str(t) for t in texts]
        self.labels = labels
        self.caption_source = mapping_file or 'sidecar'
        self.metainfo = _class_metainfo(classes, templates)

    def _image(self, index: int) -> np.ndarray:
        return load_image(self.files[index], self.image_size)


# ----------------------------------------------------------------------------- synthetic scenes
@DATASETS.register_module()
class SyntheticCaptionedScenes(_ImageTextBase):
    """Captioned synthetic scenes of coloured shapes, generated once and cached on disk.

    A scene is a dull, random-colour gradient background with noise, plus either a group of 1-3
    identical objects at a position (left/right/top/bottom/center) or a large main object in a
    spatial relation (above/below/left of/right of) to a small object of another shape, and
    sometimes a tiny unmentioned distractor of another shape and colour. Objects have a shape
    (``shapes``), a colour (``colors``, RGB jittered), a size (small/large), a jittered position
    and a small random rotation; they are drawn at 4x and box-filtered down (anti-aliased).
    Captions are compositional, from a few templates, e.g. "two small red circles on the left",
    "a photo of a blue star at the top", "a large blue star above a green square". The main
    object is mentioned first, and the largest object in the image always has its shape.

    The zero-shot label depends on ``label_type``: ``'shape'`` (classes = ``shapes``, the main
    object's shape), ``'color'`` (classes = ``colors``) or ``'shape_color'`` (classes such as
    ``'red circle'``, all pairs); the class name always appears verbatim in the caption
    (plurals extend it). Sample ``i`` has class ``i % num_classes`` (balanced) and is generated
    from ``numpy.random.default_rng((seed, split_id, i))``, so the data depend only on the
    parameters. ``metainfo`` = ``dict(classes, templates)``.

    Each split is written once to ``cache_dir/synthetic_scenes_<split>_n<num>_i<size>_s<seed>_
    <hash>.npz`` (hash of all generation parameters and ``VERSION``; arrays ``images`` uint8
    [M, H, W, 3], ``captions`` str [M], ``labels`` int64 [M]) atomically and loaded from there
    afterwards; ``self.generated`` tells whether this instance generated the data. A cache file
    that cannot be read or has the wrong content is regenerated (with a warning) and replaced
    atomically, since its content is fully determined by the parameters. ``cache_dir=None``
    keeps everything in memory.

    Args:
        split: ``'train'``, ``'val'`` (held out for model selection; its own generator stream,
            so adding it changes neither of the others) or ``'test'``.
        num_train / num_test / num_val: samples in each split.
        image_size: square image side in pixels.
        seed: generation seed.
        cache_dir: folder of the ``.npz`` files (None: in memory only).
        label_type: ``'shape'``, ``'color'`` or ``'shape_color'``.
        shapes / colors: subsets of ``SHAPES`` / ``COLORS`` (``'hexagon'`` is off by default;
            adding it makes circle vs hexagon a hard pair at small sizes).
        relation_prob: share of two-object relation scenes (the rest are groups).
        distractor_prob: chance of a tiny unmentioned distractor object.
        max_count: largest group size (1-3).
        noise_std: pixel noise (0-255 scale); color_jitter: RGB jitter of object colours;
        rotation: max object rotation in degrees; position_jitter: centre jitter (fraction).
        transforms: optional callable applied to each image tensor on access.
        progress: show a tqdm bar while generating.
    """

    VERSION = 1
    LABEL_TYPES = ('shape', 'color', 'shape_color')
    # a split's index is its generator stream: append new splits, never reorder (cached files
    # would silently hold other data)
    SPLITS = ('train', 'test', 'val')

    def __init__(self, split: str = 'train', num_train: int = 3000, num_test: int = 600,
                 image_size: int = 48, seed: int = 0, num_val: int = 600,
                 cache_dir: Optional[str] = 'work_dirs/data/synthetic_scenes',
                 label_type: str = 'shape', shapes: Optional[Sequence[str]] = None,
                 colors: Optional[Sequence[str]] = None, relation_prob: float = 0.4,
                 distractor_prob: float = 0.35, max_count: int = 3, noise_std: float = 6.0,
                 color_jitter: float = 25.0, rotation: float = 15.0,
                 position_jitter: float = 0.04, transforms: Optional[Callable] = None,
                 progress: bool = True) -> None:
        if split not in self.SPLITS:
            raise InvalidValueError(f'split: expected one of {list(self.SPLITS)}, got {split!r}')
        if label_type not in self.LABEL_TYPES:
            raise InvalidValueError(f'label_type: expected one of {self.LABEL_TYPES}, got '
                                    f'{label_type!r}')
        shapes = tuple(DEFAULT_SHAPES if shapes is None else shapes)
        colors = tuple(DEFAULT_COLORS if colors is None else colors)
        bad = [s for s in shapes if s not in SHAPES]
        if bad or len(shapes) < 2 or len(set(shapes)) != len(shapes):
            raise InvalidValueError(f'shapes: need >= 2 distinct names from {list(SHAPES)}, got '
                                    f'{list(shapes)}')
        bad = [c for c in colors if c not in COLORS]
        if bad or len(colors) < 2 or len(set(colors)) != len(colors):
            raise InvalidValueError(f'colors: need >= 2 distinct names from {list(COLORS)}, got '
                                    f'{list(colors)}')
        if not 1 <= max_count <= 3:
            raise InvalidValueError(f'max_count: expected 1..3, got {max_count}')
        num = int(dict(train=num_train, test=num_test, val=num_val)[split])
        if num < 1 or image_size < 8:
            raise InvalidValueError(f'need >= 1 sample and image_size >= 8, got {num} samples and '
                                    f'image_size={image_size}')
        if label_type == 'shape':
            classes = shapes
        elif label_type == 'color':
            classes = colors
        else:
            classes = tuple(f'{c} {s}' for s in shapes for c in colors)
        self.split = split
        self.image_size = int(image_size)
        self.transforms = transforms
        self.metainfo = dict(classes=classes,
                             templates=SCENE_TEMPLATES['label'][label_type])
        self.params = dict(version=self.VERSION, split=split, num=num,
                           image_size=self.image_size, seed=int(seed), label_type=label_type,
                           shapes=list(shapes), colors=list(colors),
                           relation_prob=float(relation_prob),
                           distractor_prob=float(distractor_prob), max_count=int(max_count),
                           noise_std=float(noise_std), color_jitter=float(color_jitter),
                           rotation=float(rotation), position_jitter=float(position_jitter))
        self.generated = False
        self.cache_file = None
        if cache_dir is not None:
            key = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:10]
            self.cache_file = osp.join(
                str(cache_dir), f'synthetic_scenes_{split}_n{num}_i{self.image_size}_s{seed}_'
                f'{key}.npz')
        data = self._load_cache() if self.cache_file is not None else None
        if data is None:
            data = self._generate(progress)
            self.generated = True
            if self.cache_file is not None:
                buffer = io.BytesIO()
                np.savez(buffer, images=data[0], captions=data[1], labels=data[2])
                atomic_write_bytes(buffer.getvalue(), self.cache_file)
        self.images, captions, labels = data
        self.texts = [str(c) for c in captions]
        self.labels = labels.tolist()

    def _load_cache(self):
        """The cached arrays, or None when there is no usable cache (a warning names a bad
        file, which is then regenerated)."""
        if not osp.isfile(self.cache_file):
            return None
        p = self.params
        try:
            with np.load(self.cache_file, allow_pickle=False) as f:
                images, captions, labels = f['images'], f['captions'], f['labels']
            expected = (p['num'], p['image_size'], p['image_size'], 3)
            if images.shape != expected or images.dtype != np.uint8:
                raise InvalidValueError(f'images are {images.dtype} {images.shape}, expected uint8 '
                                        f'{expected}')
            if captions.shape != expected[:1] or labels.shape != expected[:1]:
                raise InvalidValueError(f'captions {captions.shape} / labels {labels.shape}, '
                                        f'expected {expected[:1]}')
        except Exception as e:
            warnings.warn(f'SyntheticCaptionedScenes: cache file {self.cache_file!r} is corrupt '
                          f'or does not match the parameters ({type(e).__name__}: {e}); '
                          f'regenerating it')
            return None
        return images, captions, labels.astype(np.int64)

    def _generate(self, progress: bool):
        p = self.params
        shapes, colors, num = p['shapes'], p['colors'], p['num']
        split_id = self.SPLITS.index(p['split'])
        num_classes = len(self.metainfo['classes'])
        images = np.empty((num, p['image_size'], p['image_size'], 3), dtype=np.uint8)
        captions, labels = [], np.arange(num, dtype=np.int64) % num_classes
        indices = range(num)
        if progress:
            from tqdm import tqdm
            indices = tqdm(indices, desc=f'SyntheticCaptionedScenes {p["split"]}',
                           unit='image', leave=False)
        for i in indices:
            rng = np.random.default_rng((p['seed'], split_id, i))
            label = int(labels[i])
            if p['label_type'] == 'shape':
                shape, color = shapes[label], colors[rng.integers(len(colors))]
            elif p['label_type'] == 'color':
                shape, color = shapes[rng.integers(len(shapes))], colors[label]
            else:
                shape, color = shapes[label // len(colors)], colors[label % len(colors)]
            objects, caption = sample_scene(
                rng, shape, color, shapes, colors, p['relation_prob'], p['distractor_prob'],
                p['max_count'], p['position_jitter'])
            images[i] = render_scene(objects, rng, p['image_size'], rotation=p['rotation'],
                                     color_jitter=p['color_jitter'], noise_std=p['noise_std'])
            captions.append(caption)
        return images, np.array(captions, dtype=str), labels

    def _image(self, index: int) -> np.ndarray:
        return self.images[index]


# ----------------------------------------------------------------------------- caption-scarce
@DATASETS.register_module()
class CaptionScarce(Dataset):
    """An image-text dataset whose captions the losses see only on a stratified fraction of its
    images: the label-scarce protocol for CLIP, where most images come without text.

    Items are the wrapped dataset's with ``data_samples['captioned']`` (bool) and the caption in
    ``data_samples['true_text']`` (for inspection only). Outside the captioned fraction the
    caption is replaced by ``''``: :class:`~mmkd.vlm.models.OpenCLIPModel` computes its CLIP
    loss over the captioned pairs of a batch, and distillation losses that take a ``text_mask``
    (``FDLoss``) read the same flag (``'batch.captioned'``). The fraction is stratified by the
    zero-shot class (``labels``), every class keeping at least one caption above 0.

    Args:
        dataset: the wrapped image-text dataset (or its config), with a ``labels`` sequence.
        captioned_fraction: share of images whose captions are kept, in [0, 1].
        seed: seed of the stratified choice.
    """

    def __init__(self, dataset, captioned_fraction: float, seed: int = 0) -> None:
        self.dataset, self.labels, self.captioned = build_with_mask(
            'CaptionScarce', dataset, captioned_fraction, 'captioned_fraction', seed)
        self.metainfo = dict(getattr(self.dataset, 'metainfo', {}) or {})

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict:
        item = self.dataset[index]
        inputs, samples = dict(item['inputs']), dict(item.get('data_samples') or {})
        if 'text' not in inputs:
            raise ConfigError(f'CaptionScarce: item {index} of {type(self.dataset).__name__} has '
                              "no inputs['text']")
        captioned = bool(self.captioned[index % len(self)])
        samples['captioned'], samples['true_text'] = captioned, inputs['text']
        if not captioned:
            inputs['text'] = ''
        return dict(item, inputs=inputs, data_samples=samples)


# ----------------------------------------------------------------------------- visualisation
def save_caption_grid(dataset, indices: Sequence[int], path: str, ncols: int = 4,
                      panel_size: float = 2.4, dpi: int = 100,
                      suptitle: Optional[str] = None) -> str:
    """Draw ``dataset[i]`` for ``i`` in ``indices`` in a grid, each image titled with its
    (wrapped) caption and, when the dataset has classes, ``[label: <class>]``; write a PNG to
    ``path`` atomically and return ``path``. matplotlib (Agg canvas) is imported lazily."""
    import textwrap
    indices = list(indices)
    if not indices:
        raise InvalidValueError('save_caption_grid: no indices to draw')
    if ncols < 1:
        raise InvalidValueError(f'save_caption_grid: ncols must be >= 1, got {ncols}')
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = getattr(dataset, 'metainfo', {}).get('classes')
    cols = min(ncols, len(indices))
    rows = math.ceil(len(indices) / cols)
    title_h = 0.75  # inches of caption text above each image
    fig = Figure(figsize=(cols * panel_size, rows * (panel_size + title_h)), dpi=dpi)
    FigureCanvasAgg(fig)
    for k, index in enumerate(indices):
        item = dataset[index]
        image = item['inputs']['image'].permute(1, 2, 0).clamp(0, 1).numpy()
        label = int(item['data_samples']['labels'])
        title = '\n'.join(textwrap.wrap(item['inputs']['text'], 28))
        if classes is not None and label >= 0:
            title += f'\n[label: {classes[label]}]'
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(image, interpolation='nearest')
        ax.set_axis_off()
        ax.set_title(title, fontsize=8, pad=3)
    height = rows * (panel_size + title_h)  # inches; each row has its caption room above it
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02 / height,
                        top=1 - (title_h + (0.4 if suptitle else 0.0)) / height,
                        wspace=0.05, hspace=title_h / panel_size)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return save_figure(fig, path, dpi)
