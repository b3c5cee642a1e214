"""Reading point clouds and meshes from files, and sampling points on a mesh's surface with numpy
(not open3d's RNG), so results are reproducible for a seed.

mmkd reads OFF, PLY (ASCII and binary), PCD (ascii and binary), XYZ and NPY itself, strictly: a
file that is truncated, miscounted, empty or not numbers gets an error that names it, never a
crash or uninitialised memory (open3d's readers give both). Only ``.obj`` and ``.stl`` meshes go
to open3d, imported lazily (it is known to crash in forked DataLoader workers and with some
torch/open3d import orders)."""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmkd.errors import InvalidValueError


Mesh = Tuple[np.ndarray, np.ndarray]  # vertices float64 [V, 3], triangles int64 [F, 3]


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, num_points: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``num_points`` points uniformly on a triangle mesh's surface (area weighted), float64."""
    tri = vertices[triangles]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise InvalidValueError('mesh has zero surface area')
    face = rng.choice(len(tri), size=num_points, p=areas / total)
    r1 = np.sqrt(rng.random(num_points))
    r2 = rng.random(num_points)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    return ((1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c)


def normalize_points(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0, keepdims=True)
    scale = np.linalg.norm(centred, axis=1).max()
    return centred / scale if scale > 0 else centred


def choose_points(points: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``num_points`` rows: without replacement if possible, else all plus repeats."""
    n = len(points)
    if n >= num_points:
        return points[rng.permutation(n)[:num_points]]
    index = np.concatenate([np.arange(n), rng.integers(0, n, num_points - n)])
    return points[rng.permutation(index)]


PLY_TYPES = dict(char='i1', int8='i1', uchar='u1', uint8='u1', short='i2', int16='i2',
                 ushort='u2', uint16='u2', int='i4', int32='i4', uint='u4', uint32='u4',
                 float='f4', float32='f4', double='f8', float64='f8')
PCD_TYPES = {('F', 4): 'f4', ('F', 8): 'f8', ('I', 1): 'i1', ('I', 2): 'i2', ('I', 4): 'i4',
             ('I', 8): 'i8', ('U', 1): 'u1', ('U', 2): 'u2', ('U', 4): 'u4', ('U', 8): 'u8'}


def _data_lines(text: str) -> List[List[str]]:
    """The non-empty lines of a text format, comments (``#``) removed, split in tokens."""
    lines = [line.split('#', 1)[0].split() for line in text.splitlines()]
    return [tokens for tokens in lines if tokens]


def _text_rows(path: str, what: str) -> List[List[str]]:
    """:func:`_data_lines` of a whole ASCII file; a binary one is refused as not ``what``."""
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return _data_lines(raw.decode('ascii'))
    except UnicodeDecodeError:
        raise InvalidValueError(f'{path}: not {what}') from None


def _numbers(path: str, tokens: Sequence[str], kind: type, what: str) -> List[Any]:
    try:
        return [kind(t) for t in tokens]
    except ValueError:
        raise InvalidValueError(f'{path}: {what}: expected {kind.__name__} numbers, got '
                                f'{" ".join(tokens)[:80]!r}') from None


OFF_HEADERS = ('OFF', 'COFF', 'NOFF', 'CNOFF', 'STOFF', 'STCOFF', 'STNOFF', 'STCNOFF')


def parse_off(path: str) -> Mesh:
    """An OFF mesh read line by line, strictly: the header's vertex and face counts must match
    the rows that follow. A vertex row is ``x y z`` and, after a ``COFF``/``NOFF``/``STOFF``
    header, the same number of extra values in every row (colours, normals, texture
    coordinates); a face row is ``k i_1 .. i_k`` and optionally its colour (polygons are fanned
    into triangles). Accepts ModelNet's header glued to the counts (``OFF490 518 0``) and a file
    of vertices without faces (a point cloud)."""
    lines = _text_rows(path, 'an ASCII OFF file')
    keyword = next((k for k in sorted(OFF_HEADERS, key=len, reverse=True)
                    if lines and lines[0][0].startswith(k)), None)
    if keyword is None:
        raise InvalidValueError(f'{path}: no OFF header (expected one of {", ".join(OFF_HEADERS)})')
    counts = ([lines[0][0][len(keyword):]] if lines[0][0][len(keyword):] else []) + lines[0][1:]
    rows = lines[1:]
    if not counts and rows:
        counts, rows = rows[0], rows[1:]
    nv, nf = _numbers(path, counts[:2], int, 'the vertex and face counts')[:2] if \
        len(counts) >= 2 else (None, None)
    if nv is None or nv < 1 or nf < 0:
        raise InvalidValueError(f'{path}: the OFF header needs vertex and face counts >= 1 and >= '
                                f'0, got {counts}')
    if len(rows) != nv + nf:
        raise InvalidValueError(f'{path}: the header declares {nv} vertices and {nf} faces '
                                f'({nv + nf} rows) but {len(rows)} rows follow')
    vertex_rows = rows[:nv]
    width = 3 if keyword == 'OFF' else max(len(vertex_rows[0]), 3)
    bad = next((i for i, row in enumerate(vertex_rows) if len(row) != width), None)
    if bad is not None:
        raise InvalidValueError(f'{path}: vertex row {bad} has {len(vertex_rows[bad])} numbers, '
                                f'expected {width} (does the header count the vertices right?)')
    vertices = np.asarray(_numbers(path, [t for row in vertex_rows for t in row], float,
                                   'vertex rows'), dtype=np.float64).reshape(nv, width)[:, :3]
    faces = []
    for i, row in enumerate(rows[nv:]):
        k = _numbers(path, row[:1], int, f'face row {i}')[0]
        if k < 3 or len(row) < 1 + k:
            raise InvalidValueError(f'{path}: face row {i} declares {k} vertices and lists '
                                    f'{len(row) - 1}')
        idx = _numbers(path, row[1:1 + k], int, f'face row {i}')  # a colour may follow
        faces.extend([idx[0], idx[j], idx[j + 1]] for j in range(1, k - 1))  # fan
    triangles = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= nv):
        raise InvalidValueError(f'{path}: a face index is outside 0..{nv - 1}')
    return vertices, triangles


def parse_ply(path: str) -> Mesh:
    """The vertices (``x, y, z``) and triangles (``vertex_indices`` lists, fanned) of a PLY file,
    ASCII or binary, read strictly: a file that ends before the header's counts is refused."""
    with open(path, 'rb') as f:
        raw = f.read()
    end = raw.find(b'end_header')
    if not raw.startswith(b'ply') or end < 0:
        raise InvalidValueError(f'{path}: not a PLY file (no "ply" ... "end_header" header)')
    header = raw[:end].decode('ascii', 'replace').splitlines()
    body = raw[raw.index(b'\n', end) + 1:] if b'\n' in raw[end:] else b''
    fmt, elements = None, []
    for line in header[1:]:
        tokens = line.split()
        if not tokens or tokens[0] in ('comment', 'obj_info'):
            continue
        if tokens[0] == 'format':
            fmt = tokens[1] if len(tokens) > 1 else None
        elif tokens[0] == 'element' and len(tokens) == 3:
            elements.append(dict(name=tokens[1], count=int(tokens[2]), props=[]))
        elif tokens[0] == 'property' and elements:
            elements[-1]['props'].append(tokens[1:])
        else:
            raise InvalidValueError(f'{path}: cannot parse the PLY header line {line!r}')
    if fmt not in ('ascii', 'binary_little_endian', 'binary_big_endian'):
        raise InvalidValueError(f'{path}: unknown PLY format {fmt!r}')
    endian = '>' if fmt == 'binary_big_endian' else '<'
    data: Dict[str, Any] = {}
    tokens = body.decode('ascii', 'replace').split() if fmt == 'ascii' else None
    offset = 0
    for element in elements:
        name, count, props = element['name'], element['count'], element['props']
        for prop in props:
            types = prop[1:3] if prop[0] == 'list' else prop[:1]
            if prop[0] == 'list' and len(prop) != 4 or any(t not in PLY_TYPES for t in types):
                raise InvalidValueError(f'{path}: unsupported PLY property {" ".join(prop)!r}')
        if all(prop[0] != 'list' for prop in props):  # a table: read it at once
            table, offset = _ply_table(path, tokens, body, offset, props, count, endian, name)
            data[name] = (props, table.tolist())
            continue
        rows: List[List[Any]] = []
        for i in range(count):
            row = []
            for prop in props:
                if prop[0] == 'list':
                    n, offset = _ply_value(path, tokens, raw, body, offset, prop[1], endian, name)
                    items = []
                    for _ in range(int(n)):
                        value, offset = _ply_value(path, tokens, raw, body, offset, prop[2],
                                                   endian, name)
                        items.append(value)
                    row.append(items)
                else:
                    value, offset = _ply_value(path, tokens, raw, body, offset, prop[0], endian,
                                               name)
                    row.append(value)
            rows.append(row)
        data[name] = (props, rows)
    if 'vertex' not in data:
        raise InvalidValueError(f'{path}: the PLY file has no vertex element')
    props, rows = data['vertex']
    names = [prop[-1] for prop in props]
    if not {'x', 'y', 'z'} <= set(names):
        raise InvalidValueError(f'{path}: the PLY vertices have no x, y, z properties ({names})')
    columns = [names.index(axis) for axis in 'xyz']
    vertices = np.asarray([[row[c] for c in columns] for row in rows], dtype=np.float64)
    faces = []
    if 'face' in data:
        props, rows = data['face']
        lists = [i for i, prop in enumerate(props) if prop[0] == 'list']
        for i, row in enumerate(rows):
            idx = [int(v) for v in row[lists[0]]] if lists else []
            if len(idx) < 3:
                raise InvalidValueError(f'{path}: face {i} has {len(idx)} vertices')
            faces.extend([idx[0], idx[j], idx[j + 1]] for j in range(1, len(idx) - 1))
    triangles = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise InvalidValueError(f'{path}: a face index is outside 0..{len(vertices) - 1}')
    return vertices.reshape(-1, 3), triangles


def _ply_table(path: str, tokens: Optional[List[str]], body: bytes, offset: int,
               props: List[List[str]], count: int, endian: str,
               element: str) -> Tuple[np.ndarray, int]:
    """``count`` rows of scalar properties at ``offset`` (float64), and the offset after them."""
    if tokens is not None:
        end = offset + count * len(props)
        if end > len(tokens):
            raise InvalidValueError(f'{path}: the file ends inside the {element!r} element (the '
                                    'header declares more rows than the file holds)')
        values = _numbers(path, tokens[offset:end], float, f'the {element!r} element')
        return np.asarray(values, dtype=np.float64).reshape(count, len(props)), end
    record = np.dtype([(f'p{i}', endian + PLY_TYPES[prop[0]]) for i, prop in enumerate(props)])
    if offset + count * record.itemsize > len(body):
        raise InvalidValueError(f'{path}: the file ends inside the {element!r} element (the header '
                                f'declares {count} rows of {record.itemsize} bytes)')
    table = np.frombuffer(body, record, count, offset)
    columns = [table[f'p{i}'].astype(np.float64) for i in range(len(props))]
    return np.stack(columns, axis=1) if columns else np.zeros((count, 0)), \
        offset + count * record.itemsize


def _ply_value(path: str, tokens: Optional[List[str]], raw: bytes, body: bytes, offset: int,
               type_name: str, endian: str, element: str) -> Tuple[Any, int]:
    """The next value of a PLY body (a token of the ASCII body, or bytes of a binary one) and
    the offset after it."""
    dtype = np.dtype(endian + PLY_TYPES[type_name])
    if tokens is not None:
        if offset >= len(tokens):
            raise InvalidValueError(f'{path}: the file ends inside the {element!r} element (the '
                                    'header declares more rows than the file holds)')
        kind = float if dtype.kind == 'f' else int
        try:
            return kind(tokens[offset]), offset + 1
        except ValueError:
            raise InvalidValueError(f'{path}: {tokens[offset]!r} in the {element!r} element is not '
                                    f'a {type_name}') from None
    if offset + dtype.itemsize > len(body):
        raise InvalidValueError(f'{path}: the file ends inside the {element!r} element (the header '
                                'declares more rows than the file holds)')
    return np.frombuffer(body, dtype, 1, offset)[0].item(), offset + dtype.itemsize


def parse_pcd(path: str) -> np.ndarray:
    """The ``x, y, z`` fields of a PCD file (``DATA ascii`` or ``binary``), read strictly."""
    with open(path, 'rb') as f:
        raw = f.read()
    fields: Dict[str, List[str]] = {}
    pos = 0
    while 'DATA' not in fields:
        newline = raw.find(b'\n', pos)
        if newline < 0:
            raise InvalidValueError(f'{path}: not a PCD file (no DATA line in its header)')
        line = raw[pos:newline].decode('ascii', 'replace').split()
        pos = newline + 1
        if line and not line[0].startswith('#'):
            fields[line[0].upper()] = line[1:]
    names = fields.get('FIELDS', [])
    try:
        sizes = [int(v) for v in fields['SIZE']]
        counts = [int(v) for v in fields.get('COUNT', ['1'] * len(names))]
        points = int(fields['POINTS'][0])
        dtypes = [PCD_TYPES[(t, s)] for t, s in zip(fields['TYPE'], sizes)]
    except (KeyError, ValueError, IndexError):
        raise InvalidValueError(f'{path}: the PCD header needs FIELDS, SIZE, TYPE and POINTS that '
                                'fit together') from None
    if not {'x', 'y', 'z'} <= set(names) or len(dtypes) != len(names) or \
            any(c != 1 for n, c in zip(names, counts) if n in 'xyz'):
        raise InvalidValueError(f'{path}: the PCD fields {names} have no scalar x, y, z')
    data = fields['DATA'][0] if fields['DATA'] else ''
    if data == 'ascii':
        rows = _data_lines(raw[pos:].decode('ascii', 'replace'))
        width = sum(counts)
        if len(rows) != points or any(len(row) != width for row in rows):
            raise InvalidValueError(f'{path}: the header declares {points} points of {width} '
                                    f'values; the file has {len(rows)} rows')
        table = np.asarray(_numbers(path, [t for row in rows for t in row], float, 'points'),
                           dtype=np.float64).reshape(points, width)
        starts = np.cumsum([0] + counts[:-1])
        return table[:, [starts[names.index(axis)] for axis in 'xyz']]
    if data != 'binary':
        raise InvalidValueError(f'{path}: PCD DATA {data!r} is not supported (ascii, binary)')
    record = np.dtype([(n, '<' + d, (c,)) if c > 1 else (n, '<' + d)
                       for n, d, c in zip(names, dtypes, counts)])
    if len(raw) - pos < points * record.itemsize:
        raise InvalidValueError(f'{path}: the header declares {points} points '
                                f'({points * record.itemsize} bytes) but {len(raw) - pos} bytes '
                                'follow')
    table = np.frombuffer(raw, record, points, pos)
    return np.stack([table[axis].astype(np.float64) for axis in 'xyz'], axis=1)


def parse_xyz(path: str) -> np.ndarray:
    """A text file of points, one ``x y z [...]`` row each; every row must have the same number
    (>= 3) of values."""
    rows = _text_rows(path, 'a text file of points')
    widths = {len(row) for row in rows}
    if len(widths) > 1 or (widths and min(widths) < 3):
        raise InvalidValueError(f'{path}: every row needs the same number (>= 3) of values, got '
                                f'{sorted(widths)}')
    values = _numbers(path, [t for row in rows for t in row], float, 'points')
    return np.asarray(values, dtype=np.float64).reshape(len(rows), -1)[:, :3]


def check_cloud(points: np.ndarray, path: str) -> np.ndarray:
    """Refuse non-finite coordinates and degenerate clouds (fewer than two distinct points),
    naming the file."""
    if len(points) == 0:
        raise InvalidValueError(f'point cloud {path!r} has no points')
    if not np.isfinite(points).all():
        raise InvalidValueError(f'point cloud {path!r} has non-finite coordinates')
    if len(points) < 2 or not np.ptp(points, axis=0).any():
        raise InvalidValueError(f'point cloud {path!r} is degenerate: {len(points)} point(s), all '
                                'at one place')
    return points


def read_mesh(path: str) -> Mesh:
    """Vertices and triangles of a mesh file: ``.off`` and ``.ply`` read by mmkd itself
    (strictly: no file can crash the process or give garbage), other formats (``.obj``,
    ``.stl``) by open3d. Errors name ``path``."""
    if os.path.getsize(path) == 0:
        raise InvalidValueError(f'mesh file {path!r} is empty')
    suffix = os.path.splitext(path)[1].lower()
    if suffix in ('.off', '.ply'):
        vertices, triangles = (parse_off if suffix == '.off' else parse_ply)(path)
    else:
        import open3d as o3d
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            try:
                mesh = o3d.io.read_triangle_mesh(path)
            except Exception as err:  # open3d raises RuntimeError on some malformed files
                raise InvalidValueError(f'cannot read a triangle mesh from {path!r}: {err}') \
                    from err
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        triangles = np.asarray(mesh.triangles, dtype=np.int64)
    if len(vertices) == 0 or len(triangles) == 0:
        raise InvalidValueError(f'cannot read a triangle mesh from {path!r}: {len(vertices)} '
                                f'vertices and no faces (a point cloud? read_points reads it)')
    check_cloud(vertices, path)
    return vertices, triangles


def read_points(path: str) -> np.ndarray:
    """An ``[N, 3]`` float64 array from a ``.npy`` (first three columns), ``.ply``, ``.pcd``,
    ``.xyz``/``.txt`` or ``.off`` (its vertices) file, all read by mmkd itself; errors name
    ``path``, and degenerate clouds are refused (:func:`check_cloud`)."""
    if os.path.getsize(path) == 0:
        raise InvalidValueError(f'point-cloud file {path!r} is empty')
    suffix = os.path.splitext(path)[1].lower()
    if suffix == '.npy':
        try:
            points = np.load(path, allow_pickle=False)
        except Exception as e:
            raise InvalidValueError(f'cannot read a numpy array from {path!r}: {e}') from e
        if points.ndim != 2 or points.shape[1] < 3 or not np.issubdtype(points.dtype, np.number):
            raise InvalidValueError(f'{path!r}: expected a numeric array of shape [N, >=3], got '
                                    f'{points.dtype} {points.shape}')
        points = np.asarray(points[:, :3], dtype=np.float64)
    elif suffix in ('.ply', '.off'):
        points = (parse_ply if suffix == '.ply' else parse_off)(path)[0]
    elif suffix == '.pcd':
        points = parse_pcd(path)
    elif suffix in ('.xyz', '.txt', '.pts'):
        points = parse_xyz(path)
    else:
        raise InvalidValueError(f'{path!r}: unsupported point-cloud format {suffix!r} (.npy, .ply, '
                                '.pcd, .xyz, .txt, .pts, .off)')
    return check_cloud(points, path)
