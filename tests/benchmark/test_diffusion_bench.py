"""tools/benchmark.py diffusion on tiny random UNets: JSON keys, metrics, grids and docs rows."""
from conftest import REPO
import hashlib
import importlib.util
import json
import math
import os.path as osp
import shlex
import sys

import pytest
import torch

TINY_UNET = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                 layers_per_block=1, norm_num_groups=4)
# v-prediction: a random epsilon UNet's x0 at t=999 is ~1e4 x the noise, so every sampler would
# give sign(noise) after clamping and all samplers would look alike. No x0 clipping, so that a
# student that is the teacher samples exactly like the teacher's samplers.
SCHEDULER = dict(prediction_type='v_prediction', clip_sample=False)
CLASSIFIER = dict(type='ConvClassifier', in_channels=1, channels=(4, 8))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    from mmengine.registry import init_default_scope

    import mmkd.classification  # noqa: F401
    import mmkd.diffusion  # noqa: F401
    from mmkd.registry import MODELS
    root = tmp_path_factory.mktemp('diffusion_bench')
    init_default_scope('mmkd')
    config = root / 'tiny_unet.py'
    config.write_text(f"default_scope = 'mmkd'\nmodel = dict(type='DiffusionModel', "
                      f"unet={TINY_UNET!r}, scheduler={SCHEDULER!r})\n")
    torch.manual_seed(0)
    unet = MODELS.build(dict(type='DiffusionModel', unet=TINY_UNET, scheduler=SCHEDULER))
    torch.save(dict(state_dict=unet.state_dict(), meta={}), root / 'teacher.pth')
    torch.save(dict(state_dict=unet.state_dict(), meta={}), root / 'student.pth')
    classifier = MODELS.build(CLASSIFIER)
    torch.save(dict(state_dict=classifier.state_dict(), meta=dict(cfg=f'model = {CLASSIFIER!r}')),
               root / 'clf.pth')
    return dict(root=root, config=str(config), teacher=str(root / 'teacher.pth'),
                student=str(root / 'student.pth'), classifier=str(root / 'clf.pth'))


def test_parse_student():
    from mmkd.benchmark.diffusion import parse_student
    assert parse_student('pd=a.py:b.pth') == dict(name='pd', config='a.py', checkpoint='b.pth',
                                                  sampler=None)
    assert parse_student('cd=a.py:b.pth:consistency')['sampler'] == 'consistency'
    for bad in ('a.py:b.pth', 'x=a.py', 'x=a.py:b.pth:euler'):
        with pytest.raises(ValueError):
            parse_student(bad)


def test_measure_diffusion(files, tmp_path):
    from mmkd.benchmark.diffusion import measure_diffusion, table_rows
    students = [f"same={files['config']}:{files['student']}",
                f"cm={files['config']}:{files['student']}:consistency"]
    r = measure_diffusion((files['config'], files['teacher']), students, files['classifier'],
                          steps=(1, 2), num_samples=8, seed=0, repeats=1, time_batch=4,
                          grid_dir=str(tmp_path / 'grids'), progress=False)
    keys = {'teacher_ddim_100'} | {f'{k}_{n}' for n in (1, 2)
                                   for k in ('same', 'cm', 'teacher_ddim', 'teacher_dpmpp')}
    assert set(r['samplers']) == keys and r['reference'] == 'teacher_ddim_100'
    for key, s in r['samplers'].items():
        for field in ('fd', 'mse_vs_reference', 'seconds_per_sample', 'time_ratio'):
            assert math.isfinite(s[field]) and s[field] >= 0, (key, field)
        assert osp.isfile(s['grid'])
    assert math.isfinite(r['noise_floor']) and r['noise_floor_samples'] == 8
    ref = r['samplers']['teacher_ddim_100']
    assert ref['mse_vs_reference'] == 0 and ref['time_ratio'] == 1 and ref['steps'] == 100
    # the "student" is the teacher: its DDIM equals the teacher's, sample for sample
    for n in (1, 2):
        same, teacher = r['samplers'][f'same_{n}'], r['samplers'][f'teacher_ddim_{n}']
        assert same['timesteps'] == teacher['timesteps'] and len(same['timesteps']) == n
        assert same['fd'] == teacher['fd'] and same['mse_vs_reference'] == \
            teacher['mse_vs_reference']
    # few-step samplers do differ from the 100-step reference
    assert r['samplers']['teacher_ddim_1']['mse_vs_reference'] > 0
    assert r['samplers']['teacher_dpmpp_2']['mse_vs_reference'] > 0
    assert r['samplers']['cm_2']['timesteps'] == [999, 499]
    assert r['samplers']['teacher_dpmpp_2']['sampler'] == 'dpm-solver++'
    assert [s['sampler'] for s in r['students']] == ['ddim', 'consistency']
    assert len(table_rows(r)) == len(keys)
    json.dumps(r)  # serialisable


