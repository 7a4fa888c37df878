"""Chapter 07 — image captioning with guided decoding and deep reinforcement learning (Bai et al.
2023): DenseNet + MIL encoder, CNN-g guide, nested-LSTM decoder, double-layer attention decoder,
actor-critic RL with a value network and embedding reward; NIC, soft attention and SCST as
baselines."""

from .data import (
    CaptionSet,
    Vocabulary,
    tokenize,
    generate_scenes,
    coco_mini,
    load_coco_captions,
    load_karpathy_split,
    paper_sets,
    ImageFiles,
    relation,
    PAPER_LAYOUT,
    KARPATHY_HOW,
)
from .encoder import (
    DenseNetEncoder,
    MILDetector,
    Features,
    noisy_or,
    word_set,
    word_targets,
    top_k_mask,
    extract_features,
    standardize,
)
from .models import (
    CaptionerConfig,
    NestedLSTMCell,
    GuideNet,
    GuidedNLSTMCaptioner,
    DoubleAttentionCaptioner,
)
from .baselines import NIC, SoftAttention
from .decoding import greedy, sample, beam_search, value_guided_beam_search
from .metrics import CiderD, caption_scores, cider_per_caption, java_available
from .train import (
    TrainSettings,
    RLSettings,
    Reward,
    GroupClippedAdam,
    pretrain_critic,
    word2vec_vectors,
    train_mil,
    train_xe,
    train_rl,
    train_embedding,
    EmbeddingReward,
    ValueNetwork,
    ranking_loss,
    decode_all,
    evaluate_captions,
    val_cider,
    train_captioners,
    score_models,
    build_captioner,
)

__all__ = [n for n in dir() if not n.startswith("_")]
