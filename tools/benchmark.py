"""Benchmarks that write JSON and a row in docs/BENCHMARKS.md.

    python tools/benchmark.py kd-overhead CONFIG --iters 20 --repeats 5
"""
import argparse
import os.path as osp
import shlex
import sys

from mmengine.config import DictAction

from mmkd.benchmark.kd_overhead import measure_kd_overhead
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


def main() -> None:
    parser = argparse.ArgumentParser(description='mmkd benchmarks')
    sub = parser.add_subparsers(dest='benchmark', required=True)
    kd = sub.add_parser('kd-overhead', help='KD step vs student step + teacher forward')
    kd.add_argument('config')
    kd.add_argument('--iters', type=int, default=20)
    kd.add_argument('--repeats', type=int, default=5)
    kd.add_argument('--cfg-options', nargs='+', action=DictAction)
    for p in (kd,):
        p.add_argument('--json', help='output JSON path (default work_dirs/bench/<name>.json)')
        p.add_argument('--docs', default='docs/BENCHMARKS.md',
                       help="markdown file to add a row to, or 'none'")
    args = parser.parse_args()
    command = 'python ' + ' '.join(shlex.quote(a) for a in ['tools/benchmark.py'] + sys.argv[1:])
    {'kd-overhead': kd_overhead}[args.benchmark](args, command)


if __name__ == '__main__':
    main()
