"""Edge export (``mmkd.engine.graph_export``, ``tools/export_student.py --format``): every modality's
student to ONNX and TorchScript, reloaded and compared with the model's own API on new inputs
of another batch size than the export's."""
import json
import os
import os.path as osp
import subprocess
import sys

import onnx
import onnxruntime
import pytest
import torch
from mmengine.registry import init_default_scope

from conftest import REPO
from mmkd.benchmark.edge_export_cost import count_macs, count_used_parameters
from mmkd.engine.graph_export import (FORMATS, edge_graphs, export_graph, export_model,
                                      export_student_edge)
from mmkd.fileio import atomic_torch_save
from mmkd.registry import MODELS

CLIP_CFG = dict(embed_dim=16,
                vision_cfg=dict(image_size=16, layers=1, width=16, patch_size=8, head_width=8),
                text_cfg=dict(context_length=12, vocab_size=49408, width=16, heads=2, layers=1))
TINY_UNET = dict(sample_size=8, block_out_channels=(8, 16), norm_num_groups=4,
                 down_block_types=('DownBlock2D', 'AttnDownBlock2D'),
                 up_block_types=('AttnUpBlock2D', 'UpBlock2D'))
CONFIGS = dict(
    digits=dict(type='ConvClassifier', channels=(4, 8)),
    pointnet=dict(type='PointNetClassifier', channels=(8, 16), head_channels=(8,),
                  num_classes=5),
    clip=dict(type='OpenCLIPModel', model_cfg=CLIP_CFG),
    unet=dict(type='DiffusionModel', unet=TINY_UNET))
CAPTIONS = ['a red cube', 'two small blue spheres on a table', 'nothing', 'a green cone']


def build(name):
    init_default_scope('mmkd')
    torch.manual_seed(0)
    model = MODELS.build(CONFIGS[name]).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():  # non-trivial BN statistics, so eval-mode BN is really exported
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def new_inputs_and_reference(name, model, batch_size=4):
    """Inputs (one per graph input, batch 4: exported with 2) and the model's own outputs."""
    g = torch.Generator().manual_seed(7)
    if name == 'digits':
        x = torch.rand(batch_size, 1, 8, 8, generator=g)
        return dict(model=((x,), model(x, mode='tensor')))
    if name == 'pointnet':
        points = torch.rand(batch_size, 512, 3, generator=g) * 2 - 1
        return dict(model=((points,), model(points, mode='tensor')))
    if name == 'clip':
        images = torch.rand(batch_size, 3, 16, 16, generator=g)
        return dict(image_encoder=((images,), model.encode_image(images)),
                    text_encoder=((model.tokenize(CAPTIONS),), model.encode_text(CAPTIONS)))
    sample = torch.randn(batch_size, 1, 8, 8, generator=g)
    timestep = torch.tensor([0, 17, 500, 999])
    return dict(unet=((sample, timestep), model.denoise(sample, timestep)))


def run_export(path, fmt, inputs, input_names):
    if fmt == 'torchscript':
        return torch.jit.load(path)(*inputs)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    feed = {n: x.numpy() for n, x in zip(input_names, inputs)}
    return torch.from_numpy(session.run(None, feed)[0])


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_export_matches_pytorch_with_a_new_batch_size(tmp_path, name, fmt):
    model = build(name)
    written = export_model(model, str(tmp_path), fmt)
    with torch.no_grad():
        expected = new_inputs_and_reference(name, model)
        assert sorted(written) == sorted(expected)
        for graph, (inputs, reference) in expected.items():
            info = written[graph]
            assert info['path'] == str(tmp_path / (graph + ('.onnx' if fmt == 'onnx' else '.pt')))
            assert info['max_abs_diff'] < 1e-4           # the exporter's own check (batch 3)
            out = run_export(info['path'], fmt, inputs, info['inputs'])
            assert out.shape == reference.shape and out.shape[0] == 4
            assert float((out - reference).abs().max()) < 1e-4
            if fmt == 'onnx':
                proto = onnx.load(info['path']).graph
                assert [i.name for i in proto.input] == info['inputs']
                assert [o.name for o in proto.output] == info['outputs']
                assert all(i.type.tensor_type.shape.dim[0].dim_param for i in proto.input)


def test_clip_graphs_are_separate_towers(tmp_path):
    model = build('clip')
    graphs = {g.name: g for g in edge_graphs(model)}
    assert list(graphs) == ['image_encoder', 'text_encoder']
    visual = sum(p.numel() for p in model.clip.visual.parameters())
    text = sum(p.numel() for n, p in model.clip.named_parameters()
               if not n.startswith('visual.') and n != 'logit_scale')
    assert count_used_parameters(graphs['image_encoder']) == visual
    assert count_used_parameters(graphs['text_encoder']) == text


