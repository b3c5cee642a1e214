"""Edge-export graph of the diffusion UNet (:mod:`mmkd.engine.graph_export`), and its ONNX export
and onnxruntime check, which the pipeline export (:mod:`mmkd.diffusion.pipeline_export`) also
writes beside a diffusers folder."""
import os
import os.path as osp
import warnings
from typing import Any, List, Tuple

import torch
from torch import Tensor

from mmkd.engine.graph_export import CHECK_BATCH, ExportGraph
from mmkd.registry import EXPORTERS


class UNetTensorOutput(torch.nn.Module):
    """``(sample [N, C, H, W] float32, timestep [N] int64) -> output [N, C, H, W]``."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: Tensor, timestep: Tensor) -> Tensor:
        return self.unet(sample, timestep).sample


def unet_example_inputs(unet: Any, batch_size: int, seed: int) -> Tuple[Tensor, Tensor]:
    """A seeded ``(sample, timestep)`` batch of the UNet's input shape, for export checks."""
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn((batch_size, unet.config.in_channels, *size), generator=g)
    timestep = torch.randint(0, 1000, (batch_size,), generator=g)
    return sample, timestep


def export_unet_onnx(unet: torch.nn.Module, path: str, opset: int = 17) -> str:
    """Export ``unet`` to ONNX with inputs ``sample`` (float32 ``[N, C, H, W]``) and ``timestep``
    (int64 ``[N]``, one per sample), output ``out``; the batch dimension is dynamic. Uses the
    TorchScript exporter (``dynamo=False``: no onnxscript needed)."""
    module = UNetTensorOutput(unet).eval()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # TracerWarnings from diffusers' shape checks
        torch.onnx.export(module, unet_example_inputs(unet, 2, 0), path,
                          input_names=['sample', 'timestep'], output_names=['out'],
                          dynamic_axes={'sample': {0: 'batch'}, 'timestep': {0: 'batch'},
                                        'out': {0: 'batch'}},
                          opset_version=opset, dynamo=False)
    return path


def check_onnx_unet(unet: torch.nn.Module, path: str, batch_size: int = 3,
                    seed: int = 1) -> float:
    """Max abs difference between onnxruntime (CPU) and PyTorch on random inputs of a batch size
    other than the export's (so the dynamic batch is exercised)."""
    import onnxruntime
    sample, timestep = unet_example_inputs(unet, batch_size, seed)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    theirs = session.run(None, {'sample': sample.numpy(), 'timestep': timestep.numpy()})[0]
    with torch.no_grad():
        ours = UNetTensorOutput(unet).eval()(sample, timestep)
    return float((torch.from_numpy(theirs) - ours).abs().max())


@EXPORTERS.register_module(name='DiffusionModel')
def unet_graphs(model: torch.nn.Module) -> List[ExportGraph]:
    unet = model.unet
    return [ExportGraph(
        'unet', UNetTensorOutput(unet),
        lambda batch_size, seed: unet_example_inputs(unet, batch_size, seed),
        ['sample', 'timestep'], ['out'],
        onnx_export=lambda path: export_unet_onnx(unet, path),
        onnx_check=lambda path: check_onnx_unet(unet, path, CHECK_BATCH, seed=1))]
