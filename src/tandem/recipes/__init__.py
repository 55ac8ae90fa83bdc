"""tandem.recipes: the experiments, benches, demos and peer workloads built on the library, one folder each.

Each recipe has one pydantic config and (where it has a command) a typer app whose options are derived from
that config (:mod:`tandem.recipes._options`). Library packages never import this package; recipes import the
library freely. Nothing is imported here, so ``import tandem.recipes.x`` loads only recipe ``x``.
"""
