from .hooks import EpochSeedHook
from .checkpoint import (AtomicLocalBackend, allow_mmengine_checkpoint_types, atomic_torch_save,
                         load_state_dict_file, load_weights)

__all__ = ['EpochSeedHook', 'AtomicLocalBackend', 'allow_mmengine_checkpoint_types', 'atomic_torch_save',
           'load_state_dict_file', 'load_weights']
