"""Validate an MS-SL data root before training.

``python tools/data/check_dataset.py ROOT COLLECTION [--visual-feature NAME]``
(``--inputs clip`` for a CLIP-only collection: CLIP frame and token files as
the student inputs, no RoBERTa file)

Prints videos and queries per split, feature dimensions, frames per video,
queries per video, the coverage of every cap_id and video id in every
feature file and teacher vs student frame counts, then every problem found.

Exit status: 0 the data root is fine, 1 the check found problems in the
data (a report, printed in full: a missing collection folder or file is one
of them), 2 a mistake in the command line itself (one ``error: ...`` line,
e.g. ``--sample 0`` or a ``--json`` file that cannot be written; ``--debug``
for the traceback).
"""
import argparse
import json
import os.path as osp
import sys

from prvr_mm.datasets.check import check_dataset
from prvr_mm.datasets.layout import COLLECTIONS, INPUTS, SPLITS
from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.cli import add_debug_flag, run_tool


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Check a data root in the MS-SL layout '
        '(ROOT/COLLECTION/{TextData,FeatureData})')
    parser.add_argument('root', help='folder that holds the collection')
    parser.add_argument(
        'collection', help=f'collection name ({", ".join(COLLECTIONS)})')
    parser.add_argument(
        '--visual-feature',
        help='BigFile folder (or .hdf5 file) under FeatureData; default: ' +
        ', '.join(f'{k}: {v["visual_feature"]}'
                  for k, v in COLLECTIONS.items()))
    parser.add_argument(
        '--inputs',
        choices=INPUTS,
        default='ms_sl',
        help="the student inputs: 'ms_sl' (default: the BigFile of "
        "--visual-feature and the RoBERTa tokens) or 'clip' (CLIP-only "
        'collections, configs/_base_/datasets/*_clip.py: the CLIP frame file '
        'and the CLIP token file of extract_text_features.py --encoder '
        'open_clip, 512-d)')
    parser.add_argument(
        '--video-dim',
        type=int,
        help='expected video feature dim '
        '(default: the published one; 0 accepts any)')
    parser.add_argument(
        '--query-dim',
        type=int,
        help='expected query token feature dim '
        '(default: the published one; 0 accepts any)')
    parser.add_argument(
        '--teacher-dim',
        type=int,
        default=512,
        help='expected CLIP feature dim (default: 512)')
    parser.add_argument(
        '--no-teacher',
        action='store_true',
        help='skip the CLIP teacher files (evaluation-only data)')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=list(SPLITS),
        help='caption splits to check (default: train val test)')
    parser.add_argument(
        '--sample',
        type=int,
        default=None,
        help='scan the values (NaN/inf) of at most N random items per '
        'feature file instead of all of them')
    parser.add_argument(
        '--json', help='also write the statistics and problems to this file')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error(f'--sample must be >= 1 (items scanned per feature '
                     f'file), got {args.sample}; omit it to scan all')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.json:
        parent = osp.dirname(osp.abspath(args.json))
        if not osp.isdir(parent):
            raise PRVRConfigError(
                f'--json {args.json}: folder {parent} does not exist; '
                'create it or write the report elsewhere')
    report = check_dataset(
        args.root,
        args.collection,
        visual_feature=args.visual_feature,
        video_dim=args.video_dim,
        query_dim=args.query_dim,
        teacher_dim=args.teacher_dim,
        teacher=not args.no_teacher,
        splits=args.splits,
        sample=args.sample,
        inputs=args.inputs)
    print(report.format())
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    stats=report.stats,
                    warnings=report.warnings,
                    problems=report.problems),
                f,
                indent=2)
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(run_tool(main))
