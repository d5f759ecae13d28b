"""bf16 extraction and the online teacher against fp32 on the same frames:
the real tools (one of them as a subprocess) on real toy videos with a tiny
random CLIP saved like a user's weights, a real-size random ViT-B/32, and
the teacher head's frame-level ranking."""
import json
import os
import os.path as osp
import runpy
from collections import defaultdict

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from prvr_mm.datasets.layout import collection_paths
from prvr_mm.datasets.readers import parse_caption_file
from prvr_mm.datasets.toy_videos import make_toy_videos
from prvr_mm.datasets.video_io import open_video
from prvr_mm.models.teachers import CLIPTeacherHead
from prvr_mm.models.teachers.open_clip_utils import build_clip
from prvr_mm.utils.hardware import autocast_context, cast_frozen
from tests.helpers.tiny_models import make_tiny_roberta, write_tiny_clip_config
from tests.helpers.tools import ROOT, run_tool

COLL = 'toyvid'
CLIP_TOOL = osp.join(ROOT, 'tools', 'data', 'extract_clip_features.py')
TEXT_TOOL = osp.join(ROOT, 'tools', 'data', 'extract_text_features.py')
MIN_COS = 0.999
#: largest change of a frame cosine bf16 may make: twice bf16's unit
#: roundoff (both embeddings are rounded; measured up to 0.004 here)
MAX_SCORE_DIFF = 2.0**-7


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """Four short toy videos with captions and a tiny CLIP (random weights
    saved to a file)."""
    base = tmp_path_factory.mktemp('precision')
    root = str(base / 'data')
    coll = osp.join(root, COLL)
    make_toy_videos(
        coll,
        num_videos=dict(train=2, val=1, test=1),
        seed=1,
        duration=(2.0, 3.0),
        moment_len=(0.5, 1.0))
    arch = write_tiny_clip_config(str(base / 'tiny-clip.json'))
    torch.manual_seed(0)
    weights = str(base / 'tiny-clip.pt')
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), weights)
    return dict(
        base=str(base), root=root, coll=coll, arch=arch, weights=weights)


def _h5(path):
    with h5py.File(path, 'r') as f:
        return {k: f[k][()] for k in f}


def _assert_close_not_equal(ref: dict, low: dict):
    """Same keys and shapes, float32, cosine >= MIN_COS per embedding, and
    not bit-equal (bf16 really ran)."""
    assert sorted(ref) == sorted(low) and ref
    worst, same = 1.0, True
    for key, a in ref.items():
        b = low[key]
        assert a.shape == b.shape and b.dtype == np.float32, key
        cos = F.cosine_similarity(
            torch.from_numpy(a), torch.from_numpy(b), dim=-1)
        worst = min(worst, float(cos.min()))
        same = same and np.array_equal(a, b)
    assert worst >= MIN_COS, worst
    assert not same
    return worst


def _frame_scores(video: dict, text: dict) -> dict:
    """Cosine of every caption to every frame of its own video, from the
    teacher head (``pos_clip_scores``): {caption key: (T,) tensor}."""
    by_video = defaultdict(list)
    for key in text:
        by_video[key.split('#')[0]].append(key)
    head = CLIPTeacherHead(feature_dim=next(iter(video.values())).shape[1])
    best = {}
    for vid, keys in by_video.items():
        frames = torch.from_numpy(video[vid])[None]  # (1, T, D)
        query = torch.from_numpy(np.concatenate([text[k] for k in keys]))
        out = head(frames, query, torch.ones(frames.shape[:2]),
                   torch.zeros(len(keys), dtype=torch.long))
        best.update(zip(keys, out['pos_clip_scores']))
    return best


def _check_frame_ranking(ref: dict, low: dict) -> None:
    """bf16 moves no frame cosine by more than ``MAX_SCORE_DIFF``; the
    best frame of a caption changes only where fp32 ranks two frames
    within ``2 * MAX_SCORE_DIFF`` of each other (random weights make many
    such near-ties), and stays the same for >= 75 % of the captions (a
    broken bf16 path would agree about as often as chance)."""
    same = 0
    for key, a in ref.items():
        b = low[key]
        assert float((a - b).abs().max()) <= MAX_SCORE_DIFF, key
        if int(a.argmax()) == int(b.argmax()):
            same += 1
        else:
            assert float(a.max() - a[b.argmax()]) < 2 * MAX_SCORE_DIFF
    assert same >= 0.75 * len(ref), f'{same} of {len(ref)}'


def test_clip_tool_bf16_matches_fp32(toy):
    """``extract_clip_features.py --precision bf16`` (a real subprocess)
    writes float32 features within cosine 0.999 of ``--precision fp32`` on
    the same frames, logs and records the precision, and every caption's
    best frame in its video is the same."""
    out = {}
    for precision in ('fp32', 'bf16'):
        args = [
            CLIP_TOOL,
            osp.join(toy['coll'], 'videos'), toy['root'], COLL, '--fps', '2',
            '--model-config', toy['arch'], '--pretrained', toy['weights'],
            '--workers', '0', '--batch-size', '4', '--no-progress',
            '--no-check', '--precision', precision, '--video-out',
            osp.join(toy['base'], f'video_{precision}.h5'), '--text-out',
            osp.join(toy['base'], f'text_{precision}.h5'), '--summary',
            osp.join(toy['base'], f'summary_{precision}.json')
        ]
        if precision == 'fp32':  # the same main() in this process
            assert runpy.run_path(CLIP_TOOL)['main'](args[1:]) == 0
        else:
            proc = run_tool(*args, cwd=toy['base'], threads=2)
            assert 'precision bf16' in proc.stdout
        with open(args[-1]) as f:
            assert json.load(f)['precision'] == precision
        out[precision] = (_h5(args[-5]), _h5(args[-3]))
    (v32, t32), (v16, t16) = out['fp32'], out['bf16']
    assert len(v32) == 4 and len(t32) >= 4
    _assert_close_not_equal(v32, v16)
    _assert_close_not_equal(t32, t16)
    _check_frame_ranking(_frame_scores(v32, t32), _frame_scores(v16, t16))


