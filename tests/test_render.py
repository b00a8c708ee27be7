"""Videos of trajectories: MuJoCo's renderer through OpenGL (EGL or OSMesa; skipped with a message
where neither works), the stick-figure fallback, the follow camera, mp4/gif files, `mskdiff render`."""

import ctypes.util
import logging

import mujoco
import numpy as np
import pytest
from PIL import Image

from mskdiff import viz
from mskdiff.cli import main
from mskdiff.models import myoleg_mjmodel, standing_qpos
from mskdiff.viz import gl, render_frames, save_video

#: A free body (red ball) with a red stick hanging below it, over a grey floor.
BALL_ON_A_STICK = """
<mujoco>
  <visual><headlight ambient=".5 .5 .5"/></visual>
  <worldbody>
    <geom type="plane" size="10 10 .1" rgba=".7 .7 .7 1"/>
    <body name="pelvis" pos="0 0 1">
      <freejoint/>
      <geom type="sphere" size=".15" rgba="1 0 0 1"/>
      <body pos="0 0 -.5"><geom type="capsule" fromto="0 0 0 0 0 .5" size=".05" rgba="1 0 0 1"/></body>
    </body>
  </worldbody>
</mujoco>"""


@pytest.fixture(scope="module")
def myoleg_model():
    return myoleg_mjmodel()


@pytest.fixture
def needs_gl():
    if viz.gl_backend() is None:
        pytest.skip(f"MuJoCo's renderer cannot run here: {viz.no_gl_reason()}")
    return viz.gl_backend()


def _red_centre(frame: np.ndarray) -> np.ndarray | None:
    """(x, y) of the red pixels' centroid as fractions of the frame, or None without red."""
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    rows, cols = np.nonzero((r > 120) & (r > 2 * g) & (r > 2 * b))
    if rows.size == 0:
        return None
    return np.array([cols.mean() / frame.shape[1], rows.mean() / frame.shape[0]])


def _walking_ball(n_frames: int = 3) -> np.ndarray:
    """qpos [T, 7]: the ball moves 1 m along x per frame, upright, 1 m high."""
    return np.array([[x, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0] for x in range(n_frames)])


def _tiny_result(path, mj_model, n_steps=6, n_envs=2, **extra):
    """A simulate.npz of myoLeg standing, root moving 5 cm per 10 ms step."""
    qpos = np.tile(standing_qpos(mj_model), (n_steps, n_envs, 1))
    qpos[:, :, 0] += 0.05 * np.arange(n_steps)[:, None]
    np.savez(path, time=0.01 * np.arange(1, n_steps + 1), qpos=qpos, **extra)
    return path


def test_myoleg_standing_through_opengl(myoleg_model, needs_gl):
    frames = render_frames(myoleg_model, np.tile(standing_qpos(myoleg_model), (3, 1)),
                           width=96, height=128, renderer="mujoco")
    assert frames.shape == (3, 128, 96, 3) and frames.dtype == np.uint8
    assert all(frame.std() > 20 for frame in frames), [frame.std() for frame in frames]
    # The muscles (red tendons and meshes) are near the middle of the panel.
    assert np.allclose(_red_centre(frames[0]), 0.5, atol=0.2), _red_centre(frames[0])


@pytest.mark.skipif(ctypes.util.find_library("OSMesa") is None,
                    reason="libOSMesa is not installed (Debian/Ubuntu: apt-get install libosmesa6)")
def test_osmesa_renders():
    assert gl.probe("osmesa") == ""


@pytest.mark.parametrize("renderer", ["mujoco", "stick"])
def test_follow_camera_keeps_the_root_centred(renderer, request):
    if renderer == "mujoco":
        request.getfixturevalue("needs_gl")
    model = mujoco.MjModel.from_xml_string(BALL_ON_A_STICK)
    qpos = _walking_ball()
    follow = render_frames(model, qpos, width=64, height=64, renderer=renderer, distance=3.0)
    for frame in follow:
        assert np.allclose(_red_centre(frame), 0.5, atol=0.08), _red_centre(frame)
    fixed = render_frames(model, qpos, camera="fixed", width=64, height=64, renderer=renderer,
                          distance=3.0)
    assert np.allclose(_red_centre(fixed[0]), 0.5, atol=0.08)
    moved = _red_centre(fixed[-1])  # 2 m sideways (1.4 m across the view): off the panel
    assert moved is None or abs(moved[0] - 0.5) > 0.3, moved


def test_stick_figures_of_several_envs_side_by_side(myoleg_model):
    qpos = np.tile(standing_qpos(myoleg_model), (2, 3, 1))
    qpos[:, 2, 2] = 0.3  # env 2 lower: the camera follows it down, the floor moves up
    frames = render_frames(myoleg_model, qpos, width=80, height=100, renderer="stick")
    assert frames.shape == (2, 100, 240, 3)
    panels = np.split(frames[0], 3, axis=1)
    assert all(panel.std() > 10 for panel in panels)
    np.testing.assert_array_equal(panels[0], panels[1])
    assert not np.array_equal(panels[0], panels[2])


