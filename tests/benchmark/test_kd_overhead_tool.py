"""tools/benchmark.py kd-overhead on a tiny budget: JSON keys, ratio and the docs row."""
import json
import os.path as osp
import subprocess
import sys

import torch

from mmkd.benchmark.report import append_row

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_kd_overhead_writes_json_and_docs_row(tmp_path):
    teacher_ckpt = tmp_path / 'teacher.pth'
    from mmkd.classification import ConvClassifier
    torch.save({'state_dict': ConvClassifier(channels=(32, 64, 128), convs_per_stage=2)
                .state_dict()}, teacher_ckpt)
    json_path, docs = tmp_path / 'kd.json', tmp_path / 'BENCH.md'
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'kd-overhead', 'configs/digits/kd_cnn_digits.py',
         '--iters', '2', '--repeats', '2', '--json', str(json_path), '--docs', str(docs),
         '--cfg-options', f'model.teachers.teacher.checkpoint={teacher_ckpt}'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(json_path.read_text())
    for key in ('kd_step_s', 'student_step_s', 'teacher_fwd_s', 'ratio'):
        assert result[key] > 0, key
    assert len(result['ratios']) == 2
    for i, ratio in enumerate(result['ratios']):
        expected = result['samples']['kd_step_s'][i] / (
            result['samples']['student_step_s'][i] + result['samples']['teacher_fwd_s'][i])
        assert abs(ratio - expected) < 1e-12
    text = docs.read_text()
    assert '## KD overhead' in text and 'kd_cnn_digits.py' in text
    assert f"{result['ratio']:.3f}" in text and 'tools/benchmark.py kd-overhead' in text


def test_append_row_keeps_other_sections(tmp_path):
    docs = str(tmp_path / 'B.md')
    append_row(docs, 'A', ['x', 'y'], ['1', '2'])
    append_row(docs, 'B', ['z'], ['3'])
    append_row(docs, 'A', ['x', 'y'], ['4', '5'])
    text = open(docs).read()
    section_a = text[text.index('## A'):text.index('## B')]
    assert '| 1 | 2 |' in section_a and '| 4 | 5 |' in section_a
    assert section_a.count('|---|---|') == 1
    assert '| 3 |' in text[text.index('## B'):]
