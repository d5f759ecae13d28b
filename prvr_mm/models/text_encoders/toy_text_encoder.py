"""The toy dataset's text encoder: sentences -> the per-word token
features the toy generator writes, so a model trained on the toy can be
searched with free text."""
import os.path as osp
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
from mmaction.registry import MODELS
from mmengine.logging import print_log
from mmengine.model import BaseModule


@MODELS.register_module()
class ToyTextEncoder(BaseModule):
    """Per-word token features of the toy collection (one token per word).

    The toy generator (:func:`prvr_mm.datasets.toy.make_toy_dataset`) gives
    every word of a caption one token feature: the word's vector plus noise.
    This encoder recovers the word vectors as the mean token feature of each
    word over the captions of one split (default ``train``) and encodes a
    sentence as the vectors of its known words -- the same encoder that
    produced the toy's training query features, up to their noise. Unknown
    words are left out (logged); a sentence without any known word is an
    error listing the vocabulary.

    Args:
        data_root (str): root of the toy dataset (``data/toy``).
        collection (str): collection name. Defaults to ``'toy'``.
        split (str): split whose captions define the vocabulary. Defaults
            to ``'train'``.
        init_cfg (dict, optional): for the BaseModule API.
    """

    def __init__(self,
                 data_root: str,
                 collection: str = 'toy',
                 split: str = 'train',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.data_root = data_root
        self.collection = collection
        self.split = split
        self._table: Dict[str, np.ndarray] = {}

    @property
    def table(self) -> Dict[str, np.ndarray]:
        """``{word: (D,) vector}`` (read on first use)."""
        if not self._table:
            self._table = self._read_table()
        return self._table

    def _read_table(self) -> Dict[str, np.ndarray]:
        import h5py

        from ...datasets.readers import PRVRDataError, parse_caption_file
        text = osp.join(self.data_root, 'TextData')
        captions = osp.join(text, f'{self.collection}{self.split}.caption.txt')
        feats = osp.join(text, f'roberta_{self.collection}_query_feat.hdf5')
        if not osp.isfile(feats):
            raise PRVRDataError(f'toy token features not found: {feats}')
        sums: Dict[str, np.ndarray] = {}
        counts: Dict[str, int] = {}
        with h5py.File(feats, 'r') as f:
            for cap_id, sentence in parse_caption_file(captions):
                words = sentence.lower().split()
                tokens = f[cap_id][()]
                if len(tokens) != len(words):
                    raise PRVRDataError(
                        f'{feats}: key {cap_id!r} has shape {tokens.shape}, '
                        f'expected ({len(words)}, D) (one token per word of '
                        f'{captions}); not a toy dataset?')
                for word, vec in zip(words, tokens):
                    sums[word] = sums.get(word, 0) + vec.astype(np.float64)
                    counts[word] = counts.get(word, 0) + 1
        return {w: (sums[w] / counts[w]).astype(np.float32) for w in sums}

    @property
    def vocabulary(self) -> List[str]:
        """Known words, sorted."""
        return sorted(self.table)

    @property
    def dim(self) -> int:
        """Token feature dimension D."""
        return len(next(iter(self.table.values())))

    def encode(self, sentences: Union[str, Sequence[str]]
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Token features of sentences.

        Args:
            sentences (str | Sequence[str]): N sentences.

        Returns:
            tuple: ``feats`` (N, L, D) float32 (zero padded) and ``mask``
            (N, L) bool, True on the known words.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        rows = []
        for sentence in sentences:
            words = sentence.lower().replace(',', ' ').replace('.',
                                                               ' ').split()
            known = [w for w in words if w in self.table]
            unknown = [w for w in words if w not in self.table]
            if not known:
                raise ValueError(
                    f'no word of {sentence!r} is in the toy vocabulary: '
                    f'{", ".join(self.vocabulary)}')
            if unknown:
                print_log(
                    f'ToyTextEncoder: unknown words left out: '
                    f'{unknown}',
                    logger='current')
            rows.append(np.stack([self.table[w] for w in known]))
        length = max(len(r) for r in rows)
        feats = torch.zeros(len(rows), length, self.dim)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for i, r in enumerate(rows):
            feats[i, :len(r)] = torch.from_numpy(r)
            mask[i, :len(r)] = True
        return feats, mask

    def forward(self,
                sentences: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`encode`."""
        return self.encode(sentences)
