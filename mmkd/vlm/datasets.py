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
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.fileio import atomic_write_bytes, save_figure
from mmkd.registry import DATASETS

__all__ = ['CsvImageText', 'ImageFolderCaptions', 'SyntheticCaptionedScenes',
           'save_caption_grid', 'load_image', 'render_scene', 'sample_scene', 'SHAPES',
           'COLORS', 'DEFAULT_TEMPLATES']

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')
DEFAULT_TEMPLATES = ('a photo of a {}.', 'a {} shape.', 'an image of a {}.')


# ----------------------------------------------------------------------------- image helpers
def load_image(path: str, image_size: Optional[int] = None) -> np.ndarray:
    """An RGB uint8 ``[H, W, 3]`` array from an image file, centre-cropped to a square and
    resized to ``image_size`` (PIL bicubic) when given. Raises ValueError naming ``path`` when
    the file cannot be decoded (FileNotFoundError when it does not exist)."""
    from PIL import Image
    if not osp.isfile(path):
        raise FileNotFoundError(f'image file {path!r} does not exist')
    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert('RGB')
    except Exception as e:
        raise ValueError(f'cannot read image {path!r} (empty, corrupt or not an image): '
                         f'{type(e).__name__}: {e}') from e
    if image_size is not None:
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if side != image_size:
            img = img.resize((image_size, image_size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float32 ``[3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)


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
            raise IndexError(f'{type(self).__name__}: index {index} out of range for '
                             f'{len(self)} samples')
        index = index % len(self)
        image = _to_tensor(self._image(index))
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
            raise FileNotFoundError(f'CsvImageText: annotation file {ann_file!r} does not exist')
        if not isinstance(sep, str) or len(sep) != 1:
            raise ValueError(f'CsvImageText: sep must be a single character, got {sep!r}')
        self.ann_file = ann_file
        self.data_root = str(data_root) if data_root is not None else \
            osp.dirname(osp.abspath(ann_file))
        self.image_size = None if image_size is None else int(image_size)
        self.transforms = transforms
        with open(ann_file, newline='', encoding='utf-8-sig') as f:
            rows = list(csv.reader(f, delimiter=sep))
        if not rows:
            raise ValueError(f'CsvImageText: {ann_file!r} is empty (expected a header line with '
                             f'columns {img_key!r} and {caption_key!r})')
        header = [h.strip() for h in rows[0]]
        wanted = [img_key, caption_key] + ([label_key] if label_key is not None else [])
        for key in wanted:
            if key not in header:
                hint = '' if len(header) > 1 else \
                    f' (only one column was found: is the separator {sep!r} right?)'
                raise KeyError(f'CsvImageText: column {key!r} not found in {ann_file!r}; '
                               f'columns present: {header}{hint}')
        cols = {key: header.index(key) for key in wanted}
        self.files, self.texts, self.lines, raw_labels = [], [], [], []
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if len(row) < len(header):
                raise ValueError(f'CsvImageText: {ann_file!r} line {line} has {len(row)} '
                                 f'fields, the header has {len(header)}: {row}')
            path = row[cols[img_key]].strip()
            if not path:
                raise ValueError(f'CsvImageText: {ann_file!r} line {line}: empty {img_key!r}')
            self.files.append(path if osp.isabs(path) else osp.join(self.data_root, path))
            self.texts.append(row[cols[caption_key]])
            self.lines.append(line)
            if label_key is not None:
                raw_labels.append(row[cols[label_key]].strip())
        if not self.files:
            raise ValueError(f'CsvImageText: {ann_file!r} has a header but no rows')
        if check_files:
            missing = [(i, self.lines[i], p) for i, p in enumerate(self.files)
                       if not osp.isfile(p)]
            if missing:
                shown = '; '.join(f'row {i} (line {ln}): {p!r}' for i, ln, p in missing[:5])
                raise FileNotFoundError(
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
                    raise ValueError(f'CsvImageText: {ann_file!r} row {i} (line '
                                     f'{self.lines[i]}): label {value!r} in column '
                                     f'{label_key!r} is not one of the classes {classes} nor an '
                                     f'index into them')
        else:
            self.labels = [-1] * len(self.files)
        self.metainfo = _class_metainfo(classes, templates)

    def _image(self, index: int) -> np.ndarray:
        try:
            return load_image(self.files[index], self.image_size)
        except (OSError, ValueError) as e:
            raise type(e)(f'CsvImageText: row {index} (line {self.lines[index]}) of '
                          f'{self.ann_file!r}: {e}') from e


# ----------------------------------------------------------------------------- image folder
def _read_caption_mapping(path: str) -> Dict[str, str]:
    """``captions.json`` (``{file: caption}`` or ``[{file_name, caption}, ...]``) or
    ``captions.csv`` (header with a file column and a caption column) as a dict."""
    file_keys = ('file_name', 'filename', 'file', 'filepath', 'image')
    text_keys = ('caption', 'text', 'title')
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            if isinstance(data, dict):
                return {str(k): str(v) for k, v in data.items()}
            if isinstance(data, list):
                out = {}
                for n, entry in enumerate(data):
                    fk = next((k for k in file_keys if isinstance(entry, dict) and k in entry),
                              None)
                    tk = next((k for k in text_keys if isinstance(entry, dict) and k in entry),
                              None)
                    if fk is None or tk is None:
                        raise ValueError(f'entry {n} needs one of the keys {file_keys} and one '
                                         f'of {text_keys}, got {entry!r}')
                    out[str(entry[fk])] = str(entry[tk])
                return out
            raise ValueError(f'expected an object or a list, got {type(data).__name__}')
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            fk = next((k for k in file_keys if k in fields), None)
            tk = next((k for k in text_keys if k in fields), None)
            if fk is None or tk is None:
                raise ValueError(f'the header needs one of the columns {file_keys} and one of '
                                 f'{text_keys}; columns present: {fields}')
            return {row[fk]: row[tk] for row in reader}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f'ImageFolderCaptions: cannot read captions from {path!r}: {e}') from e


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
            raise FileNotFoundError(f'ImageFolderCaptions: root {root!r} is not a directory')
        self.root = root
        self.image_size = None if image_size is None else int(image_size)
        self.transforms = transforms
        exts = tuple(e.lower() for e in extensions)

        def images_in(folder):
            return sorted(f for f in os.listdir(folder) if f.lower().endswith(exts)
                          and not f.startswith('.') and osp.isfile(osp.join(folder, f)))

        subdirs = sorted(d for d in os.listdir(root)
                         if osp.isdir(osp.join(root, d)) and not d.startswith('.'))
        if class_from_folder is None:
            class_from_folder = any(images_in(osp.join(root, d)) for d in subdirs)
        rel_files, labels = [], []
        if class_from_folder:
            classes = [d for d in subdirs if images_in(osp.join(root, d))]
            for label, name in enumerate(classes):
                for fname in images_in(osp.join(root, name)):
                    rel_files.append(f'{name}/{fname}')
                    labels.append(label)
            pattern = '<class>/<image>'
        else:
            classes = None
            rel_files = images_in(root)
            labels = [-1] * len(rel_files)
            pattern = '<image>'
        if not rel_files:
            raise FileNotFoundError(f'ImageFolderCaptions: no {"/".join(exts)} images in '
                                    f'{root!r} (expected {pattern})')

        mapping_file = None
        if captions == 'auto':
            for name in ('captions.json', 'captions.csv'):
                if osp.isfile(osp.join(root, name)):
                    mapping_file = osp.join(root, name)
                    break
        elif captions != 'sidecar':
            mapping_file = captions if osp.isabs(captions) or osp.isfile(captions) else \
                osp.join(root, captions)
            if not osp.isfile(mapping_file):
                raise FileNotFoundError(f'ImageFolderCaptions: caption file {mapping_file!r} '
                                        f'does not exist')
        texts = []
        if mapping_file is not None:
            mapping = _read_caption_mapping(mapping_file)
            missing = []
            for rel in rel_files:
                text = mapping.get(rel, mapping.get(rel.rsplit('/', 1)[-1]))
                if text is None:
                    missing.append(rel)
                texts.append(text)
            if missing:
                raise KeyError(f'ImageFolderCaptions: {len(missing)} images have no caption in '
                               f'{mapping_file!r} (keys are paths relative to the root or file '
                               f'names): {missing[:5]}' + (' ...' if len(missing) > 5 else ''))
        else:
            missing = []
            for rel in rel_files:
                sidecar = osp.join(root, osp.splitext(rel)[0] + '.txt')
                if not osp.isfile(sidecar):
                    missing.append(sidecar)
                    texts.append(None)
                    continue
                with open(sidecar, encoding='utf-8') as f:
                    texts.append(' '.join(f.read().split()))
            if missing:
                raise FileNotFoundError(
                    f'ImageFolderCaptions: {len(missing)} images in {root!r} have no caption '
                    f'file <stem>.txt (and there is no captions.json / captions.csv): '
                    f'{missing[:5]}' + (' ...' if len(missing) > 5 else ''))
        self.files = [osp.join(root, *rel.split('/')) for rel in rel_files]
        self.texts = [str(t) for t in texts]
        self.labels = labels
        self.caption_source = mapping_file or 'sidecar'
        self.metainfo = _class_metainfo(classes, templates)

    def _image(self, index: int) -> np.ndarray:
        return load_image(self.files[index], self.image_size)


# ----------------------------------------------------------------------------- scene drawing
def _polygon_regular(n: int, start: float = -math.pi / 2) -> np.ndarray:
    t = start + 2 * math.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    t = -math.pi / 2 + math.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _cross(arm: float = 0.34) -> np.ndarray:
    a = arm
    return np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1],
                     [-a, a], [-1, a], [-1, -a], [-a, -a]], dtype=np.float64)