@pytest.mark.parametrize('encoder', ['open_clip', 'hf'])
def test_text_tool_bf16_matches_fp32(toy, tmp_path, encoder):
    """``extract_text_features.py --precision bf16``: float32 token
    features within cosine 0.999 of fp32, for the CLIP text tower and a
    (tiny) RoBERTa."""
    captions = [
        osp.join(toy['coll'], 'TextData', f'{COLL}{s}.caption.txt')
        for s in ('train', 'val', 'test')
    ]
    if encoder == 'open_clip':
        model = [
            '--encoder', 'open_clip', '--model-config', toy['arch'],
            '--pretrained', toy['weights']
        ]
    else:
        sentences = [s for c in captions for _, s in parse_caption_file(c)]
        model = ['--model', make_tiny_roberta(str(tmp_path / 'rb'), sentences)]
    main = runpy.run_path(TEXT_TOOL)['main']
    feats = {}
    for precision in ('fp32', 'bf16'):
        path = str(tmp_path / f'{precision}.h5')
        assert main([
            toy['root'], COLL, *model, '--precision', precision, '--out', path,
            '--no-progress'
        ]) == 0
        feats[precision] = _h5(path)
    _assert_close_not_equal(feats['fp32'], feats['bf16'])


def _toy_frames(toy, size: int, count: int = 4) -> torch.Tensor:
    """(count, 3, size, size) uint8 frames of the first test video."""
    path = collection_paths(toy['root'], COLL, visual_feature='-')['dir']
    video = sorted(os.listdir(osp.join(path, 'videos')))[0]
    with open_video(osp.join(path, 'videos', video)) as reader:
        idx = np.linspace(0, reader.info.num_frames - 1, count).astype(int)
        frames = np.stack(list(reader.get_frames(idx)))  # (n, H, W, 3)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode='bilinear')
    return x.round().clamp(0, 255).to(torch.uint8)


def test_teacher_head_bf16_keeps_the_frame_ranking(toy):
    """The online teacher in bf16: frame and sentence embeddings within
    cosine 0.999 of fp32, the same best frame for every caption; an outer
    autocast (``--amp``) leaves the fp32 teacher bit-identical."""
    clip_model = dict(model_cfg=toy['arch'], pretrained=toy['weights'])
    frames = _toy_frames(toy, 32, count=6)[None]  # (1, 6, 3, 32, 32)
    path = osp.join(toy['coll'], 'TextData', f'{COLL}test.caption.txt')
    texts = [s for _, s in parse_caption_file(path)]
    outs = {}
    for precision in ('fp32', 'bf16'):
        head = CLIPTeacherHead(
            feature_dim=32, clip_model=clip_model, precision=precision)
        video, query = head.teacher_features(
            dict(
                teacher_frames=frames,
                teacher_text=texts,
                video_mask=torch.ones(1, 6)))
        assert video.dtype == query.dtype == torch.float32
        outs[precision] = (video, query, head)
    (v32, q32, head32), (v16, q16, _) = outs['fp32'], outs['bf16']
    assert F.cosine_similarity(v32, v16, dim=-1).min() >= MIN_COS
    assert F.cosine_similarity(q32, q16, dim=-1).min() >= MIN_COS
    assert not torch.equal(v32, v16)
    mask, own = torch.ones(1, 6), torch.zeros(len(texts), dtype=torch.long)
    scores = [
        dict(enumerate(head32(v, q, mask, own)['pos_clip_scores']))
        for v, q in ((v32, q32), (v16, q16))
    ]
    _check_frame_ranking(*scores)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        inside = head32.encode_frames(frames)
    assert torch.equal(inside, v32)


def test_vit_b32_bf16_matches_fp32(toy):
    """A real-size random open_clip ViT-B/32 on 2 real frames and 2
    captions: weights cast once + autocast within cosine 0.999 of fp32."""
    torch.manual_seed(0)
    model, preprocess, tokenizer, _ = build_clip(dict(model_name='ViT-B-32'))
    frames = _toy_frames(toy, 224, count=2)
    images = torch.stack([
        preprocess(Image.fromarray(f.permute(1, 2, 0).numpy())) for f in frames
    ])
    ids = tokenizer(['a red circle moves left', 'a blue square goes up'])
    with torch.inference_mode():
        ref = model.encode_image(images), model.encode_text(ids)
        assert cast_frozen(model, 'bf16') == 'bf16'
        with autocast_context('bf16'):
            low = model.encode_image(images), model.encode_text(ids)
    for a, b in zip(ref, low):
        assert b.dtype == torch.bfloat16  # the towers ran in bf16
        cos = F.cosine_similarity(a, b.float(), dim=-1)
        assert float(cos.min()) >= MIN_COS, cos
