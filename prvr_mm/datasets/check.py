"""Validation of an MS-SL data root before training (``check_dataset.py``).

:func:`check_dataset` inspects one collection of the MS-SL layout::

    ROOT/C/TextData/C{train,val,test}.caption.txt
    ROOT/C/TextData/roberta_C_query_feat.hdf5            cap_id -> (L, Dq)
    ROOT/C/TextData/clip_ViT_B_32_C_query_feat.hdf5      cap_id -> (1, 512)
    ROOT/C/FeatureData/<visual_feature>/                 BigFile (or .hdf5)
    ROOT/C/FeatureData/new_clip_vit_32_C_vid_features.hdf5  vid -> (T, 512)

and collects every problem it finds (it does not stop at the first one),
together with statistics: videos and queries per split, feature dimensions,
frames per video, tokens per query, queries per video, coverage of every
cap_id and video id in every feature file, and teacher vs student frame
counts.  The teacher files are only needed by the training split.
"""
import os.path as osp
from collections import Counter, OrderedDict
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .check_meta import check_meta_file
from .coverage import check_coverage
from .layout import (COLLECTIONS, SPLITS, TEACHER_DIM, collection_paths,
                     scan_caption_file, teacher_text_key, video_id_of)
from .readers import (BigFileReader, H5FeatureReader, PRVRDataError,
                      check_features, resolve_feature_path)


def _summary(values: Sequence[float]) -> Optional[dict]:
    if not len(values):
        return None
    arr = np.asarray(values, dtype=np.float64)
    return dict(
        min=float(arr.min()),
        median=float(np.median(arr)),
        max=float(arr.max()))


def _fmt_summary(stats: Optional[dict]) -> str:
    if stats is None:
        return '-'

    def num(x):
        return f'{x:g}' if x != int(x) else str(int(x))

    return f"{num(stats['min'])}/{num(stats['median'])}/{num(stats['max'])}"


class DatasetCheck:
    """Result of :func:`check_dataset`: ``problems``, ``warnings``,
    ``stats`` (a JSON-serialisable dict) and :meth:`format`."""

    def __init__(self, root: str, collection: str) -> None:
        self.root = root
        self.collection = collection
        self.problems: List[str] = []
        self.warnings: List[str] = []
        self.stats: Dict[str, dict] = OrderedDict(
            collection=collection,
            splits=OrderedDict(),
            features=OrderedDict())

    @property
    def ok(self) -> bool:
        """True when no problem was found (warnings allowed)."""
        return not self.problems

    def problem(self, message: str) -> None:
        """Record a problem (makes the check fail)."""
        self.problems.append(message)

    def format(self) -> str:
        """Human-readable report: statistics, warnings, problems."""
        lines = [f'PRVR data check of {osp.join(self.root, self.collection)}']
        splits = self.stats['splits']
        if splits:
            lines.append('  split   videos  queries  queries/video '
                         '(min/median/max)')
            for split, st in splits.items():
                lines.append(
                    f"  {split:<6} {st['videos']:>7} {st['queries']:>8}  "
                    f"{_fmt_summary(st['queries_per_video'])}")
        for name, st in self.stats['features'].items():
            lines.append(f"  {name}: {st['path']}")
            if st.get('format'):
                lines.append(f"    format {st['format']}, "
                             f"{st.get('num_keys', '?')} keys, "
                             f"dim {st.get('dim', '?')} (expected "
                             f"{st.get('expected_dim') or 'any'})")
            if st.get('rows') is not None:
                lines.append(f"    {st['rows_name']} per item "
                             f"(min/median/max): {_fmt_summary(st['rows'])}")
            for split, cov in st.get('coverage', {}).items():
                lines.append(f"    coverage {split}: {cov['found']}/"
                             f"{cov['total']} {cov['what']}")
            if st.get('values_checked') is not None:
                lines.append('    values checked for NaN/inf: '
                             f"{st['values_checked']} items")
        frames = self.stats.get('teacher_vs_student')
        if frames:
            lines.append(
                f"  teacher vs student frames ({frames['videos']} train "
                'videos):')
            lines.append(
                f"    student frames {_fmt_summary(frames['student'])}, "
                f"teacher frames {_fmt_summary(frames['teacher'])}, "
                f"student/teacher ratio {_fmt_summary(frames['ratio'])}")
            lines.append(
                '    videos whose teacher has more frames than the student: '
                f"{frames['teacher_longer']}; clips after alignment "
                f"{_fmt_summary(frames['aligned'])}")
        for w in self.warnings:
            lines.append(f'  WARNING: {w}')
        if self.problems:
            lines.append(f'FAILED: {len(self.problems)} problem(s)')
            lines.extend(f'  [{i}] {p}'
                         for i, p in enumerate(self.problems, 1))
        else:
            lines.append('OK: no problem found')
        return '\n'.join(lines)


