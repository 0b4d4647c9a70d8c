"""The target from an ArUco marker (sacgmm.robot.marker_pose), on synthetic camera images."""
import numpy as np
import pytest

from sacgmm.robot.marker_pose import marker_corners, marker_poses, target_in_world, transform

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])


def camera_image(marker_id: int, size: float, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """A 640x480 grey image of the marker (side ``size`` m) at pose (rot, pos) in the camera's
    optical frame: the printed marker warped by the homography of its corners."""
    import cv2

    from sacgmm.sim.aruco import marker_image
    px, border = 200, 40
    tex = marker_image("DICT_4X4_50", marker_id, px, border)
    src = np.float32([[border, border], [border + px, border], [border + px, border + px],
                      [border, border + px]])
    pts = (rot @ marker_corners(size).T).T + pos
    dst = np.float32((K @ pts.T).T[:, :2] / pts[:, 2:3])
    h = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(tex, h, (640, 480), borderValue=255)


def test_marker_pose_and_target_are_recovered_from_an_image():
    import cv2

    from sacgmm.sim.aruco import MarkerDetector
    from scipy.spatial.transform import Rotation
    # facing the camera (its z towards it, printed "up" up in the image), tilted
    rot = Rotation.from_euler("xyz", [np.pi + 0.3, -0.2, 0.1]).as_matrix()
    pos = np.array([0.05, -0.03, 0.6])
    img = camera_image(8, 0.1, rot, pos)
    poses = marker_poses(img, MarkerDetector("DICT_4X4_50").detector, K, None, 0.1)
    assert set(poses) == {8}
    r, t = poses[8]
    # at 60 cm, a 10 cm marker about 80 px wide: a few mm across, about 1 % in depth
    assert np.abs(t - pos)[:2].max() < 0.003 and abs(t[2] - pos[2]) < 0.01
    assert np.degrees(np.arccos(np.clip((np.trace(r.T @ rot) - 1) / 2, -1, 1))) < 2.0
    camera = transform([1.0, 0.2, 0.8], [-np.pi / 2, 0.0, -np.pi / 2])
    offset = [0.0, -0.2, 0.05]                                 # 20 cm below the marker, 5 cm out
    want = camera[:3, :3] @ (rot @ offset + pos) + camera[:3, 3]
    got = target_in_world(r, t, camera, offset)
    assert np.abs(got - want).max() < 0.012
    assert marker_poses(np.full((480, 640), 255, np.uint8),
                        MarkerDetector("DICT_4X4_50").detector, K, None, 0.1) == {}
    assert cv2 is not None


def test_transform_and_marker_size_are_checked():
    t = transform([1.0, 2.0, 3.0], [0.0, 0.0, np.pi / 2])
    assert np.allclose(t[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    assert np.allclose(t[:3, 3], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="xyz"):
        transform([1.0, 2.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="marker size"):
        marker_corners(0.0)
