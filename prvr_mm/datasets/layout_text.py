"""The text files of the MS-SL layout (:mod:`prvr_mm.datasets.layout`,
which re-exports all of this): caption ids, caption files and meta files.

A caption file holds ``<cap_id> <sentence>`` lines (UTF-8, a BOM accepted,
a space or a tab after the id); a cap_id is ``<video_id>#enc#<n>``.  The
meta file holds the durations of the videos and the timestamps of the
queries, in seconds (:func:`meta_problems` checks them).
"""
import json
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import PRVRDataError


def cap_id_problem(cap_id: str) -> Optional[str]:
    """Why ``cap_id`` is not ``<video_id>#enc#<n>``, or None when it is.

    ``<video_id>#<n>`` (the CLIP sentence file's form) is accepted too.  A
    ``#`` inside the video id is refused: the video of a query is the part
    before the first ``#``, so ``my#video#enc#0`` would be a query of a
    video ``my`` that does not exist.
    """
    parts = cap_id.split('#')
    if len(parts) < 2 or not parts[0]:
        return (f'caption id {cap_id!r} has no video id; expected '
                "'<video_id>#enc#<n>'")
    if len(parts) == 2 or (len(parts) == 3 and parts[1] == 'enc'):
        return None
    if 'enc' in parts[1:-1]:
        vid = cap_id[:cap_id.rindex('#enc#')] if '#enc#' in cap_id \
            else cap_id.rsplit('#', 1)[0]
        return (f"caption id {cap_id!r} has '#' in its video id {vid!r}: "
                "'#' separates the video id from the rest "
                "('<video_id>#enc#<n>'), so the id would be read as a query "
                f"of video {parts[0]!r}; rename the video (e.g. "
                f"{vid.replace('#', '_')!r}) in the captions and every "
                'feature file')
    return (f'caption id {cap_id!r} has {len(parts) - 1} \'#\'; expected '
            "'<video_id>#enc#<n>' (no '#' in the video id)")


def video_id_of(cap_id: str) -> str:
    """Video id of a caption id: the part before the first ``#``.

    Raises:
        PRVRDataError: an id that is not ``<video_id>#enc#<n>``
            (:func:`cap_id_problem`), e.g. one with ``#`` in its video id.
    """
    problem = cap_id_problem(cap_id)
    if problem is not None:
        raise PRVRDataError(problem)
    return cap_id.split('#', 1)[0]


def teacher_text_key(cap_id: str) -> str:
    """Key of a caption in the CLIP text h5 (``#enc#`` -> ``#``)."""
    return cap_id.replace('#enc#', '#')


def _decode_line(path: str, lineno: int, raw: bytes, offset: int,
                 errors: List[str]) -> Optional[str]:
    """One line of a caption file as text; a byte that is not UTF-8 is
    recorded in ``errors`` (file, line, column and file offset)."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        errors.append(
            f'{path}:{lineno}: byte 0x{raw[e.start]:02x} at column '
            f'{e.start + 1} (byte {offset + e.start} of the file) is not '
            'UTF-8; expected a UTF-8 text file (a BOM is accepted): save it '
            'as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT')
        return None


def scan_caption_file(path: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """Read ``<cap_id> <sentence>`` lines, collecting every error.

    The file is UTF-8 (a leading BOM is accepted); the cap_id and the
    sentence are separated by a space or a tab.

    Returns:
        tuple: ``(pairs, errors)``: the valid ``(cap_id, sentence)`` in file
        order (first occurrence of a duplicate kept) and one message per
        missing file, byte that is not UTF-8, malformed line (with its
        number), cap_id that is not ``<video_id>#enc#<n>``
        (:func:`cap_id_problem`), duplicate cap_id or empty split.
    """
    if not osp.isfile(path):
        return [], [f'caption file not found: {path}']
    out, seen, errors = [], {}, []
    with open(path, 'rb') as f:
        data = f.read()
    if data.startswith((b'\xff\xfe', b'\xfe\xff')):
        return [], [
            f'{path}: the file is UTF-16 (it starts with a UTF-16 byte order '
            'mark); expected UTF-8: save it as UTF-8, e.g. iconv -f utf-16 '
            '-t utf-8 IN > OUT'
        ]
    offset = 3 if data.startswith(b'\xef\xbb\xbf') else 0
    for lineno, raw in enumerate(data[offset:].split(b'\n'), 1):
        line = _decode_line(path, lineno, raw, offset, errors)
        offset += len(raw) + 1
        line = line.strip() if line is not None else ''
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or '#' not in parts[0]:
            errors.append(f'{path}:{lineno}: malformed caption line {line!r}; '
                          "expected '<video_id>#enc#<n> <sentence>'")
            continue
        cap_id = parts[0]
        problem = cap_id_problem(cap_id)
        if problem is not None:
            errors.append(f'{path}:{lineno}: {problem}')
            continue
        if cap_id in seen:
            errors.append(f'{path}:{lineno}: duplicate cap_id {cap_id!r} '
                          f'(first on line {seen[cap_id]})')
            continue
        seen[cap_id] = lineno
        out.append((cap_id, parts[1].strip()))
    if not out and not errors:
        errors.append(f'{path}: the split has no queries')
    return out, errors


def parse_caption_file(path: str) -> List[Tuple[str, str]]:
    """Read ``<cap_id> <sentence>`` lines (see :func:`scan_caption_file`).

    Returns:
        list[tuple[str, str]]: ``(cap_id, sentence)`` in file order.

    Raises:
        PRVRDataError: missing file, malformed line (with its number),
            duplicate cap_id, or no query at all (the first one found).
    """
    out, errors = scan_caption_file(path)
    if errors:
        raise PRVRDataError(errors[0])
    return out


_META_FORMAT = ('{"videos": {video_id: {"duration": seconds}}, "queries": '
                '{cap_id: {"timestamps": [start, end]}}}')


def read_meta(path: str) -> dict:
    """Read the optional meta file of a collection (:func:`write_meta`).

    Returns:
        dict: ``videos`` (video id -> dict with ``duration``) and
        ``queries`` (cap_id -> dict with ``timestamps``), ``{}`` if absent.

    Raises:
        PRVRDataError: missing file, invalid JSON or another structure.
    """
    if not osp.isfile(path):
        raise PRVRDataError(f'meta file not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise PRVRDataError(
                f'{path} is not valid JSON ({e}); expected {_META_FORMAT}: fix'
                ' it or write it with prvr_mm.datasets.layout.write_meta'
            ) from None
    if not isinstance(meta, dict) or not all(
            isinstance(meta.get(k, {}), dict) for k in ('videos', 'queries')):
        raise PRVRDataError(f'{path}: expected {_META_FORMAT}')
    return dict(
        meta, videos=meta.get('videos', {}), queries=meta.get('queries', {}))


#: Seconds a moment may end after its video's duration (the rounding of
#: published annotations); a later end is an error (another unit?).
TIMESTAMP_SLACK = 1.0


def _seconds(value) -> Optional[float]:
    """``value`` as a finite float, None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _timestamp_problem(cap: str, stamps, vid: str,
                       duration: Optional[float]) -> Optional[str]:
    pair = stamps if isinstance(stamps, (list, tuple)) else ()
    start, end = (_seconds(v)
                  for v in pair) if len(pair) == 2 else (None, None)
    if start is None or end is None:
        return (f'query {cap!r} has timestamps {stamps!r}, expected '
                '[start, end] in seconds')
    if start < 0 or start > end:
        return (f'query {cap!r} has timestamps [{start:g}, {end:g}], '
                'expected 0 <= start <= end (seconds)')
    if duration is not None and end > duration + TIMESTAMP_SLACK:
        return (f'query {cap!r} has timestamps [{start:g}, {end:g}] beyond '
                f'the {duration:g} s of video {vid!r}: timestamps must be '
                'seconds within [0, duration], like the durations (an end '
                f'{end / duration:.3g}x the duration: frames or '
                'milliseconds?); convert them to seconds')
    return None


