"""Run an experiment (teacher, scratch, distilled students) and print its report table:
``python tools/run_experiment.py configs/experiments/digits_kd.py``."""
import argparse
import glob
import os.path as osp

from mmkd.engine.cli import run_tool
from mmkd.engine.experiment import run_experiment

def main() -> None:
    parser = argparse.ArgumentParser(description='Run a list of training runs and report.')
    parser.add_argument('config', help='experiment config')
    parser.add_argument('--work-dir')
    parser.add_argument('--only', nargs='+', help='run only these runs (by name)')
    args = parser.parse_args()
    outcome = run_experiment(args.config, args.work_dir, args.only)
    figures = sorted(glob.glob(osp.join(osp.dirname(outcome['report']), '*.png')))
    print(f"\n{outcome['table']}\n\nreport: {outcome['report']}\nfigures: {', '.join(figures)}")


if __name__ == '__main__':
    run_tool(main)
