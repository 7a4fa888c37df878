"""neurovis: the companion package of the book "Neuroscience-driven visual representation".

One sub-package per paper (``neurovis.restoration``, ``neurovis.nrsfm``, ...) and a thin shared
core (``neurovis.core``). Sub-packages are imported explicitly; importing ``neurovis`` is cheap.
"""

__version__ = "0.1.0"

CHAPTERS = {
    "01_depression": "HMHN facial depression recognition",
    "02_nrsfm": "MCM-RR 3D shape from 2D sequences",
    "03_wafer": "MFFP-Net wafer-map defect recognition",
    "04_action": "Skeleton + IMU self-supervised action recognition",
    "05_audiovisual": "Attention and audiovisual integration (fMRI, EEG, ADTF)",
    "06_trucks": "Truck model recognition with MMAL-Net",
    "07_captioning": "Image captioning with guided decoding and RL",
    "08_smoke": "Surgical smoke classification with an improved PoolFormer",
    "09_checkout": "Vending checkout detection with Faster R-CNN",
    "10_driving": "MSAAM driving-scene segmentation",
    "11_restoration": "MS-GSRC image restoration",
}
