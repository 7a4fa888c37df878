"""Chapter 04: multimodal (skeleton + IMU) contrastive self-supervised action recognition.

Yang et al., Frontiers in Neuroscience 2023. Public names used by ``notebooks/04_action.py``.
"""

from .data import (
    ActionData,
    UTD_ACTIONS,
    UTD_BONES,
    UTD_JOINTS,
    imu_statistics,
    label_fraction,
    load_mmact,
    mmact_available,
    load_utd_mhad,
    mmact_expected_layout,
    mmact_split,
    read_utd_mat,
    to_tensors,
    utd_split,
)
from .augment import IMUAugment, SkeletonAugment
from .encoders import (
    FusionClassifier,
    IMUEncoder,
    SkeletonEncoder,
    SupervisedModel,
    projection_head,
)
from .losses import (
    barlow_twins_loss,
    cmc_loss,
    covariance_term,
    cross_correlation,
    cross_correlation_loss,
    invariance_term,
    nt_xent_loss,
    variance_term,
    vicreg_loss,
)
from .ssl import (
    MODALITIES,
    ActionConfig,
    SSLModel,
    extract_features,
    linear_eval,
    pretrain_multimodal,
    pretrain_unimodal,
    scores,
)
from .baselines import pretrain_baseline, random_encoders, train_supervised