def test_without_opengl_auto_draws_stick_figures_with_one_line(myoleg_model, monkeypatch, caplog):
    monkeypatch.setattr(gl, "_choice", lambda: (None, "no OpenGL backend works (egl: test)"))
    with caplog.at_level(logging.WARNING):
        frames = render_frames(myoleg_model, standing_qpos(myoleg_model)[None], width=64,
                               height=64)
    stick = render_frames(myoleg_model, standing_qpos(myoleg_model)[None], width=64, height=64,
                          renderer="stick")
    np.testing.assert_array_equal(frames, stick)
    (message,) = caplog.messages
    assert "stick figures" in message and "egl: test" in message and "\n" not in message
    with pytest.raises(RuntimeError, match="egl: test"):
        render_frames(myoleg_model, standing_qpos(myoleg_model)[None], renderer="mujoco")




def reading_mp4(test):
    """Reading an mp4 back runs imageio-ffmpeg's ffmpeg in a child (fork + exec: JAX's fork
    warning does not apply), and imageio's reader leaves its pipes to the garbage collector."""
    test = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")(test)
    return pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")(test)


@reading_mp4
def test_mp4_and_gif_round_trip(tmp_path):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("imageio_ffmpeg")
    frames = np.zeros((5, 47, 65, 3), np.uint8)
    frames[:, :, :, 0] = (40 * np.arange(5))[:, None, None]
    save_video(frames, tmp_path / "a.mp4", fps=10)
    video = iio.imread(tmp_path / "a.mp4")
    assert video.shape[:3] == (5, 48, 66)  # odd sizes padded to even for H.264
    np.testing.assert_allclose(video[:, 20, 30, 0], frames[:, 20, 30, 0], atol=12)
    save_video(frames, tmp_path / "a.gif", fps=10)
    with Image.open(tmp_path / "a.gif") as gif:
        assert (gif.n_frames, gif.size, gif.info["duration"]) == (5, (65, 47), 100)


def test_mp4_without_the_extra_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "imageio", None)
    with pytest.raises(ImportError, match=r"mskdiff\[render\]"):
        save_video(np.zeros((2, 16, 16, 3), np.uint8), tmp_path / "a.mp4", fps=10)


def test_frame_indices_play_in_real_time():
    indices, fps = viz.frame_indices(0.002 * np.arange(1, 1001), 15)
    assert indices[1] == 33 and len(indices) == 31 and fps == pytest.approx(15.15, abs=0.01)
    assert viz.frame_indices(0.002 * np.arange(10), 1000)[0].tolist() == list(range(10))


def test_cli_renders_a_tiny_result(tmp_path, myoleg_model, capsys):
    result = _tiny_result(tmp_path / "simulate.npz", myoleg_model)
    out, strip = tmp_path / "out" / "all.gif", tmp_path / "strip.png"
    assert main(["render", str(result), "--out", str(out), "--env", "all", "--fps", "50",
                 "--width", "48", "--height", "64", "--renderer", "stick",
                 "--png-strip", str(strip)]) == 0
    assert "3 frames" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert (gif.n_frames, gif.size) == (3, (96, 64))
    with Image.open(strip) as image:
        assert image.size == (3 * 96, 64)


@reading_mp4
def test_cli_default_video_is_an_mp4_beside_the_result(tmp_path, myoleg_model, capsys):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("imageio_ffmpeg")
    result = _tiny_result(tmp_path / "simulate.npz", myoleg_model, n_steps=4, n_envs=1,
                          model=np.array("myolegs"))
    assert main(["render", str(result), "--fps", "100", "--width", "48", "--height", "64"]) == 0
    assert "of myolegs" in capsys.readouterr().out
    assert iio.imread(tmp_path / "simulate.mp4").shape == (4, 64, 48, 3)


@pytest.mark.parametrize("problem, args, expected", [
    ("missing file", ["render", "{tmp}/nope.npz"], "nope.npz: no such file"),
    ("missing key", ["render", "{tmp}/noqpos.npz"], "has no 'qpos'"),
    ("bad env", ["render", "{tmp}/simulate.npz", "--env", "5"], "env 5 does not exist"),
    ("bad suffix", ["render", "{tmp}/simulate.npz", "--out", "{tmp}/a.avi"], "'.avi'"),
    ("unknown model", ["render", "{tmp}/other.npz"], "unknown model 'myobody'"),
])
def test_cli_errors_are_one_line(problem, args, expected, tmp_path, myoleg_model, capsys):
    _tiny_result(tmp_path / "simulate.npz", myoleg_model, n_steps=2)
    _tiny_result(tmp_path / "other.npz", myoleg_model, n_steps=2, model=np.array("myobody"))
    np.savez(tmp_path / "noqpos.npz", time=np.arange(3.0))
    assert main([a.format(tmp=tmp_path) for a in args]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mskdiff: error: "), lines
    assert expected in lines[0], lines[0]
