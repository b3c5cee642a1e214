"""Benchmarks that write JSON and a row in docs/BENCHMARKS.md.

    python tools/benchmark.py kd-overhead CONFIG --iters 20 --repeats 5 [--cache DIR]
        [--torchdistill]
    python tools/benchmark.py pointcloud-ops --repeats 5
    python tools/benchmark.py diffusion --teacher CONFIG CKPT --students NAME=CONFIG:CKPT[:SAMPLER]
        --classifier CKPT --steps 1 2 4 8 --num-samples 500 --seed 0
    python tools/benchmark.py edge-export CONFIG [CONFIG ...] --repeats 5 --iters 20
"""
import argparse
import os.path as osp
import shlex
import sys

import torch

from mmengine.config import DictAction

from mmkd.benchmark import diffusion as diffusion_bench
from mmkd.benchmark import edge_export_cost as edge_bench
from mmkd.benchmark.kd_overhead import measure_kd_overhead
from mmkd.benchmark.pointcloud_ops import measure_pointcloud_ops
from mmkd.benchmark.report import append_row, machine_info, write_json
from mmkd.engine.cli import run_tool


def publish(args: argparse.Namespace, command: str, name: str, result: dict, summary: str,
            section: str, header: list, row: list, more_rows: tuple = ()) -> None:
    """Write the JSON, print the summary, and add the rows (with the command) to the docs."""
    result.update(machine_info(), command=command)
    json_path = args.json or osp.join('work_dirs', 'bench', f'{name}.json')
    write_json(result, json_path)
    print(f'{summary}\nwrote {json_path}')
    if args.docs != 'none':
        for r in (row, *more_rows):
            append_row(args.docs, section, header, [result['date'], *r, f'`{command}`'])


def kd_overhead(args: argparse.Namespace, command: str) -> None:
    r = measure_kd_overhead(args.config, args.iters, args.repeats, args.cfg_options, args.cache,
                            args.torchdistill)
    kinds = ['kd_step', 'student_step', 'teacher_fwd', 'cached_kd_step']
    if args.torchdistill:
        kinds.append('torchdistill_kd_step')
    ms = {k: f"{1000 * r[k + '_s']:.2f}" for k in kinds}
    mb = {k: f"{r['peak_bytes'][k] / 2 ** 20:.1f}" for k in kinds}
    td = (f"{ms['torchdistill_kd_step']} ({mb['torchdistill_kd_step']} MB)"
          if args.torchdistill else '–')
    td_ratio = f"{r['torchdistill_ratio']:.3f}" if args.torchdistill else '–'
    summary = '\n'.join(
        [f"{k}: {ms[k]} ms, peak {mb[k]} MB" for k in kinds] +
        [f"ratio kd / (student + teacher) = {r['ratio']:.3f} (per repeat: "
         f"{', '.join(f'{x:.3f}' for x in r['ratios'])})",
         f"ratio cached kd / student = {r['cached_ratio']:.3f} (per repeat: "
         f"{', '.join(f'{x:.3f}' for x in r['cached_ratios'])})"] +
        ([f"ratio kd / torchdistill kd = {td_ratio} (per repeat: "
          f"{', '.join(f'{x:.3f}' for x in r['torchdistill_ratios'])})"]
         if args.torchdistill else []))
    publish(args, command, 'kd_overhead', r, summary, 'KD overhead',
            ['date', 'config', 'batch', 'KD step (ms, peak MB)', 'student step (ms, peak MB)',
             'teacher fwd (ms)', 'ratio (median of repeats)', 'cached KD step (ms, peak MB)',
             'cached KD / student', 'torchdistill KD step (ms, peak MB)', 'KD / torchdistill KD',
             'command'],
            [osp.basename(args.config), str(r['batch_size']),
             f"{ms['kd_step']} ({mb['kd_step']} MB)",
             f"{ms['student_step']} ({mb['student_step']} MB)", ms['teacher_fwd'],
             f"{r['ratio']:.3f}", f"{ms['cached_kd_step']} ({mb['cached_kd_step']} MB)",
             f"{r['cached_ratio']:.3f}", td, td_ratio])


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
    publish(args, command, 'diffusion', r, diffusion_bench.summary(r), diffusion_bench.SECTION,
            diffusion_bench.TABLE_HEADER, rows[0], rows[1:])


def edge_export(args: argparse.Namespace, command: str) -> None:
    r = edge_bench.measure_edge_export(args.configs, args.out_dir, args.repeats, args.iters)
    rows = edge_bench.table_rows(r)
    publish(args, command, 'edge_export', r, edge_bench.summary(r), edge_bench.SECTION,
            edge_bench.TABLE_HEADER, rows[0], rows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description='mmkd benchmarks')
    sub = parser.add_subparsers(dest='benchmark', required=True)
    kd = sub.add_parser('kd-overhead', help='KD step vs student step + teacher forward, and '
                                             'a KD step from a teacher-output cache')
    kd.add_argument('config')
    kd.add_argument('--cache', help="a teacher-output cache of CONFIG (default: the config's own, "
                                    'else one with 1 augmentation per sample, made for the run)')
    kd.add_argument('--torchdistill', action='store_true',
                    help='also time the same KD step in torchdistill (make bench-deps)')
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
    ee = sub.add_parser('edge-export', help='students exported to ONNX / TorchScript (parity) '
                        'and their params, MACs and latency against the teachers')
    ee.add_argument('configs', nargs='+', help='distillation configs')
    ee.add_argument('--repeats', type=int, default=5)
    ee.add_argument('--iters', type=int, default=20, help='interleaved forwards per repeat')
    ee.add_argument('--out-dir', default=osp.join('work_dirs', 'bench', 'edge_export'),
                    help='where the exported graphs go')
    for p in (kd, pc, df, ee):
        p.add_argument('--json', help='output JSON path (default work_dirs/bench/<name>.json)')
        p.add_argument('--docs', default='docs/BENCHMARKS.md',
                       help="markdown file to add a row to, or 'none'")
    args = parser.parse_args()
    command = 'python ' + ' '.join(shlex.quote(a) for a in ['tools/benchmark.py'] + sys.argv[1:])
    {'kd-overhead': kd_overhead, 'pointcloud-ops': pointcloud_ops,
     'diffusion': diffusion, 'edge-export': edge_export}[args.benchmark](args, command)


if __name__ == '__main__':
    run_tool(main)
