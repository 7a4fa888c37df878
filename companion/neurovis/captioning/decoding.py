"""Decoding with any captioner of ``models``: greedy, sampling (the RL policy's actions) and beam
search (Section 4: beam size 5). Token ids: 0 pad, 1 ``<start>``, 2 ``<end>``."""

from __future__ import annotations

import torch

START_ID, END_ID = 1, 2


def _reorder(state: dict, idx: torch.Tensor) -> dict:
    return {k: v.index_select(0, idx) for k, v in state.items()}


def _batch_size(feats: dict) -> int:
    return next(iter(feats.values())).shape[0]


@torch.no_grad()
def greedy(model, feats: dict, max_len: int = 16, return_attention: bool = False):
    """Arg-max decoding. Returns (B, max_len) token ids (``<end>`` kept, then 0s), and with
    ``return_attention`` also (B, max_len, R) attention weights (zeros for models without
    attention)."""
    B = _batch_size(feats)
    state = model.init_state(feats)
    tokens = torch.full((B,), START_ID, dtype=torch.long, device=next(iter(feats.values())).device)
    seqs, atts = [], []
    done = torch.zeros(B, dtype=torch.bool, device=tokens.device)
    for _ in range(max_len):
        logits, state, a = model.step(tokens, state)
        tokens = logits.argmax(-1).masked_fill(done, 0)
        seqs.append(tokens)
        if return_attention:
            atts.append(a if a is not None else torch.zeros(B, 1, device=tokens.device))
        done = done | (tokens == END_ID)
        if done.all():
            break
    out = torch.zeros(B, max_len, dtype=torch.long, device=tokens.device)
    out[:, : len(seqs)] = torch.stack(seqs, 1)
    if not return_attention:
        return out
    att = torch.zeros(B, max_len, atts[0].shape[1], device=tokens.device)
    att[:, : len(atts)] = torch.stack(atts, 1)
    return out, att


def repeat_feats(feats: dict, n: int) -> dict:
    """Every image's features ``n`` times in a row (n samples per image)."""
    return {k: v.repeat_interleave(n, 0) for k, v in feats.items()} if n > 1 else feats


def sample(
    model,
    feats: dict,
    max_len: int = 16,
    generator: torch.Generator | None = None,
    n: int = 1,
):
    """Sample captions from the policy pi(a_t | s_t) (Eq. 31-32), ``n`` per image (image i's
    samples are rows i*n .. i*n+n-1). The model's mode is the caller's: the RL stage samples in eval
    mode, so that the policy it improves is the dropout-free one it is evaluated with. Returns
    (tokens (B*n, T), log pi of each action (B*n, T) with gradient, mask (B*n, T): 1 for actions up
    to and including ``<end>``)."""
    feats = repeat_feats(feats, n)
    B = _batch_size(feats)
    state = model.init_state(feats)
    dev = next(iter(feats.values())).device
    tokens = torch.full((B,), START_ID, dtype=torch.long, device=dev)
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    seqs, logps, masks = [], [], []
    for _ in range(max_len):
        logits, state, _ = model.step(tokens, state)
        logp = torch.log_softmax(logits, -1)
        nxt = torch.multinomial(logp.detach().exp(), 1, generator=generator).squeeze(1)
        masks.append((~done).float())
        logps.append(logp.gather(1, nxt[:, None]).squeeze(1))
        tokens = nxt.masked_fill(done, 0)
        seqs.append(tokens)
        done = done | (tokens == END_ID)
        if done.all():
            break
    return torch.stack(seqs, 1), torch.stack(logps, 1), torch.stack(masks, 1)


