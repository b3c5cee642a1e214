"""Reading image-text data from files: images (centre-cropped, resized) and caption mappings."""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from mmkd.errors import ConfigError, InvalidValueError, MissingFileError


IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')


def load_image(path: str, image_size: Optional[int] = None) -> np.ndarray:
    """An RGB uint8 ``[H, W, 3]`` array from an image file, centre-cropped to a square and
    resized to ``image_size`` (PIL bicubic) when given. Raises ValueError naming ``path`` when
    the file cannot be decoded (FileNotFoundError when it does not exist)."""
    from PIL import Image
    if not osp.isfile(path):
        raise MissingFileError(f'image file {path!r} does not exist')
    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert('RGB')
    except Exception as e:
        raise InvalidValueError(f'cannot read image {path!r} (empty, corrupt or not an image): '
                                f'{type(e).__name__}: {e}') from e
    if image_size is not None:
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if side != image_size:
            img = img.resize((image_size, image_size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float32 ``[3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)


def read_caption_mapping(path: str) -> Dict[str, str]:
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
                        raise InvalidValueError(f'entry {n} needs one of the keys {file_keys} and '
                                                f'one of {text_keys}, got {entry!r}')
                    out[str(entry[fk])] = str(entry[tk])
                return out
            raise InvalidValueError(f'expected an object or a list, got {type(data).__name__}')
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            fk = next((k for k in file_keys if k in fields), None)
            tk = next((k for k in text_keys if k in fields), None)
            if fk is None or tk is None:
                raise InvalidValueError(f'the header needs one of the columns {file_keys} and one '
                                        f'of {text_keys}; columns present: {fields}')
            return {row[fk]: row[tk] for row in reader}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise InvalidValueError(f'ImageFolderCaptions: cannot read captions from {path!r}: '
                                f'{e}') from e


def find_images(root: str, class_from_folder: Optional[bool],
                extensions: Sequence[str]) -> Tuple[List[str], List[int], Optional[List[str]]]:
    """``(image paths relative to root with / separators, labels, classes)`` of a folder:
    ``root/<class>/<image>`` with classes (the sorted sub-folders that hold images), or
    ``root/<image>`` with labels -1 and no classes; ``class_from_folder=None`` picks classes
    when some sub-folder holds images."""
    def images_in(folder):
        return sorted(f for f in os.listdir(folder) if f.lower().endswith(tuple(extensions))
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
        raise MissingFileError(f'ImageFolderCaptions: no {"/".join(extensions)} images in {root!r} '
                               f'(expected {pattern})')
    return rel_files, labels, classes


def caption_mapping_file(root: str, captions: str) -> Optional[str]:
    """The caption mapping file that ``captions`` names (``'auto'``: ``captions.json`` or
    ``captions.csv`` in ``root`` if there is one; ``'sidecar'``: none; else its path, absolute,
    relative to the working directory or to ``root``)."""
    if captions == 'auto':
        for name in ('captions.json', 'captions.csv'):
            if osp.isfile(osp.join(root, name)):
                return osp.join(root, name)
        return None
    if captions == 'sidecar':
        return None
    mapping_file = captions if osp.isabs(captions) or osp.isfile(captions) else \
        osp.join(root, captions)
    if not osp.isfile(mapping_file):
        raise MissingFileError(f'ImageFolderCaptions: caption file {mapping_file!r} does not exist')
    return mapping_file


def mapped_captions(rel_files: Sequence[str], mapping_file: str) -> List[str]:
    """The caption of each image from a mapping file, by relative path or by file name."""
    mapping = read_caption_mapping(mapping_file)
    texts, missing = [], []
    for rel in rel_files:
        text = mapping.get(rel, mapping.get(rel.rsplit('/', 1)[-1]))
        if text is None:
            missing.append(rel)
        texts.append(text)
    if missing:
        raise ConfigError(f'ImageFolderCaptions: {len(missing)} images have no caption in '
                          f'{mapping_file!r} (keys are paths relative to the root or file names): '
                          f'{missing[:5]}' + (' ...' if len(missing) > 5 else ''))
    return texts


def sidecar_captions(root: str, rel_files: Sequence[str]) -> List[str]:
    """The caption of each image from its ``<stem>.txt``, whitespace collapsed."""
    texts, missing = [], []
    for rel in rel_files:
        sidecar = osp.join(root, osp.splitext(rel)[0] + '.txt')
        if not osp.isfile(sidecar):
            missing.append(sidecar)
            continue
        with open(sidecar, encoding='utf-8') as f:
            texts.append(' '.join(f.read().split()))
    if missing:
        raise MissingFileError(
            f'ImageFolderCaptions: {len(missing)} images in {root!r} have no caption '
            f'file <stem>.txt (and there is no captions.json / captions.csv): '
            f'{missing[:5]}' + (' ...' if len(missing) > 5 else ''))
    return texts
