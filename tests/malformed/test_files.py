"""Malformed files for every reader mmkd has: each case must end in an mmkd error (one family,
:class:`mmkd.errors.MMKDError`) whose message names the file; nothing crashes the process or
returns garbage."""
import gzip
import os.path as osp
import struct

import numpy as np
import pytest

from mmkd.errors import MMKDError
from mmkd.classification.fashion_mnist import IMAGES_MAGIC, read_idx
from mmkd.pointcloud.point_files import read_mesh, read_points
from mmkd.vlm.image_files import load_image

BOX_OFF = 'OFF\n8 12 0\n' + ''.join(f'{x} {y} {z}\n' for x in (0, 1) for y in (0, 1)
                                     for z in (0, 1)) + ''.join(
    f'3 {a} {b} {c}\n' for a, b, c in [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5),
                                       (0, 5, 1), (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4),
                                       (1, 5, 7), (1, 7, 3)])
POINTS = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)


def ply_points(binary: bool, points: np.ndarray = POINTS, declared: int = None) -> bytes:
    n = len(points) if declared is None else declared
    fmt = 'binary_little_endian' if binary else 'ascii'
    header = (f'ply\nformat {fmt} 1.0\nelement vertex {n}\nproperty float x\nproperty float y\n'
              'property float z\nend_header\n').encode()
    if binary:
        return header + points.astype('<f4').tobytes()
    return header + ''.join(f'{x} {y} {z}\n' for x, y, z in points).encode()


def pcd_points(binary: bool, points: np.ndarray = POINTS, declared: int = None) -> bytes:
    n = len(points) if declared is None else declared
    header = ('# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n'
              f'WIDTH {n}\nHEIGHT 1\nPOINTS {n}\nDATA {"binary" if binary else "ascii"}\n')
    if binary:
        return header.encode() + points.astype('<f4').tobytes()
    return (header + ''.join(f'{x} {y} {z}\n' for x, y, z in points)).encode()


