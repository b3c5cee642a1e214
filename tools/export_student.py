"""Export a distilled student alone: ``python tools/export_student.py CONFIG CHECKPOINT OUT``.

Writes OUT (``{'state_dict': ...}`` with the student's keys only) and OUT's config beside it.
"""
import argparse

from mmkd.engine.export import export_student

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Export the student of a distillation run.')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('out', help='output .pth path')
    parser.add_argument('--student', help='which peer to export (mutual learning)')
    args = parser.parse_args()
    written = export_student(args.config, args.checkpoint, args.out, args.student)
    print(f"student checkpoint: {written['checkpoint']}\nstudent config: {written['config']}")
