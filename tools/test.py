"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import json

from mmengine.config import DictAction

from mmkd.engine.cli import run_tool
from mmkd.engine.runner import test

def main() -> None:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint on the test set.')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    metrics = test(args.config, args.checkpoint, args.work_dir, args.cfg_options)
    print(json.dumps(metrics, indent=2))


if __name__ == '__main__':
    run_tool(main)
