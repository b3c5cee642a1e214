"""Export a diffusion model as a stock diffusers pipeline folder for N-step sampling.

``python tools/export_sampler.py CONFIG CHECKPOINT OUT_DIR --steps N [--scheduler ddim]
[--spacing trailing|stride] [--raw-weights] [--onnx]``

Then, without mmkd: ``DiffusionPipeline.from_pretrained(OUT_DIR)(num_inference_steps=N,
generator=torch.Generator().manual_seed(0))`` runs mmkd's DDIM sampler over the same timesteps.
"""
import argparse
import json

from mmkd.diffusion.pipeline_export import export_pipeline
from mmkd.engine.cli import run_tool

def main() -> None:
    parser = argparse.ArgumentParser(description='Export a few-step diffusers DDIMPipeline.')
    parser.add_argument('config', help='the training config (a DiffusionModel or a distillation '
                                       'config whose student is one)')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('out_dir', help='the pipeline folder to write')
    parser.add_argument('--steps', type=int, required=True, help='sampling steps N')
    parser.add_argument('--scheduler', choices=['ddim'], default='ddim')
    parser.add_argument('--spacing', choices=['trailing', 'stride', 'leading'],
                        default='trailing',
                        help="timestep spacing the model is sampled with ('stride' exports "
                             'any N; trailing needs N to divide num_train_timesteps)')
    parser.add_argument('--raw-weights', action='store_true',
                        help='export the raw training weights instead of the EMA ones')
    parser.add_argument('--onnx', action='store_true',
                        help='also write OUT_DIR/unet.onnx and check it in onnxruntime')
    args = parser.parse_args()
    from diffusers.utils import logging as diffusers_logging
    diffusers_logging.disable_progress_bar()
    info = export_pipeline(args.config, args.checkpoint, args.out_dir, args.steps,
                           scheduler=args.scheduler, spacing=args.spacing,
                           ema=not args.raw_weights, onnx=args.onnx)
    print(json.dumps(info, indent=2))


if __name__ == '__main__':
    run_tool(main)