def _heart(n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.5], axis=1) / 16.5  # y points down (image coordinates)
    return pts


# Unit outlines (radius ~1, image coordinates: y down) and a scale that evens out visual area.
_OUTLINES = dict(
    square=(_polygon_regular(4, -math.pi / 4), 1.0),
    triangle=(_polygon_regular(3) + np.array([0.0, 0.2]), 1.2),
    star=(_star(), 1.2),
    cross=(_cross(), 0.95),
    diamond=(_polygon_regular(4) * np.array([0.68, 1.0]), 1.2),
    heart=(_heart(), 1.05),
    hexagon=(_polygon_regular(6, 0.0), 1.0),
)
# circle and ring are drawn as ellipses.
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond', 'heart',
          'hexagon')
DEFAULT_SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond', 'heart')
COLORS = dict(red=(220, 30, 30), green=(30, 170, 50), blue=(40, 80, 230),
              yellow=(240, 220, 30), purple=(150, 50, 200), orange=(250, 130, 20),
              pink=(250, 120, 190), white=(245, 245, 245))
DEFAULT_COLORS = ('red', 'green', 'blue', 'yellow', 'purple', 'orange', 'pink', 'white')
POSITIONS = dict(left=((0.27, 0.5), 'on the left'), right=((0.73, 0.5), 'on the right'),
                 top=((0.5, 0.27), 'at the top'), bottom=((0.5, 0.73), 'at the bottom'),
                 center=((0.5, 0.5), 'in the center'))
