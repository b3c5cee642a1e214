from .hooks import EpochSeedHook

__all__ = ['EpochSeedHook']
