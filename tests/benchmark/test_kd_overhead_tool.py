"""tools/benchmark.py kd-overhead on a tiny budget: JSON keys, ratio and the docs row."""
import json
import subprocess
import sys

import torch

from conftest import REPO
from mmkd.benchmark.report import append_row


def test_kd_overhead_writes_json_and_docs_row(tmp_path):
    teacher_ckpt = tmp_path / 'teacher.pth'
    from mmkd.classification import ConvClassifier
    torch.save({'state_dict': ConvClassifier(channels=(32, 64, 128), convs_per_stage=2)
                .state_dict()}, teacher_ckpt)
    json_path, docs = tmp_path / 'kd.json', tmp_path / 'BENCH.md'
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'kd-overhead', 'configs/digits/kd_cnn_digits.py',
         '--iters', '2', '--repeats', '2', '--json', str(json_path), '--docs', str(docs),
         '--torchdistill',
         '--cfg-options', f'model.teachers.teacher.checkpoint={teacher_ckpt}'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(json_path.read_text())
    for key in ('kd_step_s', 'student_step_s', 'teacher_fwd_s', 'ratio', 'cached_kd_step_s',
                'cached_ratio', 'torchdistill_kd_step_s', 'torchdistill_ratio'):
        assert result[key] > 0, key
    # the KD step holds the student's activations and gradients: more than the teacher forward
    peak = result['peak_bytes']
    assert set(peak) == {'kd_step', 'student_step', 'teacher_fwd', 'cached_kd_step',
                         'torchdistill_kd_step'}
    assert peak['kd_step'] > peak['student_step'] > 0 and peak['teacher_fwd'] > 0
    assert len(result['ratios']) == len(result['cached_ratios']) == 2
    for i, (ratio, cached_ratio) in enumerate(zip(result['ratios'], result['cached_ratios'])):
        samples = {k: v[i] for k, v in result['samples'].items()}
        expected = samples['kd_step_s'] / (samples['student_step_s'] + samples['teacher_fwd_s'])
        assert abs(ratio - expected) < 1e-12
        assert abs(cached_ratio - samples['cached_kd_step_s'] / samples['student_step_s']) < 1e-12
    text = docs.read_text()
    assert '## KD overhead' in text and 'kd_cnn_digits.py' in text
    assert f"{result['ratio']:.3f}" in text and 'tools/benchmark.py kd-overhead' in text
    assert f"| {result['cached_ratio']:.3f} |" in text and 'cached KD / student' in text
    assert f"| {result['torchdistill_ratio']:.3f} |" in text


def test_peak_step_memory_sees_a_temporary_allocation():
    from mmkd.benchmark.kd_overhead import peak_step_memory
    keep = []
    assert peak_step_memory(lambda: torch.empty(2 ** 18).sum()) >= 2 ** 20  # 1 MiB, freed
    assert peak_step_memory(lambda: keep.append(torch.ones(2 ** 16))) >= 2 ** 18
    assert peak_step_memory(lambda: None) == 0


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
