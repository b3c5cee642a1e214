"""Run a distillation config's teachers once and cache what the distiller records from them:
``python tools/cache_teacher.py CONFIG [--num-augs K] [--out DIR]``.

Train from the cache with a config that sets ``model.teacher_cache`` and wraps the training set in
a ``TeacherCacheDataset`` (e.g. ``configs/digits/kd_cnn_digits_cached.py``); see
:mod:`mmkd.distill.cache`.
"""
import argparse

from mmengine.config import DictAction

from mmkd.distill.cache import write_teacher_cache
from mmkd.engine.cli import run_tool
from mmkd.engine.runner import load_config

def main() -> None:
    parser = argparse.ArgumentParser(description="Cache a distillation config's teacher outputs.")
    parser.add_argument('config', help='a distillation config (plain or cached)')
    parser.add_argument('--num-augs', type=int,
                        help="augmentations per sample (default: the config's cache, else 4)")
    parser.add_argument('--out', help="cache directory (default: the config's cache path, else "
                                      'work_dirs/teacher_cache/<config name>)')
    parser.add_argument('--seed', type=int,
                        help="augmentation seed (default: the config's cache, else "
                             'randomness.seed)')
    parser.add_argument('--batch-size', type=int, help='default: the training batch size')
    parser.add_argument('--shard-size-mb', type=float, default=256.0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, as for tools/train.py')
    args = parser.parse_args()
    cfg = load_config(args.config, cfg_options=args.cfg_options)
    out = write_teacher_cache(cfg, args.out, args.num_augs, args.seed, args.batch_size,
                              args.shard_size_mb)
    print(f'teacher cache: {out}')


if __name__ == '__main__':
    run_tool(main)
