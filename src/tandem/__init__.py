"""tandem: device-cloud collaborative learning and inference with large and small models.

The package is organised by direction of collaboration (see docs/architecture.md):
``delivery`` (cloud -> device), ``routing`` (cloud for device) and ``federated``
(device -> cloud), on top of shared ``core`` (the wire), ``data``, ``fleet`` and ``transport``.
"""

__version__ = "0.1.0"
