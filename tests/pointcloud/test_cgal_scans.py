"""Real 3D scans (Debian libcgal-demo, fetched with `apt-get download` into work_dirs/, never
committed) through mmkd's readers, datasets, open3d, the view renderers and a PointNet; and the
odd files among them: coloured OFF, face colours, a header that miscounts, faces missing, a
non-manifold mesh, an 8-point cloud."""
import os
import os.path as osp

import numpy as np
import open3d as o3d
import pytest
import torch
from torch.utils.data import default_collate

from conftest import REPO
from mmkd.errors import InvalidValueError
from mmkd.pointcloud.cgal_scans import fetch_cgal_scans
from mmkd.pointcloud.datasets import ModelNetFolder, PointCloudFolder
from mmkd.pointcloud.models import PointNetClassifier
from mmkd.pointcloud.point_files import normalize_points, read_mesh, read_points
from mmkd.pointcloud.views import project_depth_views, render_mesh_depth, save_view_grid

ANIMALS = ('bunny00', 'armadillo', 'elephant', 'cow')


@pytest.fixture(scope='module')
def scans() -> str:
    return fetch_cgal_scans(osp.join(REPO, 'work_dirs', 'cgal_scans'))


@pytest.mark.parametrize('name', ANIMALS)
def test_meshes_read_as_open3d_reads_them(scans, name):
    path = osp.join(scans, 'meshes', f'{name}.off')
    vertices, triangles = read_mesh(path)
    mesh = o3d.io.read_triangle_mesh(path)
    assert np.allclose(vertices, np.asarray(mesh.vertices))
    assert np.array_equal(triangles, np.asarray(mesh.triangles))


def link_dataset(scans: str, root: str) -> None:
    """``root/<class>/test/<file>``: the animal meshes as one class, a tetrahedron-ish CAD part
    and a fandisk as another (ModelNet's layout), and the scanned point sets."""
    layout = dict(animal=[f'meshes/{n}.off' for n in ANIMALS],
                  cad=['meshes/fandisk.off', 'meshes/cube.off', 'meshes/cross.off'])
    for cls, files in layout.items():
        os.makedirs(osp.join(root, 'meshes', cls, 'test'))
        for f in files:
            os.symlink(osp.join(scans, f), osp.join(root, 'meshes', cls, 'test', osp.basename(f)))
    os.makedirs(osp.join(root, 'points', 'scan'))
    for f in ('kitten.xyz', 'hippo1.ply', 'oni.ply', 'cube.xyz'):
        os.symlink(osp.join(scans, 'points_3', f), osp.join(root, 'points', 'scan', f))


def test_scans_through_datasets_views_and_a_pointnet(scans, tmp_path):
    link_dataset(scans, str(tmp_path))
    meshes = ModelNetFolder(str(tmp_path / 'meshes'), split='test', num_points=512)
    points = PointCloudFolder(str(tmp_path / 'points'), num_points=512)
    assert meshes.metainfo['classes'] == ('animal', 'cad') and len(meshes) == 7 and len(points) == 4
    batch = default_collate([meshes[i] for i in range(len(meshes))] +
                            [points[i] for i in range(len(points))])
    clouds = batch['inputs']
    assert clouds.shape == (11, 512, 3) and torch.isfinite(clouds).all()
    assert torch.allclose(clouds.norm(dim=-1).amax(1), torch.ones(11), atol=1e-5)
    # the same file gives the same points (seeded per file)
    assert torch.equal(meshes[0]['inputs'], meshes[0]['inputs'])

    views = project_depth_views(clouds, num_views=6, image_size=32)
    assert views.shape == (11, 6, 1, 32, 32)
    covered = (views > 0).float().mean((2, 3, 4))  # share of each view the silhouette covers
    cube = 7  # cube.xyz: 8 corners, 4 of them seen from each side, each a 3x3-px splat
    assert torch.allclose(covered[cube], torch.full((6,), 4 * 9 / 32 ** 2))
    others = torch.cat([covered[:cube], covered[cube + 1:]])
    assert (others > 0.15).all() and (others < 0.5).all()
    grid = save_view_grid(views[:4], sorted(ANIMALS), str(tmp_path / 'views.png'))
    assert osp.getsize(grid) > 1000

    bunny = read_mesh(osp.join(scans, 'meshes', 'bunny00.off'))
    vertices = normalize_points(bunny[0])
    rendered = render_mesh_depth((vertices, bunny[1]), num_views=6, image_size=32)
    splatted = project_depth_views(torch.tensor(vertices, dtype=torch.float32)[None],
                                   num_views=6, image_size=32, radius=0)[0, :, 0].numpy()
    hit, drawn = rendered > 0, splatted > 0  # a pixel's centre ray hits / a vertex falls in it
    iou = (hit & drawn).sum((1, 2)) / (hit | drawn).sum((1, 2))
    assert (iou > 0.75).all()  # ray casting the mesh and splatting its 37 k vertices agree

    model = PointNetClassifier(channels=(32, 64), head_channels=(32,), num_classes=2).eval()
    with torch.no_grad():
        logits = model(clouds, None, mode='tensor')
    assert logits.shape == (11, 2) and torch.isfinite(logits).all()


def test_odd_files_work_or_get_clear_errors(scans):
    meshes = osp.join(scans, 'meshes')
    # COFF: per-vertex RGBA after x y z
    vertices, triangles = read_mesh(osp.join(meshes, 'cactus.off'))
    assert vertices.shape == (620, 3) and triangles.shape == (1236, 3)
    # per-face colours after the indices
    assert read_mesh(osp.join(meshes, 'quint_tris.off'))[1].shape[1] == 3
    # a header that declares 7 faces over 8 face rows
    with pytest.raises(InvalidValueError, match=r'prim.off: the header declares 11 vertices and 7 '
                                                r'faces \(18 rows\) but 19 rows follow'):
        read_mesh(osp.join(meshes, 'prim.off'))
    # vertices and no faces: not a mesh, but a point cloud
    with pytest.raises(InvalidValueError, match=r'b9.ply.: 22300 vertices and no faces'):
        read_mesh(osp.join(meshes, 'b9.ply'))
    assert read_points(osp.join(meshes, 'b9.ply')).shape == (22300, 3)
    assert read_points(osp.join(scans, 'points_3', 'kitten.off')).shape == (5210, 3)
    # a non-manifold mesh samples like any other
    vertices, triangles = read_mesh(osp.join(meshes, 'polygon_mesh.off'))
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices),
                                     o3d.utility.Vector3iVector(triangles))
    assert not mesh.is_vertex_manifold()
    # the largest mesh (44 k vertices) and the smallest cloud (8 points) both work
    assert read_mesh(osp.join(meshes, 'refined_elephant.off'))[0].shape == (44460, 3)
    assert read_points(osp.join(scans, 'points_3', 'cube.xyz')).shape == (8, 3)
