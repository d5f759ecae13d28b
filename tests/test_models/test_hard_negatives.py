"""The query->video hard negatives of TripletRankingLoss are drawn uniformly
from ranks 1..hard_pool_size (rank 0 = the positive), like the authors'."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

# chi-square critical value, 19 degrees of freedom, p = 0.001
CHI2_19_P001 = 43.82


def _ranks_of(picks, scores, positive):
    """Rank of each picked video among the query's videos (0 = positive,
    1 = hardest negative), by score."""
    ranked = scores.masked_fill(positive, float('inf'))
    order = ranked.argsort(dim=1, descending=True)
    return (order == picks[:, None]).float().argmax(dim=1)


def test_negatives_uniform_over_the_hard_pool():
    loss = MODELS.build(
        dict(type='TripletRankingLoss', margin=0.2, hard_pool_size=20))
    gen = torch.Generator().manual_seed(0)
    num_q, num_v = 10000, 32  # 500 draws per rank expected
    scores = torch.rand(num_q, num_v, generator=gen)
    labels = torch.randint(0, num_v, (num_q, ), generator=gen)
    positive = F.one_hot(labels, num_v).bool()
    torch.manual_seed(123)
    picks = loss.sample_query_negatives(scores, positive)
    assert not positive[torch.arange(num_q), picks].any()
    counts = torch.bincount(
        _ranks_of(picks, scores, positive).long(), minlength=num_v)
    assert counts[0] == 0 and counts[21:].sum() == 0  # only ranks 1..20
    observed = counts[1:21].double()
    expected = num_q / 20
    chi2 = ((observed - expected)**2 / expected).sum().item()
    assert chi2 < CHI2_19_P001, (chi2, observed.tolist())
    # a sampler restricted to ranks 1..19 would fail the same test
    biased = observed.clone()
    biased[-1] = 0
    biased[:-1] *= 20 / 19
    assert ((biased - expected)**2 / expected).sum().item() > CHI2_19_P001


def test_small_batches_and_no_hard_negative():
    loss = MODELS.build(
        dict(type='TripletRankingLoss', margin=0.2, hard_pool_size=20))
    scores = torch.rand(30, 5)  # pool = 4 other videos
    labels = torch.arange(30) % 5
    positive = F.one_hot(labels, 5).bool()
    torch.manual_seed(0)
    ranks = _ranks_of(
        loss.sample_query_negatives(scores, positive), scores, positive)
    assert set(ranks.long().tolist()) <= {1, 2, 3, 4}
    hardest = MODELS.build(
        dict(type='TripletRankingLoss', margin=0.2, hard_pool_size=1))
    ranks = _ranks_of(
        hardest.sample_query_negatives(scores, positive), scores, positive)
    assert bool((ranks == 1).all())
    with pytest.raises(ValueError, match='drop_last'):
        loss(torch.rand(3, 1), torch.zeros(3, dtype=torch.long))
