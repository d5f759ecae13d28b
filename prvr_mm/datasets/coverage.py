"""Coverage of a feature file: which of the wanted video ids / cap_ids it
holds, with what shapes, and every problem with them.

The one check behind the dataset's start-up error
(:meth:`PRVRFeatureDataset._check_keys` raises the first problem) and the
data checker's report (:func:`prvr_mm.datasets.check.check_dataset`
collects them all).
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .readers import BigFileReader

#: What the rows of an item are called, by the letter of its shape.
ROW_NAMES = dict(T='frames', L='tokens', **{'1': 'rows'})


@dataclass
class Coverage:
    """Result of :func:`check_coverage`.

    Attributes:
        found (dict): wanted id -> its key in the file.
        counts (dict): source -> ``(found, total)`` unique ids.
        shapes (dict): key -> stored shape, for the keys whose shape was
            read.
        problems (list[str]): one message per problem (file, key, shape and
            what was expected).
    """
    found: Dict[str, str] = field(default_factory=OrderedDict)
    counts: Dict[str, Tuple[int, int]] = field(default_factory=OrderedDict)
    shapes: Dict[str, tuple] = field(default_factory=OrderedDict)
    problems: List[str] = field(default_factory=list)


def examples(keys: Sequence[str], limit: int = 5) -> str:
    """``'a', 'b' and 3 more``."""
    shown = ', '.join(repr(k) for k in keys[:limit])
    return shown + (f' and {len(keys) - limit} more'
                    if len(keys) > limit else '')


def row_shapes(reader, keys) -> Dict[str, tuple]:
    """Stored shape of each key without reading the values."""
    if isinstance(reader, BigFileReader):
        return {k: (len(reader.frames[k]), reader.feat_dim) for k in keys}
    return {k: tuple(reader.file[k].shape) for k in keys}


def check_coverage(reader,
                   wanted: Mapping[str, Sequence[str]],
                   what: str,
                   rows: str = 'T',
                   dim: Optional[int] = None,
                   candidates: Optional[Callable[[str], Sequence[str]]] = None,
                   single_row: bool = False,
                   all_shapes: bool = True) -> Coverage:
    """Check that a feature file holds every wanted id with a valid shape.

    Args:
        reader (H5FeatureReader | BigFileReader): the open file.
        wanted (Mapping[str, Sequence[str]]): where the ids come from (a
            caption file, ``'the train split'``) -> the ids.
        what (str): ``'video ids'`` or ``'cap_ids'`` (for the messages).
        rows (str): letter of the rows in the expected shape: ``'T'``
            frames, ``'L'`` tokens, ``'1'`` one vector.
        dim (int, optional): expected feature dimension (None: any).
        candidates (callable, optional): id -> keys that stand for it, in
            order of preference (the CLIP sentence file:
            ``(teacher_text_key(c), c)``); default: the id itself.
        single_row (bool): every item must be one vector ``(1, D)``/``(D,)``.
        all_shapes (bool): read the shape of every found h5 key (the
            checker); False reads only the first one (a quick start-up
            check; BigFile shapes are always all known).

    Returns:
        Coverage: found keys, per-source counts, shapes and problems.
    """
    cov = Coverage()
    keys = set(reader.keys())
    shape_text = f'({rows}, {dim or "D"})'
    for source, ids in wanted.items():
        ids = list(OrderedDict.fromkeys(ids))
        missing = []
        for i in ids:
            key = next((k for k in (candidates(i) if candidates else (i, ))
                        if k in keys), None)
            if key is None:
                missing.append(i)
            else:
                cov.found[i] = key
        cov.counts[source] = (len(ids) - len(missing), len(ids))
        if missing:
            cov.problems.append(
                f'{reader.path} misses {len(missing)} of {len(ids)} {what} '
                f'of {source} (missing key {examples(missing)}); expected '
                f'arrays of shape {shape_text}')
    found = list(OrderedDict.fromkeys(cov.found.values()))
    bigfile = isinstance(reader, BigFileReader)
    if not (all_shapes or bigfile):
        found = found[:1]
    cov.shapes.update(row_shapes(reader, found))
    cov.problems.extend(
        _shape_problems(reader, cov.shapes, what, rows, dim, single_row))
    return cov


def _shape_problems(reader, shapes: Dict[str, tuple], what: str, rows: str,
                    dim: Optional[int], single_row: bool) -> List[str]:
    problems = []
    expected = f'({rows}, {dim or "D"})'
    if isinstance(reader, BigFileReader) and dim is not None \
            and reader.feat_dim != dim:
        problems.append(
            f'{reader.path} holds {reader.feat_dim}-d features (shape.txt), '
            f'expected (T, {dim}) (feature dimension mismatch with the '
            'config)')
    elif dim is not None:
        bad = [k for k, s in shapes.items() if not s or s[-1] != dim]
        if bad:
            problems.append(
                f'{reader.path}: {len(bad)} keys have a feature dimension '
                f'other than {dim}, e.g. key {bad[0]!r} has shape '
                f'{shapes[bad[0]]}, expected {expected} (feature dimension '
                'mismatch with the config)')
    if single_row:
        bad = [
            k for k, s in shapes.items()
            if len(s) > 1 and int(np.prod(s[:-1])) != 1
        ]
        if bad:
            problems.append(
                f'{reader.path}: {len(bad)} keys are not one vector, e.g. '
                f'key {bad[0]!r} has shape {shapes[bad[0]]}, expected '
                f'(1, {dim or "D"}) or ({dim or "D"},)')
        return problems
    empty = [
        k for k, s in shapes.items()
        if not s or s[0] == 0 or (len(s) > 1 and s[-1] == 0)
    ]
    if empty:
        src = (f'{reader.path}/video2frames.txt' if isinstance(
            reader, BigFileReader) else reader.path)
        name = ROW_NAMES.get(rows, 'rows')
        noun = 'video' if what == 'video ids' else 'key'
        problems.append(
            f'{src}: {len(empty)} items have zero {name}, e.g. {noun} '
            f'{empty[0]!r} has no {name} (shape {shapes[empty[0]]}); '
            f'expected {expected} with {rows} >= 1')
    return problems
