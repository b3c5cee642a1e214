"""Export to a stock diffusers pipeline (loaded without mmkd) and to ONNX."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import REPO, TINY_UNET
from mmkd.diffusion.edge_graphs import check_onnx_unet, export_unet_onnx
from mmkd.diffusion.models import DiffusionModel
from mmkd.diffusion.pipeline_export import export_pipeline
from mmkd.diffusion.sampling import sample_like_pipeline
from mmkd.engine.student import build_student

ENV = dict(os.environ, OMP_NUM_THREADS='1')

# Runs in a fresh interpreter: stock diffusers only, never mmkd.
GENERATE = r'''
import json, sys
import numpy as np, torch
from diffusers import DiffusionPipeline
for folder, steps in json.loads(sys.argv[1]):
    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    for n in steps:
        images = pipe(batch_size=2, num_inference_steps=n, output_type='np',
                      generator=torch.Generator().manual_seed(123)).images
        np.save(f'{folder}/generated_{n}.npy', images)
    print(folder, type(pipe).__name__, type(pipe.scheduler).__name__)
assert 'mmkd' not in sys.modules
'''


def write_config(tmp_path, prediction_type):
    path = tmp_path / f'tiny_{prediction_type}.py'
    path.write_text(f"default_scope = 'mmkd'\nmodel = dict(type='DiffusionModel', "
                    f"unet={TINY_UNET!r}, scheduler=dict(prediction_type={prediction_type!r}))\n")
    return str(path)


def tiny_model(prediction_type, seed):
    torch.manual_seed(seed)
    return DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type=prediction_type)).eval()


def ema_checkpoint(path, ema_model, raw_model):
    """An MMEngine EMAHook-style checkpoint: EMA in state_dict, raw weights in ema_state_dict."""
    ema_state = {'steps': torch.tensor(10)}
    ema_state.update({f'module.{k}': v for k, v in raw_model.state_dict().items()})
    torch.save(dict(state_dict=ema_model.state_dict(), ema_state_dict=ema_state,
                    meta=dict(iter=10)), path)
    return str(path)


def test_exported_pipeline_runs_our_sampler_without_mmkd(tmp_path):
    v_model, v_raw = tiny_model('v_prediction', 0), tiny_model('v_prediction', 1)
    v_ckpt = ema_checkpoint(tmp_path / 'v.pth', v_model, v_raw)
    v_out = str(tmp_path / 'v_pipeline')
    done = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'export_sampler.py'),
                           write_config(tmp_path, 'v_prediction'), v_ckpt, v_out, '--steps', '4'],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ('model_index.json', 'unet/config.json', 'scheduler/scheduler_config.json'):
        assert osp.isfile(osp.join(v_out, name)), name
    info = json.load(open(osp.join(v_out, 'mmkd_export.json')))
    assert info['timesteps'] == [999, 749, 499, 249] and info['ema_weights'] is True
    assert info['max_abs_diff'] <= 1e-5
    scheduler_cfg = json.load(open(osp.join(v_out, 'scheduler', 'scheduler_config.json')))
    assert scheduler_cfg['_class_name'] == 'DDIMScheduler'
    assert (scheduler_cfg['timestep_spacing'], scheduler_cfg['set_alpha_to_one'],
            scheduler_cfg['clip_sample'], scheduler_cfg['prediction_type']) == \
        ('trailing', True, False, 'v_prediction')

    # epsilon model, 3 steps (does not divide 1000): 'stride' spacing, exported in-process
    e_model = tiny_model('epsilon', 2)
    e_ckpt = str(tmp_path / 'e.pth')
    torch.save(dict(state_dict=e_model.state_dict(), meta=dict(iter=0)), e_ckpt)
    e_out = str(tmp_path / 'e_pipeline')
    info = export_pipeline(write_config(tmp_path, 'epsilon'), e_ckpt, e_out, 3, spacing='stride')
    assert info['timesteps'] == [998, 665, 332] and info['ema_weights'] is False
    assert (info['timestep_spacing'], info['steps_offset']) == ('leading', 332)

    jobs = [(v_out, [1, 2, 4]), (e_out, [3])]
    done = subprocess.run([sys.executable, '-c', GENERATE, json.dumps(jobs)], cwd=str(tmp_path),
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'DDIMPipeline DDIMScheduler' in done.stdout
    for model, out, spacing, steps in ((v_model, v_out, 'trailing', [1, 2, 4]),
                                       (e_model, e_out, 'stride', [3])):
        for n in steps:
            theirs = np.load(osp.join(out, f'generated_{n}.npy'))
            ours = sample_like_pipeline(model.unet, model.scheduler, n, seed=123, batch_size=2,
                                        spacing=spacing).permute(0, 2, 3, 1).numpy()
            assert theirs.shape == (2, 8, 8, 1)
            assert np.abs(theirs - ours).max() <= 1e-5, (out, n)
    # the EMA weights were exported, not the raw ones
    raw = sample_like_pipeline(v_raw.unet, v_raw.scheduler, 4, 123, 2).permute(0, 2, 3, 1)
    assert np.abs(np.load(osp.join(v_out, 'generated_4.npy')) - raw.numpy()).max() > 1e-3
    # v-prediction images are not saturated: the comparison is not trivially 0 == 0 or 1 == 1
    images = np.load(osp.join(v_out, 'generated_4.npy'))
    assert ((images > 0) & (images < 1)).mean() > 0.5


def test_export_refuses_timesteps_the_stock_scheduler_cannot_step(tmp_path):
    model = tiny_model('epsilon', 0)
    ckpt = str(tmp_path / 'm.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    with pytest.raises(ValueError, match=r"t - 1000 // 3 = t - 333.*spacing='stride'"):
        export_pipeline(write_config(tmp_path, 'epsilon'), ckpt, str(tmp_path / 'out'), 3)
    with pytest.raises(ValueError, match="only 'ddim'"):
        export_pipeline(write_config(tmp_path, 'epsilon'), ckpt, str(tmp_path / 'o'), 4,
                        scheduler='dpm')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        export_pipeline(write_config(tmp_path, 'epsilon'), str(tmp_path / 'missing.pth'),
                        str(tmp_path / 'o'), 4)


def test_export_takes_the_student_of_a_distillation_checkpoint(tmp_path):
    student, teacher = tiny_model('v_prediction', 0), tiny_model('epsilon', 1)
    state = {f'student.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teachers.teacher.{k}': v for k, v in teacher.state_dict().items()})
    ckpt = str(tmp_path / 'distill.pth')
    torch.save(dict(state_dict=state), ckpt)
    cfg = Config(dict(default_scope='mmkd', model=dict(
        type='SomeStepDistillation',
        student=dict(type='DiffusionModel', unet=TINY_UNET,
                     scheduler=dict(prediction_type='v_prediction')),
        teacher=dict(type='DiffusionModel', unet=TINY_UNET))))
    model, is_ema = build_student(cfg, ckpt)
    assert not is_ema and model.prediction_type == 'v_prediction'
    for k, v in student.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)
    torch.save(dict(state_dict={'student.unet.other': torch.zeros(1)}), ckpt)
    with pytest.raises(KeyError, match=r"\(keys under 'student.'\) does not fit DiffusionModel"):
        build_student(cfg, ckpt)


def test_onnx_unet_matches_pytorch_with_a_dynamic_batch(tmp_path):
    import onnx
    unet = tiny_model('epsilon', 0).unet
    path = export_unet_onnx(unet, str(tmp_path / 'unet.onnx'))
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ['sample', 'timestep']
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'
    diff = check_onnx_unet(unet, path, batch_size=3)        # exported with batch 2
    assert diff <= 1e-4, diff