def _check_captions(report: DatasetCheck, paths: dict,
                    splits: Sequence[str]) -> Dict[str, List[str]]:
    caps: Dict[str, List[str]] = OrderedDict()
    for split in splits:
        path = paths[f'caption_{split}']
        pairs, errors = scan_caption_file(path)
        if len(errors) > 3:
            errors = errors[:3] + [
                f'{path}: {len(errors) - 3} more malformed or duplicate '
                'lines'
            ]
        for e in errors:
            report.problem(e)
        if not pairs:
            continue
        ids = [c for c, _ in pairs]
        per_video = Counter(video_id_of(c) for c in ids)
        caps[split] = ids
        report.stats['splits'][split] = OrderedDict(
            file=path,
            videos=len(per_video),
            queries=len(ids),
            queries_per_video=_summary(list(per_video.values())))
    # videos shared by splits: leakage when train is involved (val and test
    # are sometimes the same file on purpose), so a warning only
    names = list(caps)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            vids = sorted({video_id_of(c)
                           for c in caps[a]}
                          & {video_id_of(c)
                             for c in caps[b]})
            if vids:
                report.warnings.append(
                    f'{len(vids)} video ids appear in both the {a} and the '
                    f'{b} split (e.g. {vids[0]!r})')
    return caps


def _open(report: DatasetCheck, name: str, path: str):
    """Open a reader without a dimension (dimensions are compared here so
    that a mismatch does not hide the coverage statistics)."""
    resolved = resolve_feature_path(path)
    st = report.stats['features'].setdefault(name, OrderedDict(path=path))
    try:
        if osp.isdir(resolved):
            reader = BigFileReader(resolved)
            st['format'] = (f'BigFile ({reader.num} frames, '
                            'read through np.memmap)')
        elif osp.isfile(resolved):
            reader = H5FeatureReader(resolved)
            reader.file  # open now: a corrupt file is reported here
            st['format'] = 'h5'
        else:
            report.problem(f'{name}: file not found: {path} (expected ' +
                           ('a BigFile folder or an .hdf5 file' if name ==
                            'video features' else 'an .hdf5 file') + ')')
            return None
    except PRVRDataError as e:
        report.problem(f'{name}: {e}')
        return None
    except OSError as e:  # unreadable / not an h5 file
        report.problem(f'{name}: cannot open {resolved}: {e}')
        return None
    st['path'] = resolved
    return reader


def _check_feature_file(report: DatasetCheck,
                        name: str,
                        path: str,
                        wanted: Dict[str, List[str]],
                        what: str,
                        expected_dim: Optional[int],
                        rows_name: str,
                        candidates: Optional[Callable[[str],
                                                      Sequence[str]]] = None,
                        single_row: bool = False,
                        sample: Optional[int] = None,
                        seed: int = 0) -> Dict[str, tuple]:
    """Coverage, shapes (:func:`~prvr_mm.datasets.coverage.check_coverage`)
    and values of one feature file.

    Returns:
        dict: wanted id -> shape of every wanted key found.
    """
    reader = _open(report, name, path)
    if reader is None:
        return {}
    letter = '1' if single_row else dict(tokens='L').get(rows_name, 'T')
    st = report.stats['features'][name]
    try:
        st['num_keys'] = len(reader.keys())
        st['expected_dim'] = expected_dim
        cov = check_coverage(
            reader,
            OrderedDict(
                (f'the {split} split', ids) for split, ids in wanted.items()),
            what,
            letter,
            expected_dim,
            candidates,
            single_row=single_row)
        st['coverage'] = OrderedDict(
            (split, dict(found=found, total=total, what=what))
            for split, (found, total) in zip(wanted, cov.counts.values()))
        for problem in cov.problems:
            report.problem(f'{name}: {problem}')
        shapes = cov.shapes
        dims = Counter(s[-1] if s else None for s in shapes.values())
        st['dim'] = (
            dims.most_common(1)[0][0] if dims else getattr(
                reader, 'feat_dim', None))
        if not single_row:
            st['rows_name'] = rows_name
            st['rows'] = _summary([s[0] for s in shapes.values() if s])
        _check_values(report, name, reader, shapes, sample, seed)
        return {i: shapes[k] for i, k in cov.found.items() if k in shapes}
    finally:
        reader.close()


def _check_values(report: DatasetCheck, name: str, reader, shapes: Dict[str,
                                                                        tuple],
                  sample: Optional[int], seed: int) -> None:
    """NaN / inf in the values of every item (or a random sample)."""
    items = [
        k for k, s in shapes.items()
        if s and s[0] > 0 and (len(s) == 1 or s[-1] > 0)
    ]
    if sample is not None and len(items) > sample:
        rng = np.random.default_rng(seed)
        items = [
            items[i]
            for i in sorted(rng.choice(len(items), sample, replace=False))
        ]
    bad_values = []
    for key in items:
        try:
            if isinstance(reader, BigFileReader):
                check_features(reader.matrix[reader.frames[key]],
                               f'{reader.path}/feature.bin', key)
            else:
                check_features(reader.file[key][()], reader.path, key)
        except PRVRDataError as e:
            bad_values.append((key, str(e)))
    report.stats['features'][name]['values_checked'] = len(items)
    if bad_values:
        report.problem(
            f'{name}: {len(bad_values)} items contain NaN or inf values, '
            f'e.g. {bad_values[0][1]}')


