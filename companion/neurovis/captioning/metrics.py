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


def caption_scores(
    refs: dict, hyps: dict, meteor: bool = True, tokenize: bool = False, per_image_cider=False
) -> dict:
    """Corpus scores of ``hyps`` ({id: caption}) against ``refs`` ({id: [captions]}).

    Returns {"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr"} as fractions (CIDEr ~0-10).
    ``tokenize=True`` runs the PTB tokenizer first (real captions with punctuation);
    ``per_image_cider=True`` adds "CIDEr per image" (array in the order of ``refs``' ids)."""
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
    cider, per_image = Cider().compute_score(gts, res)
    out["CIDEr"] = float(cider)
    if per_image_cider:
        # the corpus CIDEr is the mean of these (the paired unit of the chapter's claims)
        out["CIDEr per image"] = np.asarray(per_image, dtype=np.float64)
    return out


def cider_per_caption(hyps: list[str], refs: list[list[str]]) -> np.ndarray:
    """CIDEr-D of each caption with document frequencies over *these* references
    (pycocoevalcap's CiderScorer on a corpus): the test-set scorer. For a reward use ``CiderD``,
    whose document frequencies are fixed on the training references, so that a caption's score
    does not depend on the batch it is scored in."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} captions but {len(refs)} reference lists")
    scorer = CiderScorer(n=4, sigma=6.0)
    for h, r in zip(hyps, refs):
        scorer += (h if h.strip() else "<empty>", list(r))
    _, scores = scorer.compute_score()
    return np.asarray(scores, dtype=np.float64)


class CiderD:
    """CIDEr-D (Vedantam et al. 2015: tf-idf n-gram cosine, n = 1..4, clipped counts, Gaussian
    length penalty sigma = 6, x10) with document frequencies and the log corpus size fixed on a
    corpus of reference sets, the training references, as SCST's reward does (Rennie et al.
    2017). The arithmetic is pycocoevalcap's ``CiderScorer`` (a test checks that scoring the corpus
    itself gives its numbers); only where the document frequencies come from differs, so the
    reward of a caption is a function of the caption and its references alone."""

    def __init__(self, corpus_refs: list[list[str]], n: int = 4, sigma: float = 6.0):
        from pycocoevalcap.cider.cider_scorer import precook

        if not corpus_refs:
            raise ValueError("CiderD needs a non-empty corpus of reference sets")
        self._precook, self.n, self.sigma = precook, n, sigma
        self.df: dict = {}
        for refs in corpus_refs:
            for g in {g for r in refs for g in precook(r, n)}:
                self.df[g] = self.df.get(g, 0.0) + 1.0
        self.ref_len = float(np.log(float(len(corpus_refs))))
        self._cache: dict = {}

    def _vec(self, counts):
        vec = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for g, tf in counts.items():
            k = len(g) - 1
            w = float(tf) * (self.ref_len - np.log(max(1.0, self.df.get(g, 0.0))))
            vec[k][g] = w
            norm[k] += w * w
            if k == 1:  # pycocoevalcap counts bigrams as the length
                length += tf
        return vec, [np.sqrt(x) for x in norm], length

    def _refs(self, refs) -> list:
        key = tuple(refs)
        if key not in self._cache:
            self._cache[key] = [self._vec(self._precook(r, self.n)) for r in refs]
        return self._cache[key]

    def score(self, hyp: str, refs) -> float:
        vec, norm, length = self._vec(self._precook(hyp, self.n))
        total = np.zeros(self.n)
        for vr, nr, lr in self._refs(refs):
            pen = np.e ** (-(float(length - lr) ** 2) / (2 * self.sigma**2))
            for k in range(self.n):
                val = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vec[k].items())
                if norm[k] != 0 and nr[k] != 0:
                    val /= norm[k] * nr[k]
                total[k] += val * pen
        return float(np.mean(total) / len(refs) * 10.0)

    def __call__(self, hyps: list[str], refs: list[list[str]]) -> np.ndarray:
        """CIDEr-D of each caption of ``hyps`` against its reference list."""
        if len(hyps) != len(refs):
            raise ValueError(f"{len(hyps)} captions but {len(refs)} reference lists")
        return np.array([self.score(h, r) for h, r in zip(hyps, refs)], dtype=np.float64)
