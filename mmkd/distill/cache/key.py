"""What a teacher-output cache was made from, as a key: the teachers (configs, checkpoints'
sha256, recorders, data preprocessor) and the data (dataset config, K, seed); and the errors that
name what differs between a cache and a config."""
import hashlib
import json
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional

from mmkd.errors import InvalidValueError, MissingFileError, StateError
from ..teacher import TeacherSpec

MANIFEST = 'manifest.json'
SHARED_FILE = 'shared.safetensors'
FORMAT_VERSION = 1
REBUILD_HINT = 'rebuild it with: python tools/cache_teacher.py CONFIG --out {path}'


class TeacherCacheError(StateError):
    """A cache that is incomplete, truncated or corrupt."""


class TeacherCacheMismatchError(InvalidValueError):
    """A cache made for another config; the message lists what differs."""


# ----------------------------------------------------------------------------- cache key
def file_sha256(path: str, where: str = 'file') -> str:
    """The sha256 of a file's bytes, read in 1 MB blocks."""
    if not osp.isfile(path):
        raise MissingFileError(f'{where}: file {path!r} does not exist')
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _json_default(obj: Any) -> str:
    if isinstance(obj, type) or callable(obj):
        return f'{obj.__module__}.{getattr(obj, "__qualname__", type(obj).__qualname__)}'
    return repr(obj)


def canonical_json(obj: Any) -> Any:
    """``obj`` as plain JSON values (tuples -> lists, ConfigDicts -> dicts), as stored."""
    return json.loads(json.dumps(obj, sort_keys=True, default=_json_default))


def check_cacheable(spec: TeacherSpec) -> None:
    """Raise unless the teacher's outputs are a function of its input alone."""
    if spec.ema_of_student:
        raise InvalidValueError(f'{spec.where}: an EMA teacher changes during training; its '
                                'outputs cannot be cached')
    if spec.mode != 'eval':
        raise InvalidValueError(f"{spec.where}.mode: a cached teacher must run in 'eval' mode (in "
                                f'{spec.mode!r} mode its outputs depend on the batch), got '
                                f'{spec.mode!r}')
    if not spec.weight_files():
        raise InvalidValueError(f'{spec.where}.checkpoint: a cached teacher needs a checkpoint '
                                'file or a pretrained source with weight files (the cache key '
                                'holds their hashes)')


def teacher_key(specs: Mapping[str, TeacherSpec], recorders: Mapping[str, Any],
                data_preprocessor: Optional[dict]) -> Dict[str, Any]:
    """The model side of the cache key: teachers (config, weight files' hashes, mode, dtype,
    inputs, own preprocessing), their recorders and the data preprocessor that prepares their
    inputs."""
    teachers = {}
    for name, spec in specs.items():
        teachers[name] = dict(model=spec.model_cfg, prefix=spec.prefix, mode=spec.mode,
                              dtype=str(spec.dtype).replace('torch.', ''),
                              inputs=spec.inputs_field,
                              checkpoint_sha256=file_sha256(spec.checkpoint,
                                                            f'{spec.where}.checkpoint')
                              if spec.checkpoint is not None else None)
        if spec.inputs_key is not None:
            teachers[name]['inputs_key'] = spec.inputs_key
        if spec.preprocess_cfg is not None:
            teachers[name]['preprocess'] = spec.preprocess_cfg
        if spec.is_pretrained_source:
            teachers[name]['source_sha256'] = {
                osp.basename(f): file_sha256(f, f'{spec.where}.model')
                for f in spec.source_files()}
    return canonical_json(dict(teachers=teachers,
                           recorders={name: recorders.get(name, {}) for name in specs},
                           data_preprocessor=data_preprocessor))


def data_key(dataset: dict, num_augs: int, seed: int) -> Dict[str, Any]:
    """The data side of the cache key: the dataset config (with its transform parameters), the
    number of augmentations per sample and the seed they are drawn from."""
    return canonical_json(dict(dataset=dataset, num_augs=int(num_augs), seed=int(seed)))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + '...'


def key_differences(cached: Any, expected: Any, path: str) -> List[str]:
    if isinstance(cached, dict) and isinstance(expected, dict):
        lines = []
        for key in sorted(set(cached) | set(expected)):
            sub = f'{path}.{key}'
            if key not in expected:
                lines.append(f'{sub}: only in the cache ({_short(cached[key])})')
            elif key not in cached:
                lines.append(f'{sub}: only in the config ({_short(expected[key])})')
            else:
                lines += key_differences(cached[key], expected[key], sub)
        return lines
    if isinstance(cached, list) and isinstance(expected, list) and len(cached) == len(expected):
        return [line for i, (a, b) in enumerate(zip(cached, expected))
                for line in key_differences(a, b, f'{path}[{i}]')]
    return [] if cached == expected else [f'{path}: cache {_short(cached)} vs config '
                                          f'{_short(expected)}']
