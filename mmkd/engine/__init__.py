from .hooks import AtomicCheckpointHook, EpochSeedHook, FiniteTrainingHook

__all__ = ['AtomicCheckpointHook', 'EpochSeedHook', 'FiniteTrainingHook']
