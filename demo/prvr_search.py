"""Search videos with a sentence using a trained PRVR model.

Build an index once (from a config split or a feature file of the
collection's clip features), then search it in the terminal or on a local
page::

    python demo/prvr_search.py CONFIG CKPT --index toy.index.h5 \\
        --build-index test
    python demo/prvr_search.py CONFIG CKPT --index toy.index.h5 \\
        --query "someone opens the door" [--top-k 5]
    python demo/prvr_search.py CONFIG CKPT --index toy.index.h5 --serve

Without training: a zero-shot CONFIG (CLIP alone, no checkpoint), e.g.
``configs/clip_zeroshot/clip_zeroshot_vit-b32.py``, in place of CONFIG CKPT.

The page lives beside this script (``demo/search_page.py``). See
docs/search.md.
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.config import Config

from prvr_mm.errors import CheckpointError
from prvr_mm.utils.cfg_options import CfgOptionsAction
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.hardware import PRECISIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Search videos with a sentence (PRVR)')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='model checkpoint; none for a zero-shot config (a model '
        'without trained weights, configs/clip_zeroshot/)')
    parser.add_argument(
        '--index',
        required=True,
        help='search index file (built with --build-index)')
    parser.add_argument(
        '--query',
        action='append',
        default=[],
        help='a sentence to search for (repeatable)')
    parser.add_argument(
        '--top-k', type=int, default=5, help='videos per query (default 5)')
    parser.add_argument(
        '--candidates',
        type=int,
        default=None,
        help='approximate search: re-score the videos of '
        'this many ANN clip candidates (needs --ann)')
    parser.add_argument('--json', help='also write the results as JSON')
    parser.add_argument(
        '--serve', action='store_true', help='start the local search page')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--device', default=None, help="'cpu', 'cuda'...")
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default='auto',
        help='precision of the query encoding and the exact search: auto '
        '(default: bf16 where this machine runs it faster, e.g. CPUs with '
        'AMX), fp32 or bf16 (same videos and float32 scores either way)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override settings of the config, key=value (e.g. '
        'text_encoder.pretrained=/path/to/weights.pt)')
    build = parser.add_argument_group('building the index')
    build.add_argument(
        '--build-index',
        metavar='COLLECTION',
        help="encode a collection into --index first: 'test' / 'val' / "
        "'train' (that split of the config), or a feature file (h5) or "
        'BigFile folder of clip features; a folder of raw videos needs its '
        'features first (tools/data/extract_clip_features.py, see '
        'docs/search.md)')
    build.add_argument('--data-root', help='root of a config split')
    build.add_argument(
        '--ann-file',
        help='caption file whose videos to '
        'index (feature-file collections)')
    build.add_argument('--meta-file', help='durations (dataset meta file)')
    build.add_argument(
        '--clip-seconds',
        type=float,
        help='seconds per feature row (videos without a '
        'known duration)')
    build.add_argument(
        '--video-dir', help='folder of the raw videos, '
        'played by the page')
    build.add_argument(
        '--ann',
        metavar='FACTORY',
        help="also build a faiss ANN, e.g. "
        "'IVF4096,Flat' (large collections)")
    build.add_argument(
        '--ann-params',
        default='',
        help="its search parameters, e.g. 'nprobe=16'")
    build.add_argument(
        '--float32',
        action='store_true',
        help='store float32 embeddings (default float16)')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    for name in ('top_k', 'candidates', 'clip_seconds'):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got "
                         f'{value}')
    return args


def print_table(pred: dict) -> None:
    """A ranked table of one query's results."""
    from rich.console import Console
    from rich.table import Table
    branches = [
        k[:-6] for k in (pred['results'][0] if pred['results'] else {})
        if k.endswith('_score')
    ]
    table = Table(title=f'{pred["query"]!r}: top {len(pred["results"])} of '
                  f'{pred["num_videos"]} videos')
    for name in ['rank', 'video', 'score', *branches, 'moment', 'video file']:
        table.add_column(name, justify='right' if name != 'video' else 'left')
    for r in pred['results']:
        unit = 's' if r['unit'] == 's' else ' clip'
        start, end = r['moment']
        path = r['video_path']
        where = '-' if not path else (
            osp.basename(path) if r['video_available'] else f'missing: {path}')
        table.add_row(
            str(r['rank']), r['video_id'], f'{r["score"]:.3f}',
            *[f'{r[f"{b}_score"]:.3f}' for b in branches],
            f'{start:.1f}-{end:.1f}{unit}', where)
    console = Console()
    console.print(table)
    if pred.get('note'):
        console.print(pred['note'])


