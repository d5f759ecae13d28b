"""Tiny real models for tests and smoke runs (random weights, no download),
saved the way the real ones are, so tools load them through their real
loading path (``--model FOLDER``, a config JSON, a config + checkpoint): a
tiny RoBERTa with a tokenizer trained on given sentences, a tiny open_clip
architecture with the real vocabulary, a tiny mmaction2 recognizer config."""
import json
import os
import os.path as osp
from typing import Iterable, Optional

from prvr_mm.models.teachers.open_clip_utils import TINY_CLIP_CFG


def make_tiny_roberta(folder: str,
                      sentences: Iterable[str],
                      hidden_size: int = 32,
                      num_layers: int = 1,
                      num_heads: int = 2,
                      vocab_size: int = 400,
                      max_positions: int = 64,
                      seed: int = 0) -> str:
    """Train a byte-level BPE tokenizer on ``sentences`` and save it with a
    randomly initialised small ``RobertaModel`` (``save_pretrained``), so
    ``AutoTokenizer`` / ``AutoModel.from_pretrained(folder)`` load them.

    Args:
        folder (str): output folder (created).
        sentences (Iterable[str]): training text of the tokenizer.
        hidden_size (int): model width (the token feature dimension).
        num_layers (int): transformer layers.
        num_heads (int): attention heads.
        vocab_size (int): BPE vocabulary size (special tokens included).
        max_positions (int): longest tokenised sentence the model accepts.
        seed (int): seed of the random weights.

    Returns:
        str: ``folder``.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast
    specials = ['<s>', '<pad>', '</s>', '<unk>', '<mask>']
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(sentences),
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=specials,
        show_progress=False)
    os.makedirs(folder, exist_ok=True)
    bpe.save_model(folder)  # vocab.json + merges.txt
    # vocab.json + merges.txt load the same way in transformers 4 and 5
    tok = RobertaTokenizerFast.from_pretrained(
        folder, model_max_length=max_positions)
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions + 2,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id)
    RobertaModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    return folder


def write_tiny_clip_config(path: str, cfg: Optional[dict] = None) -> str:
    """Write an open_clip architecture JSON (default: a 32-d one-layer CLIP
    with the real vocabulary) whose file name (without ``.json``) is the
    model name for ``--model-config`` / ``model_cfg``.

    Returns:
        str: ``path``.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(cfg or TINY_CLIP_CFG, f, indent=1)
    return path


def make_tiny_recognizer(config_path: str,
                         checkpoint_path: Optional[str] = None,
                         kind: str = '2d',
                         clip_len: int = 8,
                         size: int = 32,
                         seed: int = 0) -> str:
    """Write an mmaction2 recognizer config with a tiny random backbone (and
    optionally save its random weights as a checkpoint).

    Args:
        config_path (str): output ``.py`` config.
        checkpoint_path (str, optional): also save ``state_dict`` here.
        kind (str): ``'2d'`` (``Recognizer2D`` + ``MobileNetV2`` at width
            0.25, 1280-d output) or ``'3d'`` (``Recognizer3D`` + a two-stage
            ``X3D`` at half width, 32-d output).
        clip_len (int): frames per clip of the config's test pipeline.
        size (int): frames are resized (short side) and centre-cropped to
            ``size`` pixels.
        seed (int): seed of the random weights.

    Returns:
        str: ``config_path``.
    """
    if kind == '2d':
        model = dict(
            type='Recognizer2D',
            backbone=dict(
                type='MobileNetV2',
                widen_factor=0.25,
                out_indices=(7, ),
                norm_eval=False),
            cls_head=dict(
                type='TSNHead',
                num_classes=4,
                in_channels=320,
                average_clips='prob'),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                format_shape='NCHW'))
    elif kind == '3d':
        model = dict(
            type='Recognizer3D',
            backbone=dict(
                type='X3D',
                gamma_w=0.5,
                gamma_b=1.0,
                gamma_d=0.5,
                num_stages=2,
                spatial_strides=(2, 2)),
            cls_head=dict(
                type='X3DHead', in_channels=32, num_classes=4, fc1_bias=False),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[114.75, 114.75, 114.75],
                std=[57.38, 57.38, 57.38],
                format_shape='NCTHW'))
    else:
        raise ValueError(f"kind must be '2d' or '3d', got {kind!r}")
    fmt = model['data_preprocessor']['format_shape']
    test_pipeline = [
        dict(type='PyAVInit'),
        dict(
            type='SampleFrames',
            clip_len=clip_len,
            frame_interval=1,
            num_clips=1,
            test_mode=True),
        dict(type='PyAVDecode'),
        dict(type='Resize', scale=(-1, size)),
        dict(type='CenterCrop', crop_size=size),
        dict(type='FormatShape', input_format=fmt),
        dict(type='PackActionInputs'),
    ]
    os.makedirs(osp.dirname(osp.abspath(config_path)), exist_ok=True)
    with open(config_path, 'w') as f:
        f.write('# A tiny randomly initialised mmaction2 recognizer '
                f'({kind}) for tests.\n')
        f.write(f'model = {model!r}\n')
        f.write(f'test_pipeline = {test_pipeline!r}\n')
    if checkpoint_path:
        import torch
        from mmaction.registry import MODELS
        from mmengine.registry import init_default_scope
        init_default_scope('mmaction')
        torch.manual_seed(seed)
        net = MODELS.build(model)
        torch.save(
            dict(state_dict=net.state_dict(), meta=dict()), checkpoint_path)
    return config_path
