"""Caption metrics from ``pycocoevalcap`` (BLEU-1..4, METEOR, ROUGE-L, CIDEr; SPICE left out: it
downloads Stanford CoreNLP on first use) and the per-caption CIDEr used as the RL reward."""

from __future__ import annotations

import shutil

import numpy as np

_METEOR = None


def java_available() -> bool:
    return shutil.which("java") is not None


def _require_java(what: str):
    if not java_available():
        raise RuntimeError(
            f"{what} needs Java (pycocoevalcap runs a .jar): no `java` on PATH. Install a JRE "
            "(e.g. `apt-get install openjdk-17-jre-headless`) or call with meteor=False / "
            "tokenize=False"
        )


def meteor_scorer():
    """One METEOR subprocess per Python process (starting the JVM takes seconds)."""
    global _METEOR
    _require_java("METEOR")
    if _METEOR is None:
        from pycocoevalcap.meteor.meteor import Meteor

        _METEOR = Meteor()
    return _METEOR


def ptb_tokenize(captions: dict) -> dict:
    """Stanford PTB tokenisation of {id: [caption, ...]} as the COCO evaluation does (needs
    Java)."""
    import contextlib
    import io

    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    import os
    import sys
    import tempfile

    _require_java("the PTB tokenizer")
    sys.stderr.flush()
    # the Java tokenizer reports its speed on the process's stderr: keep it out of the page
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return PTBTokenizer().tokenize(
                    {k: [{"caption": c} for c in v] for k, v in captions.items()}
                )
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def caption_scores(refs: dict, hyps: dict, meteor: bool = True, tokenize: bool = False) -> dict:
    """Corpus scores of ``hyps`` ({id: caption}) against ``refs`` ({id: [captions]}).

    Returns {"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr"} as fractions (CIDEr ~0-10).
    ``tokenize=True`` runs the PTB tokenizer first (real captions with punctuation)."""
    import contextlib
    import io

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if set(refs) != set(hyps):
        raise ValueError(
            f"refs and hyps must have the same ids; {len(set(refs) ^ set(hyps))} differ"
        )
    if not hyps:
        raise ValueError("no captions to score")
    for k, v in refs.items():
        if not v:
            raise ValueError(f"image {k!r} has no reference caption")
    if tokenize:
        refs = ptb_tokenize(refs)
        hyps = {k: v[0] for k, v in ptb_tokenize({k: [h] for k, h in hyps.items()}).items()}
    # newlines desynchronise METEOR's pipe
    clean = lambda c: " ".join(c.replace("|||", " ").split()) or "<empty>"
    gts = {k: [clean(c) for c in v] for k, v in refs.items()}
    res = {k: [clean(h)] for k, h in hyps.items()}
    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        b, _ = Bleu(4).compute_score(gts, res)
    out.update({f"BLEU-{n + 1}": float(b[n]) for n in range(4)})
    if meteor:
        out["METEOR"] = float(meteor_scorer().compute_score(gts, res)[0])
    out["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    out["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    return out


def cider_per_caption(hyps: list[str], refs: list[list[str]]) -> np.ndarray:
    """CIDEr of each caption against its references, with document frequencies over this batch's
    references (pycocoevalcap's CiderScorer): the evaluation-consistent reward of Section 3.2."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} captions but {len(refs)} reference lists")
    scorer = CiderScorer(n=4, sigma=6.0)
    for h, r in zip(hyps, refs):
        scorer += (h if h.strip() else "<empty>", list(r))
    _, scores = scorer.compute_score()
    return np.asarray(scores, dtype=np.float64)
