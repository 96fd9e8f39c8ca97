"""Data sets, the tokenizer and the packing loader.

``prepare(dataset)`` makes a data set ready once (text, BPE tokenizer, token
arrays) in the data directory (``$HPDREAM_DATA_DIR``, else
``~/.cache/hpdream``); ``open_prepared`` opens it; ``PackedLoader`` feeds
training and evaluation with best-fit packed rows. See ``docs/data.md``.
"""

from hpdream_runner.data._exceptions import DataError, DownloadError, NotPreparedError
from hpdream_runner.data._loader import PackedLoader
from hpdream_runner.data._prepare import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    PreparedData,
    default_data_dir,
    open_prepared,
    prepare,
)
from hpdream_runner.data._sources import CLIMBMIX_URL, DATASETS, TINYSTORIES_URL
from hpdream_runner.data._tokenizer import BOS_TOKEN

__all__ = [
    "BOS_TOKEN",
    "CLIMBMIX_URL",
    "DATASETS",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "TINYSTORIES_URL",
    "DataError",
    "DownloadError",
    "NotPreparedError",
    "PackedLoader",
    "PreparedData",
    "default_data_dir",
    "open_prepared",
    "prepare",
]