RELATIONS = dict(above=((0.0, -1.0), 'above'), below=((0.0, 1.0), 'below'),
                 left=((-1.0, 0.0), 'to the left of'), right=((1.0, 0.0), 'to the right of'))
COUNT_WORDS = {1: 'one', 2: 'two', 3: 'three'}
SIZE_RADIUS = dict(large=(0.17, 0.21), small=(0.085, 0.11), tiny=(0.05, 0.065))
SCENE_TEMPLATES = dict(
    label=dict(shape=('a photo of a {}.', 'a {} shape.', 'an image of a {}.',
                      'a drawing of a {}.'),
               color=('a photo of a {} object.', 'a {} shape.', 'an image of something {}.'),
               shape_color=('a photo of a {}.', 'a {} shape.', 'an image of a {}.')))


def _plural(shape: str) -> str:
    return shape + ('es' if shape.endswith(('s', 'x', 'ss')) else 's')


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def sample_scene(rng: np.random.Generator, main_shape: str, main_color: str,
                 shapes: Sequence[str], colors: Sequence[str], relation_prob: float = 0.4,
                 distractor_prob: float = 0.35, max_count: int = 3,
                 position_jitter: float = 0.04) -> Tuple[List[Dict], str]:
    """A scene (list of objects: shape, color, radius and centre as fractions of the image
    side, ``mentioned`` flag; the first is the main object, and the largest one always has
    the main shape) and its caption.

    Scene kinds: a group of ``count`` identical objects at a position ("two small red circles
    on the left", counts > 1 are small), or a large main object in a spatial relation to a
    smaller one of another shape ("a large blue star above a green square"). With probability
    ``distractor_prob`` a tiny unmentioned object of another shape and colour is added.
    """
    def radius(size):
        return float(rng.uniform(*SIZE_RADIUS[size]))

    def jitter():
        return rng.uniform(-position_jitter, position_jitter, 2)

    objects = []
    if rng.random() < relation_prob and len(shapes) > 1:
        rel = list(RELATIONS)[rng.integers(len(RELATIONS))]
        (dx, dy), rel_words = RELATIONS[rel]
        other_shape = [s for s in shapes if s != main_shape][rng.integers(len(shapes) - 1)]
        other_color = colors[rng.integers(len(colors))]
        # main in one half, the other (small) one in the opposite half
        cross_pos = 0.5 + rng.uniform(-0.12, 0.12, 2)
        main_c = np.array([0.5 + 0.23 * dx, 0.5 + 0.23 * dy]) + jitter()
        other_c = np.array([0.5 - 0.25 * dx, 0.5 - 0.25 * dy]) + jitter()
        if dx == 0:  # vertical relation: free horizontal offset
            main_c[0], other_c[0] = cross_pos[0], 1 - cross_pos[0] + rng.uniform(-0.1, 0.1)
        else:
            main_c[1], other_c[1] = cross_pos[1], 1 - cross_pos[1] + rng.uniform(-0.1, 0.1)
        objects.append(dict(shape=main_shape, color=main_color, radius=radius('large'),
                            center=main_c, mentioned=True))
        objects.append(dict(shape=other_shape, color=other_color, radius=radius('small'),
                            center=other_c, mentioned=True))
        size_word = 'large ' if rng.random() < 0.7 else ''
        other_size = 'small ' if rng.random() < 0.5 else ''
        main_np = f'{size_word}{main_color} {main_shape}'
        other_np = f'{other_size}{other_color} {other_shape}'
        form = rng.integers(3)
        if form == 0:
            caption = f'{_article(main_np)} {main_np} {rel_words} {_article(other_np)} {other_np}'
        elif form == 1:
            caption = (f'a picture of {_article(main_np)} {main_np} {rel_words} '
                       f'{_article(other_np)} {other_np}')
        else:
            caption = (f'there is {_article(main_np)} {main_np} {rel_words} '
                       f'{_article(other_np)} {other_np}')
    else:
        count = int(rng.integers(1, max_count + 1))
        size = 'large' if count == 1 and rng.random() < 0.5 else 'small'
        pos = list(POSITIONS)[rng.integers(len(POSITIONS))]
        (cx, cy), pos_words = POSITIONS[pos]
        if count == 1:
            centres = [np.array([cx, cy])]
        else:
            spacing = rng.uniform(0.25, 0.29)
            offsets = (np.arange(count) - (count - 1) / 2) * spacing
            if pos in ('left', 'right'):  # a column
                centres = [np.array([cx, 0.5 + o]) for o in offsets]
            elif pos in ('top', 'bottom'):  # a row
                centres = [np.array([0.5 + o, cy]) for o in offsets]
            else:  # a small cluster around the centre
                angle0 = rng.uniform(0, 2 * math.pi)
                ring = 0.15 if count == 2 else 0.17
                centres = [np.array([0.5 + ring * math.cos(angle0 + 2 * math.pi * k / count),
                                     0.5 + ring * math.sin(angle0 + 2 * math.pi * k / count)])
                           for k in range(count)]
        r = radius(size)
        for c in centres:
            objects.append(dict(shape=main_shape, color=main_color,
                                radius=r * rng.uniform(0.92, 1.08), center=c + jitter(),
                                mentioned=True))
        name = main_shape if count == 1 else _plural(main_shape)
        with_size = rng.random() < 0.75
        np_words = f'{size + " " if with_size else ""}{main_color} {name}'
        quantity = _article(np_words) if count == 1 else COUNT_WORDS[count]
        form = rng.integers(3)
        if form == 0:
            caption = f'{quantity} {np_words} {pos_words}'
        elif form == 1:
            caption = f'a photo of {quantity} {np_words} {pos_words}'
        else:
            verb = 'is' if count == 1 else 'are'
            caption = f'there {verb} {quantity} {np_words} {pos_words}'
    if rng.random() < distractor_prob:
        d_shapes = [s for s in shapes if s not in {o['shape'] for o in objects}] or \
            [s for s in shapes if s != main_shape]
        d_colors = [c for c in colors if c != main_color]
        if d_shapes and d_colors:
            d_r = radius('tiny')
            for _ in range(20):
                c = rng.uniform(0.08, 0.92, 2)
                if all(np.linalg.norm(c - o['center']) > o['radius'] + d_r + 0.03
                       for o in objects):
                    objects.append(dict(shape=d_shapes[rng.integers(len(d_shapes))],
                                        color=d_colors[rng.integers(len(d_colors))],
                                        radius=d_r, center=c, mentioned=False))
                    break
    return objects, caption


