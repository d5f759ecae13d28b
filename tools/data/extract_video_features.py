"""Student clip features of a folder of videos with any mmaction2
recognizer, in the MS-SL layout (BigFile folder or h5).

``python tools/data/extract_video_features.py CONFIG VIDEOS OUT
[--checkpoint CKPT] [--clip-len 16] [--frame-interval 1] [--stride 16]
[--sample-fps F] [options]``

``OUT`` is ``ROOT/COLLECTION/FeatureData/<name>`` (a BigFile folder) or
``.../<name>.hdf5``.  One feature per clip: the backbone (+ neck) output of
the recognizer averaged over time, space, frames and crops.  Resumable,
Ctrl-C keeps what was written, unreadable videos go to a skip list,
``torchrun --nproc_per_node N`` splits the videos across processes.
Exit code: 0 done, 2 a mistake in the command line, the files or a missing
package (one ``error: ...`` line; ``--debug`` for the traceback), 130
interrupted.
"""
import argparse
import json
import os.path as osp
import sys

import prvr_mm  # noqa: F401  (stack fixes + registration)
from prvr_mm.datasets.layout import find_videos
from prvr_mm.extraction.video_features import extract_video_features
from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils import finish_distributed
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.dependencies import require_video_decoder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract student clip features with an mmaction2 '
        'recognizer (I3D, SlowFast, X3D, VideoMAE, TSN, ...)')
    parser.add_argument('config', help='mmaction2 recognizer config')
    parser.add_argument('videos', help='folder of videos and/or frame folders')
    parser.add_argument(
        'out',
        help='output: FeatureData/<name> (BigFile folder) or '
        'FeatureData/<name>.hdf5')
    parser.add_argument('--checkpoint', help='recognizer weights (.pth)')
    parser.add_argument(
        '--clip-len',
        type=int,
        help="frames per clip (default: the config's test SampleFrames "
        'clip_len, else 16)')
    parser.add_argument(
        '--frame-interval',
        type=int,
        help='frame step inside a clip (default: the '
        "config's, else 1)")
    parser.add_argument(
        '--stride',
        type=int,
        help='frames between clip starts (default clip_len * '
        'frame_interval: back to back)')
    parser.add_argument(
        '--sample-fps',
        type=float,
        help='resample every video to this frame rate first (default: '
        'the native frames)')
    parser.add_argument(
        '--frame-fps',
        type=float,
        default=3.0,
        help='frame rate of frame folders (default 3)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=8,
        help='clips per forward pass (default 8)')
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help='decoding DataLoader workers per process (default: the '
        "process' share of the CPU cores, one left to the model without a "
        'GPU, at most 8)')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--skip-list', help='default: <OUT>.skipped.txt')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--summary', help='write the run summary JSON here')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise PRVRConfigError(
            f'config file not found: {args.config} (an mmaction2 recognizer '
            'config, e.g. from mmaction2/configs/recognition/)')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise PRVRConfigError(f'--checkpoint {args.checkpoint}: file not '
                              'found (the recognizer weights, .pth)')
    require_video_decoder(  # before the recognizer is built
        find_videos(args.videos).values(),
        'tools/data/extract_video_features.py')
    summary = extract_video_features(
        args.config,
        args.videos,
        args.out,
        checkpoint=args.checkpoint,
        clip_len=args.clip_len,
        frame_interval=args.frame_interval,
        stride=args.stride,
        sample_fps=args.sample_fps,
        frame_fps=args.frame_fps,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        skip_list=args.skip_list,
        progress=not args.no_progress)
    if args.summary:
        with open(args.summary, 'w') as f:
            json.dump(summary, f, indent=1)
    return 130 if summary['interrupted'] else 0


if __name__ == '__main__':
    code = run_tool(main)
    finish_distributed()  # every rank got here: no collective is pending
    sys.exit(code)
