"""tools/benchmark.py pointcloud-ops on tiny sizes: JSON keys, speed-ups and the docs row."""
from conftest import REPO
import json
import subprocess
import sys


def test_pointcloud_ops_writes_json_and_docs_row(tmp_path):
    json_path, docs = tmp_path / 'pc.json', tmp_path / 'BENCH.md'
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'pointcloud-ops', '--num-clouds', '3',
         '--num-points', '40', '--k', '4', '--iters', '2', '--repeats', '2',
         '--json', str(json_path), '--docs', str(docs)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(json_path.read_text())
    for key in ('fps_baseline_s', 'fps_ours_s', 'knn_baseline_s', 'knn_ours_s'):
        assert result[key] > 0, key
        assert len(result['samples'][key]) == 2
    for op in ('fps', 'knn'):
        expected = result[f'{op}_baseline_s'] / result[f'{op}_ours_s']
        assert abs(result[f'{op}_speedup'] - expected) < 1e-12
        for i, s in enumerate(result['speedups'][op]):
            assert abs(s - result['samples'][f'{op}_baseline_s'][i] /
                       result['samples'][f'{op}_ours_s'][i]) < 1e-12
    assert (result['num_clouds'], result['num_points'], result['k']) == (3, 40, 4)
    assert 'threads' in result and 'command' in result
    text = docs.read_text()
    assert '## Point-cloud neighbour ops' in text and '3 x 40' in text
    assert f"{result['knn_speedup']:.2f}x" in text and f"{result['fps_speedup']:.2f}x" in text
    assert 'tools/benchmark.py pointcloud-ops' in text
