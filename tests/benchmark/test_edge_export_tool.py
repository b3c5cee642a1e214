"""tools/benchmark.py edge-export on a tiny budget: JSON, exported graphs and the docs row."""
from conftest import REPO
import json
import os
import subprocess
import sys


def test_edge_export_writes_json_exports_and_docs_row(tmp_path):
    json_path, docs, out_dir = tmp_path / 'ee.json', tmp_path / 'BENCH.md', tmp_path / 'exports'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'edge-export', 'configs/digits/kd_cnn_digits.py',
         '--repeats', '2', '--iters', '2', '--json', str(json_path), '--docs', str(docs),
         '--out-dir', str(out_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(json_path.read_text())
    graph, = result['graphs']
    assert graph['graph'] == 'model'
    assert graph['params'] == dict(teacher=288170, student=438)
    assert graph['macs']['student'] == 6992 < graph['macs']['teacher']
    assert len(graph['latency_ratios']) == 2
    for i, ratio in enumerate(graph['latency_ratios']):
        assert ratio == graph['samples']['student'][i] / graph['samples']['teacher'][i]
    assert graph['onnx_max_abs_diff'] < 1e-4 and graph['torchscript_max_abs_diff'] < 1e-4
    assert sorted(os.listdir(out_dir / 'kd_cnn_digits')) == ['model.onnx', 'model.pt']
    text = docs.read_text()
    assert '## Edge export' in text and '| kd_cnn_digits.py | model |' in text
    assert '| 288,170 | 438 |' in text and f"{graph['latency_ratio']:.3f}" in text
    assert '`python tools/benchmark.py edge-export configs/digits/kd_cnn_digits.py' in text
