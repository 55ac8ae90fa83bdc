"""Built-in federated strategies, one file each; importing this package registers them."""

# Trust wrappers around any strategy (robust aggregation, central DP, secure aggregation) register too.
from tandem.federated import privacy, robust, secagg_round  # noqa: F401
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
