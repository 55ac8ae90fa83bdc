"""tandem.data: real data set loaders, client partitioners, client populations
(:class:`PartitionedData`, :class:`SyntheticClients`) and the synthetic fleet generator.

Loaders read local copies (``find_data_root``: explicit path, ``$TANDEM_DATA``, or ``../shared/data`` beside the
checkout) and never touch the network unless called with ``download=True``. The embedded default needs no
download at all: :func:`load_sklearn` and :func:`make_synthetic_fleet`. A user's own files: :func:`load_interactions`
(CSV/TSV logs, RecBole ``.inter``, S3-Rec text), :func:`load_table` (CSV/TSV/Parquet with a label column) and
:func:`load_text_file` (CSV/TSV texts with labels).
"""

from tandem.data.arrays import ArrayDataset, train_test_split_indices
from tandem.data.catalog import DatasetInfo, describe_datasets
from tandem.data.clients import ClientData, PartitionedData, RoundView, SyntheticClients
from tandem.data.download import RemoteFile, download_file, download_sources, sha256_file, verify_sources
from tandem.data.interactions import load_interactions
from tandem.data.movielens import InteractionLog, load_movielens_100k
from tandem.data.partition import by_user_partition, dirichlet_partition, iid_partition, partition_sizes
from tandem.data.paths import dataset_dir, find_data_root, peers_dir
from tandem.data.sequences import LeaveOneOut, SequenceDataset, leave_one_out, load_s3rec
from tandem.data.sklearn_sets import SKLEARN_SETS, load_sklearn
from tandem.data.sst2 import TextDataset, load_sst2
from tandem.data.synthetic import SyntheticFleet, make_synthetic_fleet
from tandem.data.tables import load_table
from tandem.data.text_files import load_text_file
from tandem.data.uci import TabularDataset, TabularEncoder, load_adult, load_bank

__all__ = [
    "SKLEARN_SETS",
    "ArrayDataset",
    "ClientData",
    "DatasetInfo",
    "InteractionLog",
    "LeaveOneOut",
    "PartitionedData",
    "RemoteFile",
    "RoundView",
    "SequenceDataset",
    "SyntheticClients",
    "SyntheticFleet",
    "TabularDataset",
    "TabularEncoder",
    "TextDataset",
    "by_user_partition",
    "dataset_dir",
    "describe_datasets",
    "dirichlet_partition",
    "download_file",
    "download_sources",
    "find_data_root",
    "iid_partition",
    "leave_one_out",
    "load_adult",
    "load_bank",
    "load_interactions",
    "load_movielens_100k",
    "load_s3rec",
    "load_sklearn",
    "load_sst2",
    "load_table",
    "load_text_file",
    "make_synthetic_fleet",
    "partition_sizes",
    "peers_dir",
    "sha256_file",
    "train_test_split_indices",
    "verify_sources",
]
