"""tandem.device: the real device agent — pull and verify signed models, run them with ONNX Runtime,
ask the cloud by request policy, train federated rounds locally and submit updates.

Modules: ``agent`` (:class:`~tandem.device.agent.DeviceAgent`), ``trainer`` (device-side federated training,
any Transport), ``policy`` (the request-policy hook routing plugs into), ``modelspec`` (architecture specs,
ONNX graphs), ``fleet`` (many agents in one process), ``cli`` (``tandem device``).
"""
