"""Teachers: frozen (or EMA) models with a mode, a dtype and a checkpoint.

A teacher spec in a config::

    teachers=dict(
        teacher=dict(model=dict(type='DigitsCNN', ...),     # any MODELS config, or a source
                     checkpoint='work_dirs/teacher/epoch_30.pth',
                     prefix=None,        # e.g. 'student.' to take a distilled student as teacher
                     mode='eval',        # 'eval' | 'norm_eval' | 'train'
                     dtype='float32',    # 'float32' | 'float16' | 'bfloat16'
                     inputs=None,        # e.g. 'batch.views': what the teacher sees
                     preprocess=None),   # e.g. dict(type='ImageInputs', size=224): its own pipeline
        ema=dict(ema_of_student=True, momentum=0.999))      # self-distillation target

``model`` is a registered mmkd model (``dict(type=...)``), a pretrained network from another
library (``dict(factory='package.module:callable', args=[...], kwargs={...})``) or a local Hugging
Face folder (``dict(pretrained=folder, auto_class='AutoModel', pooling='mean')``); see
:mod:`mmkd.shared.pretrained`. A source's weights come with it, so ``checkpoint`` is optional
there (give one to load fine-tuned weights over them). ``preprocess`` is a ``TRANSFORMS`` config
(:mod:`mmkd.shared.model_inputs`) applied to the teacher's inputs before it runs: resize, grey to
RGB and its own normalisation for images, its own tokenizer for raw text.

``eval`` puts the whole teacher in eval mode (BatchNorm statistics, Dropout and DropPath off).
``norm_eval`` keeps the teacher in the runner's mode except its normalisation layers, and
``train`` keeps it in the runner's mode (Dropout on, BatchNorm updating its statistics).
Teachers never receive gradients. By default a teacher sees the student's ``inputs``;
``inputs='batch.<field>'`` gives it that field of the batch's ``data_samples`` instead (rendered
views of a point cloud for an image teacher, a denser cloud, another tokenisation), and
``inputs='inputs.<key>'`` one entry of dict inputs (a CLIP batch's raw ``text`` for a text
teacher, its ``image`` for an image teacher).
"""
import copy
from typing import Any, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.fileio import load_weights
from mmkd.registry import MODELS, TRANSFORMS
from mmkd.shared.pretrained import build_pretrained, is_pretrained_source, weight_files

TEACHER_MODES = ('eval', 'norm_eval', 'train')
_DTYPES = {'float32': torch.float32, 'float16': torch.float16, 'bfloat16': torch.bfloat16}
_NORM_LAYERS = (_BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
                nn.InstanceNorm3d)


class TeacherSpec:
    """How one teacher is built and run. See the module docstring for the config keys."""

    def __init__(self, name: str, model: Optional[dict] = None, checkpoint: Optional[str] = None,
                 prefix: Optional[str] = None, mode: str = 'eval', dtype: str = 'float32',
                 ema_of_student: bool = False, momentum: float = 0.999,
                 inputs: Optional[str] = None, preprocess: Optional[dict] = None) -> None:
        where = f'model.teachers.{name}'
        if mode not in TEACHER_MODES:
            raise InvalidValueError(f'{where}.mode: expected one of {TEACHER_MODES}, got {mode!r}')
        if dtype not in _DTYPES:
            raise InvalidValueError(f'{where}.dtype: expected one of {sorted(_DTYPES)}, got '
                                    f'{dtype!r}')
        if ema_of_student == (model is not None):
            raise InvalidValueError(f'{where}: give either model=... (a teacher config) or '
                                    'ema_of_student=True, exactly one of them')
        if not 0.0 <= momentum < 1.0:
            raise InvalidValueError(f'{where}.momentum: expected 0 <= momentum < 1, got {momentum}')
        source, _, field = inputs.partition('.') if isinstance(inputs, str) else (None, '', '')
        if inputs is not None and (source not in ('batch', 'inputs') or not field):
            raise InvalidValueError(f"{where}.inputs: expected None (the student's inputs), "
                                    "'batch.<field>' (a field of data_samples) or "
                                    f"'inputs.<key>' (one entry of dict inputs), got {inputs!r}")
        self.name, self.where = name, where
        self.inputs_field = field if source == 'batch' else None
        self.inputs_key = field if source == 'inputs' else None
        self.model_cfg, self.checkpoint, self.prefix = model, checkpoint, prefix
        self.mode, self.dtype = mode, _DTYPES[dtype]
        self.ema_of_student, self.momentum = ema_of_student, momentum
        self.preprocess_cfg = preprocess
        self.preprocess = None if preprocess is None else TRANSFORMS.build(preprocess)

    @property
    def is_pretrained_source(self) -> bool:
        """Whether the model comes from another library's factory or a Hugging Face folder."""
        return is_pretrained_source(self.model_cfg)

    def source_files(self) -> list:
        """The files a pretrained source's weights come from (none for a ``MODELS`` config)."""
        if not self.is_pretrained_source:
            return []
        return weight_files(self.model_cfg, f'{self.where}.model')

    def weight_files(self) -> list:
        """The files the teacher's weights come from: its source's files and its checkpoint."""
        return self.source_files() + ([self.checkpoint] if self.checkpoint is not None else [])

    def build(self, student: nn.Module) -> nn.Module:
        """Build the teacher (or copy the student for an EMA teacher) and load its weights."""
        if self.ema_of_student:
            teacher = copy.deepcopy(student)
        else:
            teacher = build_pretrained(self.model_cfg, f'{self.where}.model') \
                if self.is_pretrained_source else MODELS.build(self.model_cfg)
            if self.checkpoint is not None:
                load_weights(teacher, self.checkpoint, f'{self.where}.checkpoint', self.prefix)
        teacher.to(self.dtype)
        teacher.requires_grad_(False)
        return teacher

    def select_inputs(self, inputs: Any, data_samples: Any) -> Any:
        """What this teacher is called with: the student's inputs or a field of the batch, through
        the teacher's own ``preprocess`` when it has one."""
        if self.inputs_field is not None:
            if not isinstance(data_samples, dict) or self.inputs_field not in data_samples:
                present = sorted(data_samples) if isinstance(data_samples, dict) else []
                raise ConfigError(f'{self.where}.inputs: the batch has no data_samples field '
                                  f'{self.inputs_field!r} (fields: {present})')
            inputs = data_samples[self.inputs_field]
        elif self.inputs_key is not None:
            if not isinstance(inputs, dict) or self.inputs_key not in inputs:
                present = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
                raise ConfigError(f'{self.where}.inputs: the inputs have no key '
                                  f'{self.inputs_key!r} (they are {present})')
            inputs = inputs[self.inputs_key]
        return inputs if self.preprocess is None else self.preprocess(inputs)

    def set_mode(self, teacher: nn.Module, training: bool) -> None:
        """Put the teacher in its configured mode, given the runner's mode."""
        if self.mode == 'eval' or not training:
            teacher.eval()
            return
        teacher.train()
        if self.mode == 'norm_eval':
            for module in teacher.modules():
                if isinstance(module, _NORM_LAYERS):
                    module.eval()

    @torch.no_grad()
    def update_ema(self, teacher: nn.Module, student: nn.Module) -> None:
        """``teacher = momentum * teacher + (1 - momentum) * student``; buffers are copied."""
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(self.momentum).add_(s.detach().to(t.dtype), alpha=1 - self.momentum)
        for t, s in zip(teacher.buffers(), student.buffers()):
            t.copy_(s)