def check_dataset(root: str,
                  collection: str,
                  visual_feature: Optional[str] = None,
                  video_dim: Optional[int] = None,
                  query_dim: Optional[int] = None,
                  teacher_dim: Optional[int] = TEACHER_DIM,
                  teacher: bool = True,
                  splits: Sequence[str] = SPLITS,
                  max_ctx_l: int = 128,
                  sample: Optional[int] = None,
                  inputs: str = 'ms_sl') -> DatasetCheck:
    """Check one collection of an MS-SL data root; never raises on bad data.

    Args:
        root (str): folder holding ``collection``.
        collection (str): collection name.
        visual_feature (str, optional): BigFile folder or h5 name under
            ``FeatureData``; defaults to the published one.
        video_dim (int, optional): expected student video feature dim;
            defaults to the published one (3072 TVR, 1024 others), ``0``
            accepts any.
        query_dim (int, optional): expected query token dim; defaults to the
            published one (768 TVR, 1024 others), ``0`` accepts any.
        teacher_dim (int, optional): expected CLIP dim (512).
        teacher (bool): check the teacher files (needed by training only).
        splits (Sequence[str]): caption splits to check.
        max_ctx_l (int): clips per video after sampling (for statistics).
        sample (int, optional): scan the values (NaN/inf) of at most this
            many random items per feature file; None scans every item.
        inputs (str): the student inputs (``layout.INPUTS``): ``'clip'``
            for a CLIP-only collection (CLIP frame and token files, 512-d
            by default; no RoBERTa file, the frame file checked once).

    Returns:
        DatasetCheck: problems, warnings and statistics.
    """
    report = DatasetCheck(root, collection)
    defaults = dict(video_dim=teacher_dim, query_dim=teacher_dim) \
        if inputs == 'clip' else COLLECTIONS.get(collection, {})
    if video_dim is None:
        video_dim = defaults.get('video_dim')
    if query_dim is None:
        query_dim = defaults.get('query_dim')
    video_dim, query_dim = video_dim or None, query_dim or None
    teacher_dim = teacher_dim or None
    try:
        paths = collection_paths(root, collection, visual_feature, inputs)
    except ValueError as e:
        report.problem(str(e))
        return report
    if not osp.isdir(paths['dir']):
        report.problem(f'collection folder not found: {paths["dir"]} '
                       '(expected ROOT/COLLECTION/{TextData,FeatureData})')
        return report
    caps = _check_captions(report, paths, splits)
    check_meta_file(report, paths['meta'], caps)
    vids = OrderedDict(
        (s, list(OrderedDict.fromkeys(video_id_of(c) for c in ids)))
        for s, ids in caps.items())
    _check_feature_file(
        report,
        'text features',
        paths['text'],
        caps,
        'cap_ids',
        query_dim,
        'tokens',
        sample=sample)
    student = _check_feature_file(
        report,
        'video features',
        paths['video'],
        vids,
        'video ids',
        video_dim,
        'frames',
        sample=sample)
    if not teacher:
        return report
    train_caps = {'train': caps['train']} if 'train' in caps else {}
    train_vids = {'train': vids['train']} if 'train' in vids else {}
    teach = student if inputs == 'clip' else _check_feature_file(
        report,
        'teacher video features',
        paths['teacher_video'],
        train_vids,
        'video ids',
        teacher_dim,
        'frames',
        sample=sample)

    _check_feature_file(
        report,
        'teacher text features',
        paths['teacher_text'],
        train_caps,
        'cap_ids',
        teacher_dim,
        'rows',
        candidates=lambda c: (teacher_text_key(c), c),
        single_row=True,
        sample=sample)
    both = [
        v for v in train_vids.get('train', [])
        if v in student and v in teach and student[v] and teach[v]
    ]
    if both and inputs != 'clip':
        s = np.array([student[v][0] for v in both], dtype=np.float64)
        t = np.array([teach[v][0] for v in both], dtype=np.float64)
        ok = (s > 0) & (t > 0)
        report.stats['teacher_vs_student'] = OrderedDict(
            videos=len(both),
            student=_summary(s),
            teacher=_summary(t),
            ratio=_summary(s[ok] / t[ok]) if ok.any() else None,
            teacher_longer=int((t > s).sum()),
            aligned=_summary(np.minimum(np.minimum(s, t), max_ctx_l)))
        if (t > s).any():
            report.warnings.append(
                f'{int((t > s).sum())} train videos have more teacher than '
                'student frames; AlignTeacherClips then averages the teacher '
                'down to the student frame count')
    return report
