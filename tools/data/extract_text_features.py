"""Query token features (RoBERTa, or CLIP's text tower) of captions.

``python tools/data/extract_text_features.py ROOT COLLECTION
--model roberta-base|FOLDER [--captions F ...] [--max-len 64] [--layer -1]``
or ``... --encoder open_clip [--model ViT-B-32] [--pretrained openai]``

Writes ``ROOT/COLLECTION/TextData/roberta_<c>_query_feat.hdf5`` (or, with
``--encoder open_clip``, ``clip_ViT_B_32_<c>_token_feat.hdf5``, the query
input of the CLIP-only configs): cap_id -> (L, D) float32 hidden states of
the real tokens (special tokens included).
Resumable, Ctrl-C keeps what was written, ``torchrun`` splits the captions.
Exit code: 0 done, 2 a mistake in the command line, the files or a missing
package (one ``error: ...`` line; ``--debug`` for the traceback), 130
interrupted.
"""
import argparse
import json
import os.path as osp
import sys

import prvr_mm  # noqa: F401  (stack fixes + registration)
from prvr_mm.datasets.layout import collection_paths
from prvr_mm.extraction.text_features import extract_text_features
from prvr_mm.errors import PRVRConfigError, PRVRDataError
from prvr_mm.utils import finish_distributed
from prvr_mm.utils.cli import add_debug_flag, run_tool
from prvr_mm.utils.dependencies import require
from prvr_mm.utils.hardware import PRECISIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract per-token query features with a transformers '
        'encoder (RoBERTa) into the MS-SL layout')
    parser.add_argument('root', help='folder that holds the collection')
    parser.add_argument('collection', help='collection name')
    parser.add_argument(
        '--encoder',
        choices=['hf', 'open_clip'],
        default='hf',
        help='hf: a transformers model (default); open_clip: the text tower '
        'of an open_clip model (per-token, projected, 512-d for ViT-B-32)')
    parser.add_argument(
        '--model',
        help='hf: hub name (roberta-base: 768-d, roberta-large: 1024-d, the '
        'default) or a local folder written by save_pretrained; open_clip: '
        'the architecture (default ViT-B-32)')
    parser.add_argument(
        '--pretrained',
        help='open_clip weights: a tag (openai) or a local file')
    parser.add_argument(
        '--quick-gelu',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='open_clip: build with QuickGELU (OpenAI weights) or not '
        '(--no-quick-gelu); default: from the model name or tag')
    parser.add_argument(
        '--model-config',
        help='open_clip architecture JSON registered first (its file name is '
        'the model name), e.g. a small model with local weights')
    parser.add_argument(
        '--captions',
        nargs='+',
        help='caption files (default: TextData/<c>{train,val,test}.caption.'
        'txt of the collection that exist)')
    parser.add_argument('--out', help='override the output h5 path')
    parser.add_argument(
        '--max-len',
        type=int,
        help='tokens kept per caption (default 64 for hf, 77 = the '
        'context length for open_clip)')
    parser.add_argument(
        '--layer',
        type=int,
        default=-1,
        help='hidden state: -1 last layer (default), -2 ...')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--device', default='auto')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default='auto',
        help='precision of the encoder: auto (default: bf16 where this '
        'machine runs it faster, e.g. CPUs with AMX), fp32 or bf16; the '
        'features are written as float32 either way')
    parser.add_argument(
        '--local-files-only',
        action='store_true',
        help='never contact the model hub')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--summary', help='write the run summary JSON here')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    paths = collection_paths(args.root, args.collection, visual_feature='-')
    captions = args.captions or [
        paths[f'caption_{s}']
        for s in ('train', 'val', 'test') if osp.isfile(paths[f'caption_{s}'])
    ]
    if not captions:
        raise PRVRDataError(
            f'no caption file found in {paths["dir"]}/TextData (expected '
            f'{args.collection}{{train,val,test}}.caption.txt): pass '
            '--captions FILE ...')
    missing = [c for c in captions if not osp.isfile(c)]
    if missing:
        raise PRVRDataError(f'caption file not found: {missing[0]} '
                            '(--captions)')
    clip = args.encoder == 'open_clip'
    if (args.pretrained or args.model_config
            or args.quick_gelu is not None) and not clip:
        raise PRVRConfigError(
            '--pretrained, --model-config and --quick-gelu are open_clip '
            'options: add --encoder open_clip, or drop them for a '
            'transformers model')
    if not clip:
        require('transformers', 'tools/data/extract_text_features.py')
    summary = extract_text_features(
        captions,
        args.out or paths['clip_tokens' if clip else 'text'],
        model=args.model or ('ViT-B-32' if clip else 'roberta-base'),
        encoder=args.encoder,
        pretrained=args.pretrained,
        quick_gelu=args.quick_gelu,
        config=args.model_config,
        max_len=args.max_len or (77 if clip else 64),
        layer=args.layer,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        local_files_only=args.local_files_only,
        progress=not args.no_progress)
    if args.summary:
        with open(args.summary, 'w') as f:
            json.dump(summary, f, indent=1)
    return 130 if summary['interrupted'] else 0


if __name__ == '__main__':
    code = run_tool(main)
    finish_distributed()  # every rank got here: no collective is pending
    sys.exit(code)
