"""Benchmarks that write JSON and a row in docs/BENCHMARKS.md.

    python tools/benchmark.py kd-overhead CONFIG --iters 20 --repeats 5
    python tools/benchmark.py pointcloud-ops --repeats 5
"""
import argparse
import os.path as osp
import shlex
import sys

from mmengine.config import DictAction

from mmkd.benchmark.kd_overhead import measure_kd_overhead
from mmkd.benchmark.pointcloud_ops import measure_pointcloud_ops
from mmkd.benchmark.report import append_row, machine_info, write_json


def kd_overhead(args: argparse.Namespace, command: str) -> None:
    result = measure_kd_overhead(args.config, args.iters, args.repeats, args.cfg_options)
    result.update(machine_info(), command=command)
    json_path = args.json or osp.join('work_dirs', 'bench', 'kd_overhead.json')
    write_json(result, json_path)
    print(f"kd step {1000 * result['kd_step_s']:.2f} ms | student step "
          f"{1000 * result['student_step_s']:.2f} ms | teacher forward "
          f"{1000 * result['teacher_fwd_s']:.2f} ms | ratio kd / (student + teacher) = "
          f"{result['ratio']:.3f} (per repeat: "
          f"{', '.join(f'{r:.3f}' for r in result['ratios'])})\nwrote {json_path}")
    if args.docs != 'none':
        append_row(args.docs, 'KD overhead',
                   ['date', 'config', 'batch', 'KD step (ms)', 'student step (ms)',
                    'teacher fwd (ms)', 'ratio (median of repeats)', 'command'],
                   [result['date'], osp.basename(args.config), str(result['batch_size']),
                    f"{1000 * result['kd_step_s']:.2f}", f"{1000 * result['student_step_s']:.2f}",
                    f"{1000 * result['teacher_fwd_s']:.2f}", f"{result['ratio']:.3f}",
                    f'`{command}`'])


def pointcloud_ops(args: argparse.Namespace, command: str) -> None:
    result = measure_pointcloud_ops(args.num_clouds, args.num_points, args.ratio, args.k,
                                    args.repeats, args.iters)
    result.update(machine_info(), command=command)
    json_path = args.json or osp.join('work_dirs', 'bench', 'pointcloud_ops.json')
    write_json(result, json_path)
    print(f"{args.num_clouds} clouds x {args.num_points} points | fps (ratio {args.ratio}): "
          f"baseline {1000 * result['fps_baseline_s']:.2f} ms, ours "
          f"{1000 * result['fps_ours_s']:.2f} ms, speed-up {result['fps_speedup']:.2f}x | "
          f"knn (k={args.k}): baseline {1000 * result['knn_baseline_s']:.2f} ms, ours "
          f"{1000 * result['knn_ours_s']:.2f} ms, speed-up {result['knn_speedup']:.2f}x"
          f"\nwrote {json_path}")
    if args.docs != 'none':
        append_row(args.docs, 'Point-cloud neighbour ops',
                   ['date', 'clouds x points', 'ratio', 'k', 'threads', 'fps baseline (ms)',
                    'fps ours (ms)', 'fps speed-up', 'knn baseline (ms)', 'knn ours (ms)',
                    'knn speed-up', 'command'],
                   [result['date'], f'{args.num_clouds} x {args.num_points}', str(args.ratio),
                    str(args.k), str(result['threads']),
                    f"{1000 * result['fps_baseline_s']:.2f}", f"{1000 * result['fps_ours_s']:.2f}",
                    f"{result['fps_speedup']:.2f}x", f"{1000 * result['knn_baseline_s']:.2f}",
                    f"{1000 * result['knn_ours_s']:.2f}", f"{result['knn_speedup']:.2f}x",
                    f'`{command}`'])


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
    for p in (kd, pc):
        p.add_argument('--json', help='output JSON path (default work_dirs/bench/<name>.json)')
        p.add_argument('--docs', default='docs/BENCHMARKS.md',
                       help="markdown file to add a row to, or 'none'")
    args = parser.parse_args()
    command = 'python ' + ' '.join(shlex.quote(a) for a in ['tools/benchmark.py'] + sys.argv[1:])
    {'kd-overhead': kd_overhead, 'pointcloud-ops': pointcloud_ops}[args.benchmark](args, command)


if __name__ == '__main__':
    main()
