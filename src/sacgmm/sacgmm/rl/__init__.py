"""The soft actor-critic core (torch, CPU): networks, autoencoder, replay buffer, SAC, checkpoints.

Modules, one idea each:

- :mod:`sacgmm.rl.networks` -- MLPs, the tanh-squashed Gaussian actor, twin Q critics.
- :mod:`sacgmm.rl.encoder` -- convolutional autoencoder for 64x64 sensor images (SAC-AE).
- :mod:`sacgmm.rl.replay` -- fixed-capacity replay buffer (images as uint8) with save/load.
- :mod:`sacgmm.rl.sac` -- the SAC agent (twin Q, target networks, entropy temperature, SAC-AE).
- :mod:`sacgmm.rl.checkpoint` -- atomic, resumable checkpoints (agent, buffer, RNG, counters).
- :mod:`sacgmm.rl.config` -- a run's configuration and the agent configuration files.
- :mod:`sacgmm.rl.learner` -- act, store, label, update, close episodes: the learning side of
  SAC-GMM, shared by ``sacgmm train`` and the ROS refiner.
- :mod:`sacgmm.rl.task_env`, :mod:`sacgmm.rl.train_task` -- the agents' views of the simulated
  tasks and ``sacgmm train``'s protocol.
- :mod:`sacgmm.rl.toy` -- a tiny 1-D target-reaching environment for tests.
- :mod:`sacgmm.rl.train_gym` -- train and evaluate the core on a gymnasium Box-action env.

Nothing here imports ROS or pybullet; importing this package does not import torch
(the submodules do).
"""
