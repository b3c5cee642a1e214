"""Train a model from an MMEngine config: ``python tools/train.py CONFIG [options]``."""
import argparse

from mmengine.config import DictAction

from mmkd.engine.cli import run_tool
from mmkd.engine.runner import train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train (or distil) a model with MMEngine.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from a checkpoint, or from the latest one in the work dir '
                             'when no path is given')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=5')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    train(args.config, work_dir=args.work_dir, resume=args.resume,
          cfg_options=args.cfg_options, launcher=args.launcher)


if __name__ == '__main__':
    run_tool(main)
