from .algorithms import Distill, MutualLearning
from .cache import TeacherCache, TeacherCacheDataset, write_teacher_cache
from .connectors import ConvConnector, LinearConnector, MLPConnector
from .distiller import Distiller
from .recorders import ModuleRecorder, RecorderGroup
from .teacher import TeacherSpec

__all__ = ['Distill', 'MutualLearning', 'ConvConnector', 'LinearConnector', 'MLPConnector',
           'Distiller', 'ModuleRecorder', 'RecorderGroup', 'TeacherSpec', 'TeacherCache',
           'TeacherCacheDataset', 'write_teacher_cache']
