"""How a trained model's outputs look as distillation targets, on a split of its config's data:
accuracy, calibration (NLL, ECE) and the softness of its labels at a temperature.

    python tools/analyze_outputs.py CONFIG CHECKPOINT [--split train] [--temperature 4]
        [--passes 2] [--out stats.json]

Run it on a teacher and on the scratch student to set the teacher's targets beside what the
student predicts by itself.
"""
import argparse
import json

from mmengine.config import DictAction

from mmkd.engine.cli import run_tool
from mmkd.engine.model_outputs import output_stats
from mmkd.fileio import atomic_write_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='train', choices=('train', 'val', 'test'))
    parser.add_argument('--temperature', type=float, default=4.0)
    parser.add_argument('--passes', type=int, default=1, choices=(1, 2),
                        help='2: also the KL between the outputs on two draws of the '
                             'augmentations')
    parser.add_argument('--out', help='also write the statistics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    stats = output_stats(args.config, args.checkpoint, args.split, args.temperature,
                         args.passes, args.cfg_options)
    text = json.dumps(stats, indent=2)
    print(text)
    if args.out:
        atomic_write_bytes(text.encode(), args.out)


if __name__ == '__main__':
    run_tool(main)
