"""The meta file's part of the data check (:mod:`prvr_mm.datasets.check`):
durations of every video of the caption files, timestamps in seconds within
them, through the one check of the layout
(:func:`prvr_mm.datasets.layout.meta_problems`)."""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List

from ..errors import PRVRDataError
from .layout import meta_problems, read_meta, video_id_of

#: Problems of the meta file listed one by one; the rest are counted.
SHOWN = 5


def check_meta_file(report, path: str, caps: Dict[str, List[str]]) -> None:
    """Validate the meta file ``path`` against the caption ids ``caps``.

    The meta file is optional: a missing one is no problem.  Otherwise
    every problem goes to ``report`` (the first :data:`SHOWN` one by one)
    and ``report.stats['features']['meta file']`` gets the path and, per
    split, how many videos have a duration.

    Args:
        report (DatasetCheck): the report being filled.
        path (str): the meta file (``TextData/<collection>_meta.json``).
        caps (dict[str, list[str]]): split -> its valid cap_ids.
    """
    if not osp.isfile(path):
        return
    st = report.stats['features'].setdefault('meta file',
                                             OrderedDict(path=path))
    try:
        meta = read_meta(path)
    except PRVRDataError as e:
        report.problem(f'meta file: {e}')
        return
    videos = meta['videos']
    st['coverage'] = OrderedDict()
    for split, ids in caps.items():
        vids = list(OrderedDict.fromkeys(video_id_of(c) for c in ids))
        found = sum(
            isinstance(videos.get(v), dict) and 'duration' in videos[v]
            for v in vids)
        st['coverage'][split] = dict(
            found=found, total=len(vids), what='video durations')
    problems = meta_problems(meta, path,
                             [c for ids in caps.values() for c in ids])
    for problem in problems[:SHOWN]:
        report.problem(f'meta file: {problem}')
    if len(problems) > SHOWN:
        report.problem(f'meta file: {path}: {len(problems) - SHOWN} more '
                       'problems of durations or timestamps')
