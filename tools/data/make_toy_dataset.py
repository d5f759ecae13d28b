"""Write the toy PRVR dataset:
``python tools/data/make_toy_dataset.py ROOT [--overwrite]``."""
import argparse
import json

from prvr_mm.datasets.toy import make_toy_dataset
from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils.cli import add_debug_flag, json_option, run_tool


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the toy PRVR dataset in the MS-SL layout')
    parser.add_argument('root', help='output folder (must not exist)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace ROOT if the toy generator wrote it')
    parser.add_argument(
        '--options',
        type=json_option,
        default={},
        help='JSON dict of overrides of prvr_mm.datasets.toy.DEFAULTS, e.g. '
        '\'{"num_videos": {"train": 100, "val": 50, "test": 500}}\'')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        stats = make_toy_dataset(
            args.root,
            seed=args.seed,
            overwrite=args.overwrite,
            **args.options)
    except (FileExistsError, ValueError) as err:  # ROOT or --options
        raise PRVRConfigError(str(err)) from None
    print(json.dumps(stats, indent=2))


if __name__ == '__main__':
    run_tool(main)