@torch.no_grad()
def beam_search(model, feats: dict, beam: int = 5, max_len: int = 16) -> torch.Tensor:
    """Beam search: keep the ``beam`` partial captions of highest total log-probability at every
    step (no length normalisation); finished beams carry their score unchanged. Returns (B, max_len)
    ids of the best caption per image; ``beam=1`` is greedy decoding."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    B = _batch_size(feats)
    dev = next(iter(feats.values())).device
    state = model.init_state(feats)
    state = _reorder(state, torch.arange(B, device=dev).repeat_interleave(beam))
    scores = torch.full((B, beam), float("-inf"), device=dev)
    scores[:, 0] = 0.0
    tokens = torch.full((B * beam,), START_ID, dtype=torch.long, device=dev)
    seqs = torch.zeros(B * beam, 0, dtype=torch.long, device=dev)
    done = torch.zeros(B * beam, dtype=torch.bool, device=dev)
    for _ in range(max_len):
        logits, state, _ = model.step(tokens, state)
        logp = torch.log_softmax(logits.float(), -1)
        V = logp.shape[1]
        carry = torch.full_like(logp, float("-inf"))
        carry[:, 0] = 0.0
        logp = torch.where(done[:, None], carry, logp)
        cand = (scores.reshape(-1, 1) + logp).reshape(B, beam * V)
        scores, idx = cand.topk(beam, dim=1)
        src = (idx // V + torch.arange(B, device=dev)[:, None] * beam).reshape(-1)
        tokens = (idx % V).reshape(-1)
        state = _reorder(state, src)
        seqs = torch.cat([seqs.index_select(0, src), tokens[:, None]], 1)
        done = done.index_select(0, src) | (tokens == END_ID) | (tokens == 0)
        if done.all():
            break
    best = seqs.reshape(B, beam, -1)[:, 0]
    out = torch.zeros(B, max_len, dtype=torch.long, device=dev)
    out[:, : best.shape[1]] = best
    return out


@torch.no_grad()
def value_guided_beam_search(
    model,
    value,
    feats: dict,
    lam: float,
    beam: int = 5,
    max_len: int = 16,
    expand: int | None = None,
) -> torch.Tensor:
    """Lookahead inference with the policy and value networks (Section 3.2, Figure 8; Ren et al.
    2017): every beam proposes its ``expand`` (default ``beam``) most likely next words, each
    candidate caption is ranked by lam * log pi(caption so far) + (1 - lam) * v(state after the
    word), and the ``beam`` best are kept; the value network "decides whether to choose the actions
    given by the policy network". ``lam = 1`` is beam search over the same candidates (equal to
    ``beam_search``, a test checks it). ``value``: a ``ValueNetwork`` (``init``/``step``). Returns
    (B, max_len) ids of the best-ranked finished caption per image."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    k = expand or beam
    B = _batch_size(feats)
    dev = next(iter(feats.values())).device
    rep = torch.arange(B, device=dev).repeat_interleave(beam)
    state = _reorder(model.init_state(feats), rep)
    vstate = value.init(feats["regions"].index_select(0, rep))
    logp_sum = torch.full((B, beam), float("-inf"), device=dev)
    logp_sum[:, 0] = 0.0
    vals = torch.zeros(B, beam, device=dev)
    tokens = torch.full((B * beam,), START_ID, dtype=torch.long, device=dev)
    seqs = torch.zeros(B * beam, 0, dtype=torch.long, device=dev)
    done = torch.zeros(B * beam, dtype=torch.bool, device=dev)
    for _ in range(max_len):
        logits, state, _ = model.step(tokens, state)
        logp = torch.log_softmax(logits.float(), -1)
        top_lp, top_w = logp.topk(k, dim=1)  # (B*beam, k)
        # a finished beam carries itself once: token 0, log pi 0, its last value
        top_lp = torch.where(done[:, None], torch.full_like(top_lp, float("-inf")), top_lp)
        top_lp[:, 0] = torch.where(done, torch.zeros_like(top_lp[:, 0]), top_lp[:, 0])
        top_w = torch.where(done[:, None], torch.zeros_like(top_w), top_w)
        v_cand, vs_cand = value.step(
            top_w.reshape(-1), {n: t.repeat_interleave(k, 0) for n, t in vstate.items()}
        )
        v_cand = v_cand.reshape(B * beam, k)
        v_cand = torch.where(done[:, None], vals.reshape(-1, 1).expand(-1, k), v_cand)
        cum = (logp_sum.reshape(-1, 1) + top_lp).reshape(B, beam * k)
        rank = lam * cum + (1.0 - lam) * v_cand.reshape(B, beam * k)
        rank = torch.where(torch.isinf(cum), cum, rank)
        _, idx = rank.topk(beam, dim=1)
        logp_sum = cum.gather(1, idx)
        vals = v_cand.reshape(B, beam * k).gather(1, idx)
        src_beam = idx // k
        src = (src_beam + torch.arange(B, device=dev)[:, None] * beam).reshape(-1)
        flat = src * k + (idx % k).reshape(-1)
        tokens = top_w.reshape(-1).index_select(0, flat)
        state = _reorder(state, src)
        vstate = {n: t.index_select(0, flat) for n, t in vs_cand.items()}
        seqs = torch.cat([seqs.index_select(0, src), tokens[:, None]], 1)
        done = done.index_select(0, src) | (tokens == END_ID) | (tokens == 0)
        if done.all():
            break
    final = lam * logp_sum + (1.0 - lam) * vals
    final = torch.where(torch.isinf(logp_sum), logp_sum, final)
    pick = final.argmax(1)
    best = seqs.reshape(B, beam, -1)[torch.arange(B, device=dev), pick]
    out = torch.zeros(B, max_len, dtype=torch.long, device=dev)
    out[:, : best.shape[1]] = best
    return out
