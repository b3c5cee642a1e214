"""Render point clouds of a config's dataset to a PNG, with a model's predictions when a
checkpoint is given::

    python tools/render_pointclouds.py CONFIG [CHECKPOINT] [--out PATH] [--num N]
                                       [--split test|train] [--seed S] [--cfg-options ...]

With CHECKPOINT, titles read ``pred: <class> (gt: <class>)`` (green when right, red when wrong);
for a distillation config the student is rendered (a full distillation checkpoint or one written
by ``tools/export_student.py``). Without it, titles are ``gt: <class>``. Default OUT:
``work_dirs/renders/<config stem>.png``. Prints the PNG's path.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmkd.engine.cli import run_tool
from mmkd.errors import InvalidValueError, MissingFileError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Render point clouds (and predictions) to a PNG.')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='model checkpoint (optional)')
    parser.add_argument('--out', help='output PNG (default work_dirs/renders/<config>.png)')
    parser.add_argument('--num', type=int, default=8, help='number of clouds (default 8)')
    parser.add_argument('--split', choices=('test', 'train'), default='test',
                        help="which dataloader's dataset to draw from (default test)")
    parser.add_argument('--seed', type=int, default=0, help='sample choice and transforms seed')
    parser.add_argument('--ncols', type=int, default=4, help='grid columns (default 4)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. test_dataloader.dataset.cache_dir=DIR')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.num < 1:
        raise InvalidValueError(f'--num must be >= 1, got {args.num}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise MissingFileError(f'checkpoint file {args.checkpoint!r} does not exist')

    import torch

    from mmkd.engine.student import build_student
    from mmkd.engine.runner import load_config
    from mmkd.pointcloud.visualize import (pick_indices, predict_samples, render_samples,
                                           sample_color, sample_title)
    from mmkd.registry import DATASETS

    cfg = load_config(args.config, cfg_options=args.cfg_options)
    out = args.out or osp.join('work_dirs', 'renders',
                               osp.splitext(osp.basename(args.config))[0] + '.png')
    dataset = DATASETS.build(cfg.get(f'{args.split}_dataloader').dataset)
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    indices = pick_indices(dataset.labels, args.num, args.seed)
    model = None if args.checkpoint is None else build_student(cfg, args.checkpoint)[0]

    with torch.random.fork_rng(devices=[]):  # seeded random transforms (e.g. SamplePoints)
        torch.manual_seed(args.seed)
        if model is None:
            samples = [dict(points=dataset[i]['inputs'].numpy(), pred=None,
                            gt=int(dataset.labels[i])) for i in indices]
        else:
            samples = predict_samples(model, dataset, indices, progress=len(indices) > 64)

    titles = [sample_title(classes, s['gt'], s['pred']) for s in samples]
    colors = [sample_color(s['pred'], s['gt']) for s in samples]
    path = render_samples([s['points'] for s in samples], titles, out, colors=colors,
                          ncols=args.ncols)
    if args.checkpoint is not None:
        correct = sum(s['pred'] == s['gt'] for s in samples)
        print(f'{correct}/{len(samples)} predictions correct')
    print(path)
    return path


if __name__ == '__main__':
    run_tool(main)
