"""mmkd's registries: children of MMEngine's root registries, under the scope ``mmkd``.

Configs set ``default_scope = 'mmkd'``; the stock MMEngine ``Runner`` then finds mmkd's models,
datasets, metrics and hooks here, and falls back to MMEngine's own for the rest. ``locations``
are imported lazily the first time a registry is asked for a name.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmkd',
                  locations=['mmkd.distill', 'mmkd.classification', 'mmkd.pointcloud', 'mmkd.vlm',
                             'mmkd.diffusion', 'mmkd.crossmodal'])
# Distillation losses: ``KDLoss``, ``DKDLoss``, ... (connectors are ordinary MODELS).
LOSSES = Registry('distillation loss', scope='mmkd',
                  locations=['mmkd.distill.losses', 'mmkd.pointcloud.losses', 'mmkd.vlm.losses',
                             'mmkd.crossmodal.losses'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmkd',
                    locations=['mmkd.shared.label_subsets', 'mmkd.distill',
                               'mmkd.classification', 'mmkd.pointcloud', 'mmkd.vlm',
                               'mmkd.diffusion', 'mmkd.crossmodal'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='mmkd',
                      locations=['mmkd.shared.model_inputs', 'mmkd.classification',
                                 'mmkd.pointcloud'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmkd',
                   locations=['mmkd.classification', 'mmkd.vlm'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope='mmkd')
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmkd', locations=['mmkd.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='mmkd')
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='mmkd')
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, scope='mmkd')
MODEL_WRAPPERS = Registry('model wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='mmkd')
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='mmkd')
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmkd')
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='mmkd')
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope='mmkd')
VISBACKENDS = Registry('vis backend', parent=MMENGINE_VISBACKENDS, scope='mmkd')
# Edge export: per model class name, a function ``model -> [ExportGraph]``
# (mmkd.engine.graph_export). Each modality's ``edge_graphs`` module registers its own and is
# imported with its package, which a model of that class needs anyway.
EXPORTERS = Registry('edge exporter', scope='mmkd')
