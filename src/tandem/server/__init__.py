"""tandem.server: the real cloud — FastAPI app, persistence (SQLAlchemy: SQLite WAL, PostgreSQL by URL), auth.

Entry point: :func:`tandem.server.app.create_app` (``tandem serve`` on the command line). Modules:
``app`` (factory, error handling, metrics middleware), ``api_public`` / ``api_device`` / ``api_admin``
(endpoints), ``store`` (devices, credentials, feedback), ``registry`` (model versions, signed artifacts),
``mailbox`` (the server's Transport: durable mailboxes, update checks), ``rounds`` (server-managed
federated rounds), ``inference`` (micro-batched large model), ``metrics`` (Prometheus), ``db`` (tables).
Importing this package imports nothing heavy; FastAPI is needed only by ``app`` and the routers.
"""