def test_progressive_students_sample_only_their_own_step_count(files):
    from mmkd.benchmark.diffusion import _load, _samplers
    teacher = _load(files['config'], files['teacher'])
    pd = dict(_load(files['config'], files['student']), name='pd2', sampler='ddim',
              type='ProgressiveDistillation', trained_steps=2)
    plain = dict(_load(files['config'], files['student']), name='plain', sampler='ddim')
    keys = [e['key'] for e in _samplers(teacher, [pd, plain], (1, 2, 4), 100, 0)]
    assert [k for k in keys if k.startswith('pd2')] == ['pd2_2']
    assert [k for k in keys if k.startswith('plain')] == ['plain_1', 'plain_2', 'plain_4']


def test_teacher_samplers_clip_x0_as_the_teacher_scheduler_says(files, tmp_path):
    from mmkd.benchmark.diffusion import _load, _samplers
    from mmkd.diffusion.sampling import ddim_sample
    config = tmp_path / 'clipping_teacher.py'  # DDPMScheduler's default: clip_sample=True
    config.write_text(f"default_scope = 'mmkd'\nmodel = dict(type='DiffusionModel', "
                      f"unet={TINY_UNET!r}, scheduler=dict(prediction_type='epsilon'))\n")
    teacher = _load(str(config), files['teacher'])
    entries = {e['key']: e for e in _samplers(teacher, [], (2,), 100, 0)}
    noise = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    model = teacher['model']
    with torch.no_grad():
        got = entries['teacher_ddim_2']['run'](noise, None)
        clipped, unclipped = (ddim_sample(model.unet, model.alphas_cumprod, [999, 499], noise,
                                          'epsilon', clip_sample=c) for c in (True, False))
        dpm = entries['teacher_dpmpp_2']['run'](noise, None)
    torch.testing.assert_close(got, clipped)
    assert not torch.allclose(clipped, unclipped) and unclipped.abs().max() > 10
    assert dpm.abs().max() <= 1 + 1e-5  # thresholding at the same range: x0 in [-1, 1]


def _tool():
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  osp.join(REPO, 'tools', 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def test_tool_docs_rows_and_docs_none(files, tmp_path, monkeypatch):
    tool = _tool()
    args = ['diffusion', '--teacher', files['config'], files['teacher'],
            '--students', f"same={files['config']}:{files['student']}",
            '--classifier', files['classifier'], '--steps', '1', '2', '--num-samples', '8',
            '--seed', '0', '--repeats', '1', '--time-batch', '4',
            '--grid-dir', str(tmp_path / 'grids'), '--json', str(tmp_path / 'd.json')]
    docs = tmp_path / 'BENCH.md'
    monkeypatch.setattr(sys, 'argv', ['tools/benchmark.py', *args, '--docs', str(docs)])
    tool.main()
    command = 'python ' + ' '.join(shlex.quote(a) for a in
                                   ['tools/benchmark.py', *args, '--docs', str(docs)])
    result = json.loads((tmp_path / 'd.json').read_text())
    assert result['command'] == command
    text = docs.read_text()
    assert '## Diffusion samplers on the digits' in text
    rows = [line for line in text.splitlines() if line.startswith('| 20')]
    assert len(rows) == 1 + 2 * 3
    assert all(line.endswith(f'| `{command}` |') for line in rows)
    assert f"{result['noise_floor']:.3f}" in rows[0]
    assert osp.isfile(tmp_path / 'grids' / 'teacher_dpmpp_2.png')

    real_docs = osp.join(REPO, 'docs', 'BENCHMARKS.md')
    before = _digest(real_docs)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', ['tools/benchmark.py', *args, '--docs', 'none'])
    tool.main()
    assert _digest(real_docs) == before
    assert not (tmp_path / 'docs').exists()
