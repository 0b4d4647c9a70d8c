"""ament_python package for sacgmm; also a plain pip-installable Python package.

``pip install -e src/sacgmm`` works without ROS: only ``sacgmm.ros`` imports rclpy.
Exact, tested versions of every dependency are pinned in the repository's requirements.txt.
"""
from glob import glob
import os

from setuptools import find_packages, setup

package_name = "sacgmm"
here = os.path.dirname(os.path.abspath(__file__))


def _files(pattern: str) -> list[str]:
    """Files of this package's folder (paths relative to setup.py, wherever it is run from)."""
    return sorted(glob(pattern, root_dir=here))


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    # the task definitions are data of the Python package (sacgmm.sim.config reads them with
    # importlib.resources); the ROS share holds what ros2 launch and RViz look up
    package_data={package_name: ["tasks/*.yaml", "agents/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", _files("config/*.yaml")),
        ("share/" + package_name + "/launch", _files("launch/*.launch.py")),
        ("share/" + package_name + "/rviz", _files("rviz/*.rviz")),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "scipy", "scikit-learn", "threadpoolctl", "PyYAML", "matplotlib"],
    extras_require={
        # never an unpinned torch: it pulls a multi-GB CUDA build
        "rl": ["torch==2.13.0"],
        "sim": ["pybullet", "gymnasium", "opencv-python-headless", "imageio"],
    },
    zip_safe=True,
    maintainer="sacgmm maintainers",
    maintainer_email="maintainers@sacgmm.dev",
    description="SAC-GMM: stable GMM skills from demonstrations, refined by soft actor-critic.",
    license="MIT",
    entry_points={
        "console_scripts": [
            "sacgmm = sacgmm.cli.main:main",
            # ROS 2 nodes (installed to lib/sacgmm for ros2 run / ros2 launch)
            "gmm_controller = sacgmm.ros.gmm_controller:main",
            "sim_bridge = sacgmm.ros.sim_bridge:main",
            "aruco_reward_detector = sacgmm.ros.aruco_reward_detector:main",
            "aruco_target_detector = sacgmm.ros.aruco_target_detector:main",
            "camera_encoder = sacgmm.ros.camera_encoder:main",
            "iiwa_bridge = sacgmm.ros.iiwa_bridge:main",
            "iiwa_sim_driver = sacgmm.ros.iiwa_sim_driver:main",
            "demo_recorder = sacgmm.ros.demo_recorder:main",
            "sac_refiner = sacgmm.ros.sac_refiner:main",
        ],
    },
)
