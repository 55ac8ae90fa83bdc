"""tandem.device: the real device agent — pull and verify signed models, run them with ONNX Runtime,
ask the cloud by request policy, train federated rounds locally and submit updates.

Modules: ``agent`` (:class:`~tandem.device.agent.DeviceAgent`; its request policies are
:mod:`tandem.routing`'s, through :class:`~tandem.routing.agent.AgentPolicy`), ``trainer`` (device-side
federated training, any Transport), ``modelspec`` (ONNX graphs of the models :mod:`tandem.models.mlp`
specifies). Many agents in one process and ``tandem device``: :mod:`tandem.recipes.device`.
"""
