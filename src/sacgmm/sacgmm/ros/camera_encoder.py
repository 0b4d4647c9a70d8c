"""``camera_encoder``: a sensor image -> the autoencoder latent the refiner observes.

The encoder (:class:`sacgmm.rl.encoder.ConvEncoder`) and its weights come from a SAC policy
checkpoint (:func:`sacgmm.rl.checkpoint.load_checkpoint`; parameter ``policy_path``). Without a
checkpoint the node says so in its log and publishes **nothing** (never an untrained latent).

Subscribes ``image_topic`` (sensor_msgs/Image, sensor-data QoS): the image in the layout the
policy was trained on -- ``(H, W)`` one channel (depth ``32FC1`` in metres, ``mono8``) or
``(H, W, C)`` (``rgb8``; the peg's two tactile images as ``8UC2``), converted to ``(C, H, W)``;
another resolution is centre-cropped and resized to the policy's (64x64;
:func:`sacgmm.robot.camera.fit_image`); with ``camera_info_topic`` and ``view_fov`` the crop is
the window that sees the trained camera's field of view, about the principal point.
Publishes ``/sacgmm/latent`` (std_msgs/Float32MultiArray, one dimension labelled
``latent/<image_key>``, values in (-1, 1)): with ``trigger: window`` the latest image is
encoded once per ``/sacgmm/window`` message (the refiner's rate), with ``trigger: image`` for
every received image. Its health on ``/diagnostics`` (:mod:`sacgmm.ros.health`): a fault when no
image came for ``image_timeout`` s (a stopped camera), with or without a checkpoint.
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, Float64MultiArray

from sacgmm.ros.convert import latent_msg, msg_to_image
from sacgmm.ros.camera_view import ViewCrop
from sacgmm.ros.params import Param, StartupError, declare, run_node

PARAMS = (
    Param("policy_path", "", "SAC checkpoint holding the autoencoder; empty: publish nothing"),
    Param("image_key", "", "observation part to encode (e.g. tactile, depth, rgb); empty: the "
          "checkpoint's only image part"),
    Param("image_topic", "/sacgmm/camera/image_raw", "image topic"),
    Param("trigger", "window", "encode on each /sacgmm/window message or on each image",
          choices=("window", "image")),
    Param("camera_info_topic", "", "CameraInfo of image_topic; with view_fov, the image is "
          "cropped to the trained camera's view; empty: a centre crop"),
    Param("view_fov", 0.0, "vertical field of view the policy was trained with (deg; the "
          "door's wrist camera: 70); 0: a centre crop", range=(0.0, 179.0)),
    Param("image_timeout", 1.0, "no image for this long is a fault on /diagnostics (s): "
          "iiwa_bridge pauses the arm", range=(0.01, 600.0)),
)


def load_encoder(path: str, image_key: str = ""):
    """``(encoder, key, shape)`` from a SAC checkpoint: the online encoder of one image part
    and its input shape ``(C, H, W)``. Raises ``ValueError`` naming what is wrong."""
    import torch
    from torch import nn

    from sacgmm.rl.checkpoint import load_checkpoint
    from sacgmm.rl.encoder import ConvAutoencoder
    from sacgmm.rl.sac import SACConfig

    state = load_checkpoint(path)["agent"]
    cfg = SACConfig.from_dict(state["config"])
    shapes = {k: tuple(v) for k, v in state["obs_shapes"].items() if len(v) == 3}
    if not shapes:
        raise ValueError(f"{path}: the policy has no image observation (parts: "
                         f"{sorted(state['obs_shapes'])})")
    if not image_key:
        if len(shapes) != 1:
            raise ValueError(f"{path}: several image parts {sorted(shapes)}; set image_key")
        image_key = next(iter(shapes))
    if image_key not in shapes:
        raise ValueError(f"{path}: no image part {image_key!r} (has {sorted(shapes)})")
    aes = nn.ModuleDict({k: ConvAutoencoder(s[0], cfg.latent_dim, s[1], cfg.encoder_kind,
                                            cfg.encoder_channels, cfg.lambda_z)
                         for k, s in shapes.items()})
    aes.load_state_dict(state["autoencoders"])
    torch.set_num_threads(1)
    return aes[image_key].encoder.eval(), image_key, shapes[image_key]


class CameraEncoder(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("camera_encoder", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        self.encoder = None
        self.latest = None
        from sacgmm.ros.health import HealthReporter, ImageWatch
        self.watch = ImageWatch(p["image_topic"], p["image_timeout"])
        HealthReporter(self, p["image_topic"], self.watch.fault)
        # images are watched (and their loss reported) with or without weights
        self.create_subscription(Image, p["image_topic"], self._on_image, qos_profile_sensor_data)
        self.view = ViewCrop(self, p["camera_info_topic"], p["view_fov"])
        if not p["policy_path"]:
            self.get_logger().warning("no policy_path given: no autoencoder weights, so no "
                                      "latent is published")
            return
        try:
            self.encoder, self.key, self.shape = load_encoder(p["policy_path"], p["image_key"])
        except (ValueError, FileNotFoundError) as exc:
            raise StartupError(f"parameter 'policy_path': {exc}") from None
        self.pub = self.create_publisher(Float32MultiArray, "/sacgmm/latent", 10)
        if p["trigger"] == "window":
            self.create_subscription(Float64MultiArray, "/sacgmm/window", self._on_window, 10)
        self.get_logger().info(f"encoding {p['image_topic']} as {self.key!r} {self.shape} "
                               f"with {p['policy_path']} on each {p['trigger']}")

    def to_input(self, msg: Image) -> np.ndarray:
        """Image message -> ``(C, H, W)`` array of the policy's layout; ``ValueError`` if not."""
        img = msg_to_image(msg)
        if img.shape[:2] != tuple(self.shape[1:]) or self.view.active:
            img = self.view.fit(img, *self.shape[1:])   # any camera: crop and resize
        arr = img[None] if img.ndim == 2 else np.transpose(img, (2, 0, 1))
        if arr.shape != self.shape:
            raise ValueError(f"image {msg.width}x{msg.height} {msg.encoding} gives {arr.shape}, "
                             f"the policy's {self.key!r} needs {self.shape}")
        return np.ascontiguousarray(arr if arr.dtype == np.uint8 else arr.astype(np.float32))

    def encode(self, arr: np.ndarray) -> np.ndarray:
        import torch
        with torch.no_grad():
            z = self.encoder(torch.as_tensor(arr)[None])
        return z[0].numpy()

    def _on_image(self, msg: Image) -> None:
        self.watch.seen()
        if self.encoder is None:
            return
        try:
            arr = self.to_input(msg)
        except ValueError as exc:
            self.get_logger().error(str(exc), throttle_duration_sec=5.0)
            return
        self.latest = arr
        if self.p["trigger"] == "image":
            self._publish(arr)

    def _on_window(self, _msg) -> None:
        if self.latest is None:
            self.get_logger().warning("window end but no image received yet: no latent",
                                      throttle_duration_sec=5.0)
            return
        self._publish(self.latest)

    def _publish(self, arr: np.ndarray) -> None:
        z = self.encode(arr)
        if np.isfinite(z).all():
            self.pub.publish(latent_msg(z, f"latent/{self.key}"))
        else:
            self.get_logger().error("encoder produced NaN/inf: latent not published")


def main(args: list[str] | None = None) -> int:
    return run_node(CameraEncoder, args)


if __name__ == "__main__":
    raise SystemExit(main())
