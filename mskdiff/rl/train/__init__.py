"""Policy training: PPO, analytic policy gradients, gradient-augmented methods and SAR.

`train(env, PPO(...), steps=...)` runs any algorithm on any environment of Playground's contract
(`mskdiff.rl.make(...)`, `mskdiff.rl.Reach()`); `load_policy(run_dir)` loads its result.
Only core packages are needed; SAR's PCA/ICA use scikit-learn (the `train` extra).
"""

from .apg import APG, HorizonCut
from .common import AbstractAlgorithm, TrainState
from .envs import BatchedEnv, EnvBatch, Step
from .gippo import GradientPPO
from .loop import TrainResult, env_mesh, load_policy, train
from .networks import Actor, Critic, Normalizer, Policy
from .ppo import PPO
from .shac import SHAC

__all__ = ["APG", "PPO", "SHAC", "AbstractAlgorithm", "Actor", "BatchedEnv", "Critic", "EnvBatch",
           "GradientPPO", "HorizonCut", "Normalizer", "Policy", "Step", "TrainResult", "TrainState",
           "env_mesh", "load_policy", "train"]
