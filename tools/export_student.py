"""Export a distilled student alone: ``python tools/export_student.py CONFIG CHECKPOINT OUT``.

Writes OUT (``{'state_dict': ...}`` with the student's keys only) and OUT's config beside it.
With ``--format onnx`` or ``--format torchscript``, OUT is a directory: one graph per file
(``model``, ``image_encoder`` + ``text_encoder`` for CLIP, ``unet``), each checked against
PyTorch after reloading, and ``export.json`` (see :mod:`mmkd.engine.graph_export`).
"""
import argparse
import sys

from mmkd.engine.cli import run_tool
from mmkd.engine.graph_export import FORMATS, export_student_edge
from mmkd.engine.student import export_student

def main() -> None:
    parser = argparse.ArgumentParser(description='Export the student of a distillation run.')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('out', help='output .pth path, or directory for onnx / torchscript')
    parser.add_argument('--student', help='which peer to export (mutual learning)')
    parser.add_argument('--format', default='pth', choices=('pth', *FORMATS),
                        help='pth: student-only checkpoint + config; onnx / torchscript: '
                             'edge graphs checked against PyTorch')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='onnx / torchscript: fail when an export differs from PyTorch by more')
    args = parser.parse_args()
    if args.format == 'pth':
        written = export_student(args.config, args.checkpoint, args.out, args.student)
        print(f"student checkpoint: {written['checkpoint']}\n"
              f"student config: {written['config']}")
    else:
        info = export_student_edge(args.config, args.checkpoint, args.out, args.format,
                                   args.student)
        for name, graph in info['graphs'].items():
            print(f"{name}: {graph['path']} ({', '.join(graph['inputs'])} -> "
                  f"{', '.join(graph['outputs'])}), max abs diff vs PyTorch "
                  f"{graph['max_abs_diff']:.2e}")
        off = [name for name, graph in info['graphs'].items() if graph['max_abs_diff'] > args.atol]
        if off:
            sys.exit(f'export differs from PyTorch by more than --atol {args.atol}: {off}')


if __name__ == '__main__':
    run_tool(main)
