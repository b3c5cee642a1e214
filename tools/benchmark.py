"""Benchmarks that write JSON and a row in docs/BENCHMARKS.md.

    python tools/benchmark.py kd-overhead CONFIG --iters 20 --repeats 5
    python tools/benchmark.py pointcloud-ops --repeats 5
    python tools/benchmark.py diffusion --teacher CONFIG CKPT --students NAME=CONFIG:CKPT[:SAMPLER]
        --classifier CKPT --steps 1 2 4 8 --num-samples 500 --seed 0
"""
import argparse
import os.path as osp
import shlex
import sys

import torch

from mmengine.config import DictAction

from mmkd.benchmark import diffusion as diffusion_bench
from mmkd.benchmark.kd_overhead import measure_kd_overhead
from mmkd.benchmark.pointcloud_ops import measure_pointcloud_ops
from mmkd.benchmark.report import append_row, machine_info, write_json


def publish(args: argparse.Namespace, command: str, name: str, result: dict, summary: str,
            section: str, header: list, row: list) -> None:
    """Write the JSON, print the summary, and add the row (with the command) to the docs."""
    result.update(machine_info(), command=command)
    json_path = args.json or osp.join('work_dirs', 'bench', f'{name}.json')
    write_json(result, json_path)
    print(f'{summary}\nwrote {json_path}')
    if args.docs != 'none':
        append_row(args.docs, section, header, [result['date'], *row, f'`{command}`'])


def kd_overhead(args: argparse.Namespace, command: str) -> None:
    r = measure_kd_overhead(args.config, args.iters, args.repeats, args.cfg_options)
    ms = {k: f'{1000 * r[k]:.2f}' for k in ('kd_step_s', 'student_step_s', 'teacher_fwd_s')}
    summary = (f"kd step {ms['kd_step_s']} ms | student step {ms['student_step_s']} ms | "
               f"teacher forward {ms['teacher_fwd_s']} ms | ratio kd / (student + teacher) = "
               f"{r['ratio']:.3f} (per repeat: {', '.join(f'{x:.3f}' for x in r['ratios'])})")
    publish(args, command, 'kd_overhead', r, summary, 'KD overhead',
            ['date', 'config', 'batch', 'KD step (ms)', 'student step (ms)', 'teacher fwd (ms)',
             'ratio (median of repeats)', 'command'],
            [osp.basename(args.config), str(r['batch_size']), ms['kd_step_s'],
             ms['student_step_s'], ms['teacher_fwd_s'], f"{r['ratio']:.3f}"])


def pointcloud_ops(args: argparse.Namespace, command: str) -> None:
    r = measure_pointcloud_ops(args.num_clouds, args.num_points, args.ratio, args.k,
                               args.repeats, args.iters)
    ms = {k: f'{1000 * r[k]:.2f}' for k in
          ('fps_baseline_s', 'fps_ours_s', 'knn_baseline_s', 'knn_ours_s')}
    summary = (f"{args.num_clouds} clouds x {args.num_points} points | fps (ratio {args.ratio}): "
               f"baseline {ms['fps_baseline_s']} ms, ours {ms['fps_ours_s']} ms, speed-up "
               f"{r['fps_speedup']:.2f}x | knn (k={args.k}): baseline {ms['knn_baseline_s']} ms, "
               f"ours {ms['knn_ours_s']} ms, speed-up {r['knn_speedup']:.2f}x")
    publish(args, command, 'pointcloud_ops', r, summary, 'Point-cloud neighbour ops',
            ['date', 'clouds x points', 'ratio', 'k', 'threads', 'fps baseline (ms)',
             'fps ours (ms)', 'fps speed-up', 'knn baseline (ms)', 'knn ours (ms)',
             'knn speed-up', 'command'],
            [f'{args.num_clouds} x {args.num_points}', str(args.ratio), str(args.k),
             str(torch.get_num_threads()), ms['fps_baseline_s'], ms['fps_ours_s'],
             f"{r['fps_speedup']:.2f}x", ms['knn_baseline_s'], ms['knn_ours_s'],
             f"{r['knn_speedup']:.2f}x"])


def diffusion(args: argparse.Namespace, command: str) -> None:
    r = diffusion_bench.measure_diffusion(
        args.teacher, args.students, args.classifier, args.steps, args.num_samples, args.seed,
        args.reference_steps, args.batch_size, args.repeats, args.time_batch, args.grid_dir,
        args.grids_to)
    rows = diffusion_bench.table_rows(r)
    header = diffusion_bench.TABLE_HEADER
    publish(args, command, 'diffusion', r, diffusion_bench.summary(r), diffusion_bench.SECTION,
            header, rows[0])
    if args.docs != 'none':
        for row in rows[1:]:
            append_row(args.docs, diffusion_bench.SECTION, header,
                       [r['date'], *row, f'`{command}`'])


def main() -> None:
    parser = argparse.ArgumentParser(description='mmkd benchmarks')
    sub = parser.add_subparsers(dest='benchmark', required=True)
    kd = sub.add_parser('kd-overhead', help='KD step vs student step + teacher forward')
    kd.add_argument('config')
    kd.add_argument('--iters', type=int, default=20)
    kd.add_argument('--repeats', type=int, default=5)
    kd.add_argument('--cfg-options', nargs='+', action=DictAction)
    pc = sub.add_parser('pointcloud-ops',
                        help='batched fps/knn (mmkd.pointcloud) vs a per-cloud loop')
    pc.add_argument('--num-clouds', type=int, default=16)
    pc.add_argument('--num-points', type=int, default=1024)
    pc.add_argument('--ratio', type=float, default=0.25)
    pc.add_argument('--k', type=int, default=16)
    pc.add_argument('--iters', type=int, default=5, help='interleaved calls per repeat')
    pc.add_argument('--repeats', type=int, default=5)
    df = sub.add_parser('diffusion', help='few-step samplers: FD, MSE vs teacher, time')
    df.add_argument('--teacher', nargs=2, metavar=('CONFIG', 'CKPT'), required=True)
    df.add_argument('--students', nargs='*', default=[], metavar='NAME=CONFIG:CKPT[:SAMPLER]',
                    help="SAMPLER: 'ddim' or 'consistency' (default: from the config)")
    df.add_argument('--classifier', required=True, help='digits feature classifier checkpoint')
    df.add_argument('--steps', nargs='+', type=int, default=[1, 2, 4, 8])
    df.add_argument('--num-samples', type=int, default=500)
    df.add_argument('--seed', type=int, default=0)
    df.add_argument('--reference-steps', type=int, default=100)
    df.add_argument('--batch-size', type=int, default=250)
    df.add_argument('--repeats', type=int, default=3)
    df.add_argument('--time-batch', type=int, default=32, help='samples per timed call')
    df.add_argument('--grid-dir', default=osp.join('work_dirs', 'bench', 'diffusion_grids'))
    df.add_argument('--grids-to', help='also copy the grids there (e.g. docs/images)')
    for p in (kd, pc, df):
        p.add_argument('--json', help='output JSON path (default work_dirs/bench/<name>.json)')
        p.add_argument('--docs', default='docs/BENCHMARKS.md',
                       help="markdown file to add a row to, or 'none'")
    args = parser.parse_args()
    command = 'python ' + ' '.join(shlex.quote(a) for a in ['tools/benchmark.py'] + sys.argv[1:])
    {'kd-overhead': kd_overhead, 'pointcloud-ops': pointcloud_ops,
     'diffusion': diffusion}[args.benchmark](args, command)


if __name__ == '__main__':
    main()
