"""Write the tiny raw-video PRVR collection.

``python tools/data/make_toy_videos.py ROOT [--num-videos 80] [--seed 0]
[--frame-folders 2]``
"""
import argparse
import json

from prvr_mm.datasets.toy_videos import make_toy_videos
from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.cli import add_debug_flag, json_option, run_tool


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate tiny toy videos (mp4 / JPEG folders) with '
        'captions and moment timestamps in the MS-SL format')
    parser.add_argument('root', help='output folder (must not exist)')
    parser.add_argument(
        '--num-videos',
        type=int,
        default=None,
        help='total number of videos, split 60/20/20 %% (default: 48/16/16)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--frame-folders',
        type=int,
        default=0,
        help='write this many training videos as JPEG folders')
    parser.add_argument('--collection', default='toyvid')
    parser.add_argument(
        '--options',
        type=json_option,
        default={},
        help='JSON dict of overrides of prvr_mm.datasets.toy_videos.DEFAULTS, '
        'e.g. \'{"size": 96, "fps": 10}\'')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        stats = make_toy_videos(
            args.root,
            num_videos=args.num_videos,
            seed=args.seed,
            frame_folders=args.frame_folders,
            collection=args.collection,
            **args.options)
    except (FileExistsError, ValueError) as err:  # ROOT or the options
        raise PRVRConfigError(str(err)) from None
    print(json.dumps(stats, indent=2))


if __name__ == '__main__':
    run_tool(main)