def render_scene(objects: Sequence[Dict], rng: np.random.Generator, image_size: int,
                 supersample: int = 4, rotation: float = 15.0, color_jitter: float = 25.0,
                 noise_std: float = 6.0) -> np.ndarray:
    """Draw ``objects`` (from :func:`sample_scene`) as a uint8 ``[S, S, 3]`` image: a dull
    random-colour background with a linear gradient, each object in its jittered colour and
    rotated by up to ``rotation`` degrees, drawn at ``supersample`` x the size and box-filtered
    down (anti-aliasing), plus Gaussian pixel noise of ``noise_std`` (0-255 scale)."""
    from PIL import Image, ImageDraw
    size = image_size * supersample
    # background: low saturation, mid-dark value, with a gradient in a random direction
    base = rng.uniform(60, 150)
    tint = rng.uniform(-25, 25, 3)
    bg0 = np.clip(base + tint, 0, 255)
    bg1 = np.clip(bg0 + rng.uniform(-35, 35, 3), 0, 255)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(0, 1, image_size, dtype=np.float32)
    g = (math.cos(theta) * ramp[None, :] + math.sin(theta) * ramp[:, None])
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    bg = bg0[None, None, :] * (1 - g[..., None]) + bg1[None, None, :] * g[..., None]
    canvas = Image.fromarray(bg.astype(np.uint8)).resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    for obj in objects:
        rgb = np.clip(np.array(COLORS[obj['color']], dtype=np.float64) +
                      rng.uniform(-color_jitter, color_jitter, 3), 0, 255)
        fill = tuple(int(v) for v in rgb)
        cx, cy = obj['center'][0] * size, obj['center'][1] * size
        r = obj['radius'] * size
        shape = obj['shape']
        if shape in ('circle', 'ring'):
            box = (cx - r, cy - r, cx + r, cy + r)
            if shape == 'circle':
                draw.ellipse(box, fill=fill)
            else:
                draw.ellipse(box, outline=fill, width=max(1, int(round(r * 0.38))))
            continue
        outline, scale = _OUTLINES[shape]
        angle = math.radians(rng.uniform(-rotation, rotation))
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        pts = (outline * scale) @ rot.T * r + np.array([cx, cy])
        draw.polygon([tuple(p) for p in pts.tolist()], fill=fill)
    image = np.asarray(canvas.reduce(supersample), dtype=np.float32)
    if noise_std > 0:
        image = image + rng.normal(0.0, noise_std, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


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
        split: ``'train'`` or ``'test'``.
        num_train / num_test: samples in each split.
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

    def __init__(self, split: str = 'train', num_train: int = 3000, num_test: int = 600,
                 image_size: int = 48, seed: int = 0,
                 cache_dir: Optional[str] = 'work_dirs/data/synthetic_scenes',
                 label_type: str = 'shape', shapes: Optional[Sequence[str]] = None,
                 colors: Optional[Sequence[str]] = None, relation_prob: float = 0.4,
                 distractor_prob: float = 0.35, max_count: int = 3, noise_std: float = 6.0,
                 color_jitter: float = 25.0, rotation: float = 15.0,
                 position_jitter: float = 0.04, transforms: Optional[Callable] = None,
                 progress: bool = True) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        if label_type not in self.LABEL_TYPES:
            raise ValueError(f'label_type: expected one of {self.LABEL_TYPES}, got '
                             f'{label_type!r}')
        shapes = tuple(DEFAULT_SHAPES if shapes is None else shapes)
        colors = tuple(DEFAULT_COLORS if colors is None else colors)
        bad = [s for s in shapes if s not in SHAPES]
        if bad or len(shapes) < 2 or len(set(shapes)) != len(shapes):
            raise ValueError(f'shapes: need >= 2 distinct names from {list(SHAPES)}, got '
                             f'{list(shapes)}')
        bad = [c for c in colors if c not in COLORS]
        if bad or len(colors) < 2 or len(set(colors)) != len(colors):
            raise ValueError(f'colors: need >= 2 distinct names from {list(COLORS)}, got '
                             f'{list(colors)}')
        if not 1 <= max_count <= 3:
            raise ValueError(f'max_count: expected 1..3, got {max_count}')
        num = int(num_train if split == 'train' else num_test)
        if num < 1 or image_size < 8:
            raise ValueError(f'need >= 1 sample and image_size >= 8, got {num} samples and '
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
                raise ValueError(f'images are {images.dtype} {images.shape}, expected uint8 '
                                 f'{expected}')
            if captions.shape != expected[:1] or labels.shape != expected[:1]:
                raise ValueError(f'captions {captions.shape} / labels {labels.shape}, expected '
                                 f'{expected[:1]}')
        except Exception as e:
            warnings.warn(f'SyntheticCaptionedScenes: cache file {self.cache_file!r} is corrupt '
                          f'or does not match the parameters ({type(e).__name__}: {e}); '
                          f'regenerating it')
            return None
        return images, captions, labels.astype(np.int64)

    def _generate(self, progress: bool):
        p = self.params
        shapes, colors, num = p['shapes'], p['colors'], p['num']
        split_id = 0 if p['split'] == 'train' else 1
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
        raise ValueError('save_caption_grid: no indices to draw')
    if ncols < 1:
        raise ValueError(f'save_caption_grid: ncols must be >= 1, got {ncols}')
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
