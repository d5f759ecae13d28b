"""The end-of-run check of :func:`~prvr_mm.extraction.clip_features.
extract_clip_features`: the dataset checker on the collection's teacher
files, or, for outputs outside the collection's layout, the written video
file against the videos found."""
import os.path as osp
from typing import Callable, List, Optional

from ..datasets.layout import find_videos

__all__ = ['run_checker', 'check_written']


def run_checker(root: str,
                collection: str,
                student_features: Optional[str],
                base: str,
                model,
                say: Callable[[str], None],
                do_videos: bool = True,
                do_text: bool = True) -> bool:
    """Run the dataset checker; only problems of the teacher files this
    run wrote fail.

    Args:
        root (str): the data root.
        collection (str): the collection name.
        student_features (str, optional): the student features used for
            the frame counts.
        base (str): ``root/collection``.
        model: the CLIP model (its embedding width is the expected one).
        say (callable): where messages go.
        do_videos (bool): the video file was written. Defaults to True.
        do_text (bool): the caption file was written. Defaults to True.

    Returns:
        bool: no problem with the teacher files this run wrote.
    """
    from ..datasets.check import check_dataset
    from ..datasets.layout import COLLECTIONS
    from ..models.teachers.open_clip_utils import embed_dim
    from .clip_features import resolve_student_path
    visual = None if collection in COLLECTIONS else '-'
    if student_features:
        rel = osp.relpath(
            resolve_student_path(student_features, base),
            osp.join(base, 'FeatureData'))
        if not rel.startswith('..'):
            visual = rel
    report = check_dataset(
        root,
        collection,
        visual_feature=visual,
        video_dim=0,
        query_dim=0,
        teacher_dim=embed_dim(model))
    say(report.format())
    written = ('teacher video features', ) * do_videos + (
        'teacher text features', ) * do_text
    mine = [p for p in report.problems if written and p.startswith(written)]
    other = len(report.problems) - len(mine)
    if other:
        say(f'note: {other} problem(s) concern files this tool does not '
            'write (student or query features, captions); run '
            'tools/data/check_dataset.py after extracting them')
    if mine:
        say(f'FAILED: {len(mine)} problem(s) with the teacher files')
    else:
        say('teacher files: OK')
    return not mine


def check_written(video_dir: str, vout, skipped: List[str], do_videos: bool,
                  say: Callable[[str], None]) -> bool:
    """Check the video file against the videos found (outputs outside the
    collection's layout, or no captions: the dataset checker has nothing
    to check them against).

    Args:
        video_dir (str): the folder of the videos.
        vout (ShardedH5Output): the merged video output.
        skipped (list[str]): skip-list lines (``vid\\tpath\\treason``).
        do_videos (bool): whether videos were extracted.
        say (callable): where messages go.

    Returns:
        bool: every video found is in the file or on the skip list.
    """
    say('dataset check: not run (no caption file, or outputs given with '
        '--video-out / --text-out: the checker reads the collection\'s own '
        'files); checking the written file instead')
    if not do_videos:
        return True
    skipped_ids = {line.split('\t', 1)[0] for line in skipped}
    written = vout.done_keys()
    missing = sorted(set(find_videos(video_dir)) - written - skipped_ids)
    if missing:
        say(f'FAILED: {vout.path} lacks {len(missing)} video(s) that were '
            f'found and not skipped, e.g. {missing[:5]}')
        return False
    say(f'video file {vout.path}: OK ({len(written)} videos; '
        f'{len(skipped_ids)} skipped)')
    return True
