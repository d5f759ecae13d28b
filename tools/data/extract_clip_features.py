"""Write the CLIP teacher files of a collection from its videos.

``python tools/data/extract_clip_features.py VIDEOS ROOT COLLECTION
(--student-features FeatureData/NAME | --fps F) [options]``

Writes ``ROOT/COLLECTION/FeatureData/new_clip_vit_32_<c>_vid_features.hdf5``
(video id -> (T, D) raw image embeddings, one frame per student time step
at the centre of its segment) and
``ROOT/COLLECTION/TextData/clip_ViT_B_32_<c>_query_feat.hdf5`` (caption id
with ``#enc#`` -> ``#`` -> (1, D) raw sentence embeddings), then runs the
dataset checker.  Resumable (keys already written are skipped), Ctrl-C
keeps what was written, unreadable videos go to a skip list.  Under
``torchrun --nproc_per_node N`` the videos are split across processes.
Exit code: 0 done, 1 the checker found problems in the teacher files,
2 a mistake in the command line, the folders or a missing package (one
``error: ...`` line; ``--debug`` for the traceback), 130 interrupted.
"""
import argparse
import json
import sys

from prvr_mm.datasets.layout import find_videos
from prvr_mm.extraction.clip_features import extract_clip_features
from prvr_mm.utils import finish_distributed
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.dependencies import require_video_decoder
from prvr_mm.utils.hardware import PRECISIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract the CLIP teacher files (frame and sentence '
        'embeddings) of a collection in the MS-SL layout')
    parser.add_argument(
        'videos',
        help='folder of videos (<video_id>.mp4|mkv|webm|avi|mov) '
        'and/or frame folders (<video_id>/*.jpg)')
    parser.add_argument('root', help='folder that holds the collection')
    parser.add_argument('collection', help='collection name (tvr, ...)')
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument(
        '--student-features',
        help='BigFile folder or h5 of the student video features, relative '
        'to ROOT/COLLECTION (e.g. FeatureData/i3d_resnet) or absolute: one '
        'CLIP frame per student time step')
    steps.add_argument(
        '--fps',
        type=float,
        help='CLIP frames per second of video instead (e.g. 0.6667 = one per '
        '1.5 s)')
    parser.add_argument(
        '--frame-fps',
        type=float,
        default=3.0,
        help='frame rate of frame folders (default 3, like TVR)')
    parser.add_argument(
        '--captions',
        nargs='+',
        help='caption files (default: TextData/<c>{train,val,test}.caption.'
        'txt of the collection)')
    parser.add_argument(
        '--model',
        default='ViT-B-32',
        help='open_clip architecture (default ViT-B-32)')
    parser.add_argument(
        '--pretrained',
        help="weights: a pretrained tag ('openai') or a local file; omitted "
        '= random weights (testing only)')
    parser.add_argument(
        '--quick-gelu',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='build the model with QuickGELU (OpenAI weights) or not '
        '(--no-quick-gelu); default: from the model name or pretrained tag. '
        'Needed with a local weights file and a bare OpenAI-style name such '
        'as ViT-B-32')
    parser.add_argument(
        '--model-config',
        help='open_clip architecture JSON to register first (its file name '
        'is the model name), e.g. a tiny model for tests')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=32,
        help='frames per image-tower batch (default 32)')
    parser.add_argument('--text-batch-size', type=int, default=256)
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help='decoding DataLoader workers per process (default: the '
        "process' share of the CPU cores, one left to the model without a "
        'GPU, at most 8)')
    parser.add_argument(
        '--device',
        default='auto',
        help='auto (CUDA when present), cpu, cuda:0, ...')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default='auto',
        help='precision of the image and text towers: auto (default: bf16 '
        'where this machine runs it faster, e.g. CPUs with AMX), fp32 or '
        'bf16; the features are written as float32 either way')
    parser.add_argument('--video-out', help='override the video h5 path')
    parser.add_argument('--text-out', help='override the caption h5 path')
    parser.add_argument(
        '--skip-list',
        help='file listing unreadable videos with the reason (default: '
        '<video output>.skipped.txt)')
    parser.add_argument(
        '--no-text', action='store_true', help='do not write the caption file')
    parser.add_argument(
        '--no-videos', action='store_true', help='do not write the video file')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='do not run the dataset checker at the end')
    parser.add_argument('--summary', help='write the run summary JSON here')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not args.no_videos and args.student_features is None and \
            args.fps is None:
        parser.error('pass --student-features or --fps (how many CLIP '
                     'frames per video)')
    if args.fps is not None and args.fps <= 0:
        parser.error(f'--fps must be > 0 (CLIP frames per second), got '
                     f'{args.fps}')
    if args.no_videos and args.no_text:
        parser.error('--no-videos and --no-text: nothing to extract')
    return args


def clip_spec_of(args) -> dict:
    """The CLIP spec of the command line (see
    :func:`prvr_mm.models.teachers.open_clip_utils.build_clip`)."""
    spec = dict(
        model_name=args.model,
        pretrained=args.pretrained,
        quick_gelu=args.quick_gelu)
    if args.model_config:
        spec['model_cfg'] = args.model_config
    return spec


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.no_videos:  # before any model is built
        require_video_decoder(
            find_videos(args.videos).values(),
            'tools/data/extract_clip_features.py')
    summary = extract_clip_features(
        args.videos,
        args.root,
        args.collection,
        student_features=args.student_features,
        fps=args.fps,
        frame_fps=args.frame_fps,
        captions=args.captions,
        clip_model=clip_spec_of(args),
        batch_size=args.batch_size,
        text_batch_size=args.text_batch_size,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        video_out=args.video_out,
        text_out=args.text_out,
        skip_list=args.skip_list,
        do_videos=not args.no_videos,
        do_text=not args.no_text,
        progress=not args.no_progress,
        check=not args.no_check)
    if args.summary:
        with open(args.summary, 'w') as f:
            json.dump(summary, f, indent=1)
    if summary['interrupted']:
        return 130
    return 1 if summary.get('check_ok') is False else 0


if __name__ == '__main__':
    code = run_tool(main)
    finish_distributed()  # every rank got here: no collective is pending
    sys.exit(code)
