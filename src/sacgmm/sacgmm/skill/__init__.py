"""The GMM agent: demonstrations -> a stable dynamical system x_dot = f(x) by GMR.

Pure numpy/scipy/scikit-learn; imports no torch, no pybullet, no ROS.

>>> from sacgmm.skill import fit_skill, load_skill, GMMSkill
>>> skill = fit_skill(demos, dt, n_components=3, stable=True, seed=0)
>>> skill.velocity(x)                 # (d,) or (n, d) positions (m) -> velocities (m/s)
>>> skill.rollout(x0, dt, n_steps)    # Euler-integrated trajectory
>>> skill.adapted(d_priors, d_means, d_covariances)   # new skill, projections applied
>>> skill.save("skill.yaml"); load_skill("skill.yaml")
"""
from sacgmm.skill.demos import DemoSet, load_demos, save_demo, save_demos, validate_demos
from sacgmm.skill.fit import fit_skill
from sacgmm.skill.metrics import dtw_mean_distance, reproduction_error
from sacgmm.skill.model import GMMSkill, load_skill

__all__ = [
    "DemoSet", "GMMSkill", "dtw_mean_distance", "fit_skill", "load_demos", "load_skill",
    "reproduction_error", "save_demo", "save_demos", "validate_demos",
]