def check_port(host: str, port: int) -> None:
    """Refuse a port that is taken before anything is loaded.

    Raises:
        PRVRConfigError: ``host:port`` cannot be bound.
    """
    import socket

    from prvr_mm.errors import PRVRConfigError
    try:
        with socket.socket() as sock:
            sock.bind((host, port))
    except OSError as err:
        raise PRVRConfigError(
            f'--serve: cannot listen on {host}:{port} ({err.strerror or err})'
            f': another program (another search page?) uses port {port}; '
            f'stop it or pass --port {port + 1}') from None


def check_inputs(args) -> None:
    """The files and optional packages the command line needs, checked
    before the model is built (one error, nothing written).

    Raises:
        PRVRConfigError: nothing to do, or no config file.
        SearchIndexError: no index to search and none to build.
        DependencyError: gradio (``--serve``) or faiss (``--ann``,
            ``--candidates``) missing.
    """
    from prvr_mm.errors import PRVRConfigError, SearchIndexError
    from prvr_mm.utils.dependencies import require
    if not (args.query or args.build_index or args.serve):
        raise PRVRConfigError('nothing to do: give --query "...", --serve '
                              'or --build-index COLLECTION')
    if not osp.isfile(args.config):
        raise PRVRConfigError(f'config file not found: {args.config} (the '
                              'config the checkpoint was trained with)')
    if args.serve:
        require('gradio', 'demo/prvr_search.py --serve')
        check_port(args.host, args.port)
    if args.ann or args.candidates:
        require('faiss', 'demo/prvr_search.py --ann / --candidates')
    if not args.build_index and not osp.isfile(args.index):
        raise SearchIndexError(
            f'search index not found: {args.index} (build it with '
            '--build-index COLLECTION)')


def main(argv=None) -> int:
    """The command line (``argv``: its arguments), with the tools' error
    contract (:func:`~prvr_mm.utils.cli.run_tool`) also in-process.

    Returns:
        int: 0 when done (a user error exits with status 2).
    """
    return run_tool(lambda: _main(argv), argv)


def _main(argv) -> int:
    args = parse_args(argv)
    check_inputs(args)
    from prvr_mm.apis import PRVRInferencer
    from prvr_mm.utils.cli import merge_config_options
    cfg = Config.fromfile(args.config)
    options = dict(args.cfg_options or {})
    if args.data_root:  # --data-root is data_root=... for every dataset
        options['data_root'] = args.data_root
    merge_config_options(cfg, options, args.config)
    inferencer = PRVRInferencer(
        cfg, args.checkpoint, device=args.device, precision=args.precision)
    if args.checkpoint is None and any(True
                                       for _ in inferencer.model.parameters()):
        raise CheckpointError(
            f'{args.config}: its model has trained weights, give its '
            'checkpoint (CONFIG CKPT); only a zero-shot config (e.g. '
            'configs/clip_zeroshot/clip_zeroshot_vit-b32.py) runs '
            'without one')
    if args.build_index:
        index = inferencer.index(
            args.build_index,
            args.index,
            data_root=args.data_root,
            ann_file=args.ann_file,
            meta_file=args.meta_file,
            clip_seconds=args.clip_seconds,
            video_dir=args.video_dir,
            dtype='float32' if args.float32 else 'float16',
            ann=args.ann,
            ann_params=args.ann_params,
            show_progress=True)
        print(f'indexed {len(index)} videos ({index.total_clips} clips) '
              f'into {args.index}')
    else:
        inferencer.load_index(args.index)
    if args.query:
        preds = inferencer.search(
            args.query, top_k=args.top_k, candidates=args.candidates)
        for pred in preds:
            print_table(pred)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(preds, f, indent=2)
    if args.serve:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from search_page import launch_search_page
        print(f'search page on http://{args.host}:{args.port} (Ctrl-C to '
              'stop)')
        launch_search_page(inferencer, args.host, args.port, args.top_k,
                           args.candidates)
    return 0


if __name__ == '__main__':
    sys.exit(main())
