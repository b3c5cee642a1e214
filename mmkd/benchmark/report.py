"""Benchmark output: a JSON file and a row in a markdown table of ``docs/BENCHMARKS.md``."""
import json
import os.path as osp
import platform
import time
from typing import Any, Dict, List

import torch

from mmkd.fileio import atomic_write_bytes


def machine_info() -> Dict[str, Any]:
    return dict(date=time.strftime('%Y-%m-%d %H:%M'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine())


def write_json(result: Dict[str, Any], path: str) -> None:
    atomic_write_bytes(json.dumps(result, indent=2).encode(), path)


def append_row(docs: str, section: str, header: List[str], row: List[str]) -> None:
    """Append ``row`` to the table under ``## section`` in ``docs`` (created when missing)."""
    text = open(docs).read() if osp.isfile(docs) else '# Benchmarks\n'
    line = '| ' + ' | '.join(row) + ' |\n'
    title = f'## {section}\n'
    if title not in text:
        table = ('| ' + ' | '.join(header) + ' |\n' + '|' + '---|' * len(header) + '\n')
        text = text.rstrip('\n') + f'\n\n{title}\n{table}{line}'
    else:
        start = text.index(title)
        end = text.find('\n## ', start + len(title))
        end = len(text) if end == -1 else end + 1
        body = text[start:end].rstrip('\n') + '\n' + line
        text = text[:start] + body + ('\n' if end < len(text) else '') + text[end:]
    atomic_write_bytes(text.encode(), docs)
