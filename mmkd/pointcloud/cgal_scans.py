"""Real 3D scans and meshes from Debian's ``libcgal-demo`` (CGAL 5.5): ``meshes/`` (the Stanford
bunny, armadillo, elephant, cow and about 140 others, mostly OFF) and ``points_3/`` (scanned point
sets, XYZ and PLY), in ``/usr/share/doc/libcgal-dev/data.tar.gz`` inside the package.

The files carry no licence for redistribution, so mmkd never ships them: :func:`fetch_cgal_scans`
downloads the package with ``apt-get download`` (``apt-get install`` would pull in all of boost),
unpacks it with ``dpkg -x`` into a temporary folder and keeps only the data under ``dest``.
"""
import os
import os.path as osp
import shutil
import subprocess
import tarfile
import tempfile

from mmkd.errors import MissingFileError, MissingPackageError, StateError

PACKAGE = 'libcgal-demo'
DATA_TAR = 'usr/share/doc/libcgal-dev/data.tar.gz'
FOLDERS = ('data/meshes', 'data/points_3')
DEFAULT_DEST = 'work_dirs/cgal_scans'


def _run(command: list, cwd: str) -> None:
    if shutil.which(command[0]) is None:
        raise MissingPackageError(f'fetch_cgal_scans: {command[0]!r} is not on PATH; the CGAL '
                                  f'scans come from the Debian package {PACKAGE!r}')
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise StateError(f'fetch_cgal_scans: `{" ".join(command)}` failed '
                         f'({done.returncode}): {done.stderr.strip()[-400:]}')


def fetch_cgal_scans(dest: str = DEFAULT_DEST) -> str:
    """``dest/data``, holding ``meshes/`` and ``points_3/`` of ``libcgal-demo``; fetched once
    (a complete earlier fetch is reused), written atomically (a half-fetched folder never
    appears under ``dest``)."""
    data = osp.join(dest, 'data')
    if all(osp.isdir(osp.join(dest, folder)) for folder in FOLDERS):
        return data
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix='.fetch-') as tmp:
        try:
            _run(['apt-get', 'download', PACKAGE], cwd=tmp)
        except StateError:  # no package lists yet on a fresh machine: read them, then once more
            _run(['apt-get', 'update', '-qq'], cwd=tmp)
            _run(['apt-get', 'download', PACKAGE], cwd=tmp)
        debs = [f for f in os.listdir(tmp) if f.endswith('.deb')]
        if len(debs) != 1:
            raise StateError(f'fetch_cgal_scans: expected one .deb in {tmp}, got {debs}')
        _run(['dpkg', '-x', debs[0], 'unpacked'], cwd=tmp)
        archive = osp.join(tmp, 'unpacked', DATA_TAR)
        if not osp.isfile(archive):
            raise MissingFileError(f'fetch_cgal_scans: {PACKAGE} holds no {DATA_TAR}')
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and m.name.startswith(tuple(f + '/' for f in FOLDERS))]
            tar.extractall(osp.join(tmp, 'out'), members=members, filter='data')
        if osp.isdir(data):
            shutil.rmtree(data)
        os.replace(osp.join(tmp, 'out', 'data'), data)
    return data