def half(data: bytes) -> bytes:
    return data[:len(data) // 2]


# (case id, file name, bytes, reader)
CASES = [
    # PLY: open3d returned the header's count of points, the missing ones uninitialised memory
    ('ply-binary-truncated', 'a.ply', half(ply_points(True)), read_points),
    ('ply-ascii-short', 'a.ply', ply_points(False, declared=40), read_points),
    ('ply-header-only', 'a.ply', ply_points(True)[:ply_points(True).index(b'end_header') + 11],
     read_points),
    ('ply-count-above-rows', 'a.ply', ply_points(True, declared=21), read_points),
    ('ply-not-numbers', 'a.ply', ply_points(False).replace(b'end_header\n',
                                                           b'end_header\na b c\n'), read_points),
    ('ply-unknown-format', 'a.ply', ply_points(False).replace(b'ascii', b'ebcdic'), read_points),
    ('ply-no-header', 'a.ply', b'\x00' * 64, read_points),
    # OFF: an undercounting header crashed open3d (SIGSEGV); cut or overcounting files gave a
    # partial mesh made of face rows read as vertices
    ('off-header-undercounts-vertices', 'a.off', BOX_OFF.replace('8 12 0', '6 12 0').encode(),
     read_mesh),
    ('off-cut-in-half', 'a.off', half(BOX_OFF.encode()), read_mesh),
    ('off-header-overcounts-vertices', 'a.off', BOX_OFF.replace('8 12 0', '10 12 0').encode(),
     read_mesh),
    ('off-face-index-out-of-range', 'a.off', BOX_OFF.replace('3 1 7 3', '3 1 7 99').encode(),
     read_mesh),
    ('off-no-header', 'a.off', BOX_OFF[3:].encode(), read_mesh),
    ('off-binary-junk', 'a.off', bytes(range(256)), read_mesh),
    ('off-empty', 'a.off', b'', read_mesh),
    ('off-degenerate', 'a.off', b'OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n', read_mesh),
    ('off-nan-vertex', 'a.off', BOX_OFF.replace('0 0 0\n', 'nan 0 0\n', 1).encode(), read_mesh),
    # PCD, XYZ, NPY
    ('pcd-binary-truncated', 'a.pcd', half(pcd_points(True)), read_points),
    ('pcd-ascii-short', 'a.pcd', pcd_points(False, declared=30), read_points),
    ('pcd-no-xyz', 'a.pcd', pcd_points(False).replace(b'FIELDS x y z', b'FIELDS a b c'),
     read_points),
    ('pcd-no-data-line', 'a.pcd', pcd_points(False).split(b'DATA')[0], read_points),
    ('xyz-ragged-rows', 'a.xyz', b'0 0 0\n1 1\n2 2 2\n', read_points),
    ('xyz-not-numbers', 'a.xyz', b'0 0 0\n1 one 1\n', read_points),
    ('xyz-one-point', 'a.xyz', b'0.5 0.5 0.5\n', read_points),
    ('xyz-all-points-equal', 'a.xyz', b'1 2 3\n' * 64, read_points),
    ('xyz-infinite', 'a.xyz', b'0 0 0\n1 inf 1\n', read_points),
    ('points-empty-file', 'a.ply', b'', read_points),
    ('points-unknown-suffix', 'a.las', b'0 0 0\n1 1 1\n', read_points),
    ('npy-random-bytes', 'a.npy', bytes(range(200)), read_points),
    ('npy-wrong-shape', 'a.npy', None, read_points),  # written below: a [N, 2] array
    ('npy-pickled-objects', 'a.npy', None, read_points),  # written below: an object array
    # images
    ('image-truncated-png', 'a.png', None, load_image),  # written below
    ('image-random-bytes', 'a.png', bytes(range(256)) * 4, load_image),
    ('image-empty', 'a.jpg', b'', load_image),
]


def write(tmp_path, case, name, data):
    path = str(tmp_path / name)
    if case == 'npy-wrong-shape':
        np.save(path, np.zeros((5, 2)))
    elif case == 'npy-pickled-objects':
        np.save(path, np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
    elif case == 'image-truncated-png':
        from PIL import Image
        Image.fromarray(np.zeros((16, 16, 3), np.uint8) + 90).save(path)
        with open(path, 'rb') as f:
            whole = f.read()
        with open(path, 'wb') as f:
            f.write(whole[:len(whole) // 2])
    else:
        with open(path, 'wb') as f:
            f.write(data)
    return path


@pytest.mark.parametrize('case,name,data,reader', CASES, ids=[c[0] for c in CASES])
def test_malformed_file_is_named(tmp_path, case, name, data, reader):
    path = write(tmp_path, case, name, data)
    with pytest.raises(MMKDError) as info:
        reader(path)
    assert path in str(info.value), str(info.value)


@pytest.mark.parametrize('binary', [True, False], ids=['binary', 'ascii'])
def test_whole_files_still_read(tmp_path, binary):
    """The strict readers are not stricter than the formats: whole files read exactly."""
    for name, data in (('a.ply', ply_points(binary)), ('a.pcd', pcd_points(binary))):
        path = write(tmp_path, '', name, data)
        np.testing.assert_allclose(read_points(path), POINTS, rtol=1e-6)
    vertices, triangles = read_mesh(write(tmp_path, '', 'box.off', BOX_OFF.encode()))
    assert vertices.shape == (8, 3) and triangles.shape == (12, 3)


IDX_CASES = [
    ('idx-not-gzip', b'not gzip at all'),
    ('idx-truncated-gzip', gzip.compress(struct.pack('>IIII', IMAGES_MAGIC, 2, 28, 28)
                                         + bytes(2 * 784))[:40]),
    ('idx-wrong-magic', gzip.compress(struct.pack('>IIII', 2049, 2, 28, 28) + bytes(2 * 784))),
    ('idx-short-body', gzip.compress(struct.pack('>IIII', IMAGES_MAGIC, 2, 28, 28) + bytes(784))),
    ('idx-shorter-than-header', gzip.compress(b'\x00\x00')),
]


@pytest.mark.parametrize('case,data', IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_malformed_idx_file_is_named(tmp_path, case, data):
    path = str(tmp_path / 'train-images-idx3-ubyte.gz')
    with open(path, 'wb') as f:
        f.write(data)
    with pytest.raises(MMKDError) as info:
        read_idx(path, IMAGES_MAGIC)
    assert path in str(info.value)


def test_missing_idx_file_names_path_and_install_command(tmp_path):
    path = osp.join(str(tmp_path), 'nope.gz')
    with pytest.raises(MMKDError, match='apt-get install dataset-fashion-mnist') as info:
        read_idx(path, IMAGES_MAGIC)
    assert path in str(info.value)