def meta_problems(meta: dict,
                  path: str,
                  cap_ids: Optional[Sequence[str]] = None) -> List[str]:
    """Every problem of a meta file (:func:`read_meta`) for some queries.

    Checks that every video of ``cap_ids`` has a duration, that durations
    are positive seconds, and that every timestamp given is ``[start,
    end]`` with ``0 <= start <= end <= duration`` (+ :data:`TIMESTAMP_SLACK`
    seconds): timestamps in frames or milliseconds are caught here.  The
    dataset raises the first problem, the checker lists them all.

    Args:
        meta (dict): what :func:`read_meta` returned.
        path (str): the meta file (for the messages).
        cap_ids (Sequence[str], optional): the queries whose videos and
            timestamps to check; None checks every entry of the file.

    Returns:
        list[str]: one message per problem, each naming ``path``.
    """
    videos, queries = meta.get('videos', {}), meta.get('queries', {})
    if cap_ids is None:
        cap_ids, vids = list(queries), list(videos)
    else:
        vids = list(OrderedDict.fromkeys(video_id_of(c) for c in cap_ids))
    problems, durations = [], {}
    for vid in vids:
        info = videos.get(vid)
        value = info.get('duration') if isinstance(info, dict) else None
        duration = _seconds(value)
        # a bad duration is one problem, not one more per timestamp
        durations[vid] = duration if duration and duration > 0 else None
        if info is None or value is None:
            problems.append(f'video {vid!r} has no duration (expected '
                            '"videos": {"%s": {"duration": seconds}})' % vid)
        elif duration is None or duration <= 0:
            problems.append(f'video {vid!r} has duration {value!r}, expected '
                            'a number of seconds > 0')
    for cap in cap_ids:
        entry = queries.get(cap)
        if entry is None or entry.get('timestamps') is None \
                if isinstance(entry, dict) else entry is None:
            continue
        if not isinstance(entry, dict):
            problems.append(f'query {cap!r} has {entry!r}, expected '
                            '{"timestamps": [start, end]}')
            continue
        vid = cap.split('#', 1)[0]
        problem = _timestamp_problem(cap, entry['timestamps'], vid,
                                     durations.get(vid))
        if problem is not None:
            problems.append(problem)
    return [f'{path}: {p}' for p in problems]


def read_durations(path: str) -> Dict[str, float]:
    """``{video id: duration in seconds}`` of a meta file (videos without
    a duration are left out); see :func:`read_meta`."""
    return {
        vid: float(info['duration'])
        for vid, info in read_meta(path)['videos'].items()
        if isinstance(info, dict) and info.get('duration') is not None
    }
