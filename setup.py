"""Install prvr_mm: ``pip install -e ".[lite]"`` (add ``tests`` for pytest,
``extract`` for the extraction tools from raw videos, ``search`` for faiss
approximate search, ``demo`` for the search page).

mmcv is deliberately not a hard requirement: mmaction2 1.2.0 needs
``2.0.0rc4 <= mmcv < 2.2.0``, provided either by full ``mmcv`` (compiled) or
by the pure-Python ``mmcv-lite`` (extra ``lite``).  Both ship the same
``mmcv`` package, so a user who already has full mmcv installs without the
extra and keeps it.
"""
import os.path as osp
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt``."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith(('#', '-'))
        ]


def read_version() -> str:
    scope = {}
    with open(osp.join(HERE, 'prvr_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='prvr_mm',
    version=read_version(),
    description='Partially Relevant Video Retrieval (DL-DKD, DL-DKD++) '
    'for MMEngine and mmaction2',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'docs', 'benchmarks')),
    package_data={'prvr_mm': ['models/teachers/open_clip_configs/*.json']},
    python_requires='>=3.9',
    install_requires=read_requirements('runtime') +
    read_requirements('mminstall'),
    extras_require=dict(
        lite=read_requirements('lite'),
        extract=read_requirements('extract'),
        search=read_requirements('search'),
        demo=read_requirements('demo') + read_requirements('search'),
        tests=read_requirements('tests') + read_requirements('search') +
        read_requirements('demo')),
    license='Apache License 2.0',
    zip_safe=False)
