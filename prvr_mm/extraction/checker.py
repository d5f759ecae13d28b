"""The dataset checker at the end of the CLIP teacher extraction: the
whole collection is checked, only problems with the teacher files fail
the run."""
import os.path as osp
from typing import Callable, Optional

import torch


def run_checker(root: str, collection: str, student_features: Optional[str],
                base: str, model: torch.nn.Module,
                say: Callable[[str], None]) -> bool:
    """Run the dataset checker on the collection; only teacher-file
    problems fail.

    Args:
        root (str): folder holding the collection folder.
        collection (str): collection name.
        student_features (str, optional): the student features the frame
            counts came from (checked as the collection's video features).
        base (str): ``root/collection``.
        model (nn.Module): the CLIP (its embedding size is the teacher's).
        say (callable): where the report goes.

    Returns:
        bool: whether the teacher files passed.
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
    mine = [
        p for p in report.problems
        if p.startswith(('teacher video features', 'teacher text '
                         'features'))
    ]
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