def test_parameter_and_mac_counts_of_the_digits_student():
    graph, = edge_graphs(build('digits'))
    # conv 1->4 (3x3, 8x8 map) + BN 4 + conv 4->8 (3x3, 4x4 map) + BN 8 + linear 8->10
    assert count_used_parameters(graph) == 36 + 8 + 288 + 16 + 90
    assert count_macs(graph) == 4 * 9 * 64 + 8 * 4 * 9 * 16 + 8 * 10


def test_dgcnn_exports_to_torchscript_and_names_why_not_onnx(tmp_path):
    init_default_scope('mmkd')
    model = MODELS.build(dict(type='DGCNNClassifier', k=4, channels=(8, 8), emb_channels=16,
                              head_channels=(8,), num_classes=5)).eval()
    written = export_model(model, str(tmp_path), 'torchscript')
    points = torch.rand(3, 512, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        diff = (torch.jit.load(written['model']['path'])(points) - model(points)).abs().max()
    assert float(diff) < 1e-4
    with pytest.raises(ValueError, match=r"DGCNNClassifier: ONNX export is not supported .*"
                                         r"aten::bincount.*use format='torchscript'"):
        export_model(model, str(tmp_path), 'onnx')


def test_bad_format_and_models_without_a_wrapper(tmp_path):
    graph, = edge_graphs(build('digits'))
    with pytest.raises(ValueError, match=r"format: expected one of \('onnx', 'torchscript'\), "
                                         r"got 'tflite'"):
        export_graph(graph, str(tmp_path / 'x'), 'tflite')
    with pytest.raises(TypeError, match=r'^Linear: no edge-export wrapper; exportable models: '
                                        r'ConvClassifier, .*PointNetClassifier'):
        edge_graphs(torch.nn.Linear(2, 2))
    pointnet2 = MODELS.build(dict(type='PointNet2Classifier', num_classes=5, width=0.125))
    with pytest.raises(TypeError, match=r'^PointNet2Classifier: no edge-export wrapper'):
        export_model(pointnet2, str(tmp_path), 'torchscript')
    assert not os.listdir(tmp_path)


def test_tool_exports_the_student_of_a_distillation_checkpoint(tmp_path):
    config = tmp_path / 'kd.py'
    config.write_text(
        "default_scope = 'mmkd'\n"
        "model = dict(type='Distill',\n"
        "    student=dict(type='ConvClassifier', channels=(4, 8)),\n"
        "    teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(8, 16)))),\n"
        "    distiller=dict(recorders=dict(student=dict(logits='head'),\n"
        "                                  teacher=dict(logits='head')),\n"
        "        connectors=dict(s=dict(type='LinearConnector', in_channels=10,\n"
        "                               out_channels=10)),\n"
        "        losses=dict(kd=dict(type='KDLoss', inputs=dict(\n"
        "            student_logits=dict(source='student.logits', connector='s'),\n"
        "            teacher_logits='teacher.logits')))))\n")
    init_default_scope('mmkd')
    torch.manual_seed(0)
    from mmengine.config import Config
    algo = MODELS.build(Config.fromfile(str(config)).model).eval()
    ckpt = str(tmp_path / 'kd.pth')
    atomic_torch_save(dict(state_dict=algo.state_dict()), ckpt)
    out = tmp_path / 'edge'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'export_student.py'),
                           str(config), ckpt, str(out), '--format', 'onnx'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"model: {out / 'model.onnx'} (images -> logits), max abs diff vs PyTorch" \
        in proc.stdout
    info = json.loads((out / 'export.json').read_text())
    assert info['format'] == 'onnx' and info['model'] == 'ConvClassifier'
    assert info['graphs']['model']['max_abs_diff'] < 1e-4
    assert sorted(os.listdir(out)) == ['export.json', 'model.onnx']
    # Only the student is in the graph: no teacher or connector weights.
    proto = onnx.load(str(out / 'model.onnx')).graph
    assert sum(int(torch.tensor(i.dims).prod()) for i in proto.initializer) <= \
        sum(t.numel() for t in algo.student.state_dict().values())
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = algo(x, mode='tensor')
    got = run_export(str(out / 'model.onnx'), 'onnx', (x,), ['images'])
    assert float((got - expected).abs().max()) < 1e-4
    # The library call gives the same for TorchScript, and names a bad format.
    written = export_student_edge(str(config), ckpt, str(tmp_path / 'ts'), 'torchscript')
    assert written['graphs']['model']['max_abs_diff'] < 1e-4
    with pytest.raises(ValueError, match=r"format: expected one of .* got 'pth'"):
        export_student_edge(str(config), ckpt, str(tmp_path / 'bad'), 'pth')
