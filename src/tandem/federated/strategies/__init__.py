"""Built-in federated strategies, one file each; importing this package registers them."""

from tandem.federated.strategies import (  # noqa: F401  (importing registers each strategy)
    ditto,
    fedadagrad,
    fedadam,
    fedavg,
    fedavgm,
    fedper,
    fedprox,
    fedyogi,
    qfedavg,
    scaffold,
)
