"""``everybit imgkan`` / ``imgkan``: the four verbs, refusals, one-line errors and no partial outputs."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from everybit.cli import main  # noqa: E402
from everybit.common.atomic import TMP_MARK  # noqa: E402
from everybit.imgkan import decode_array, info  # noqa: E402
from everybit.imgkan.imageio import MAX_PIXELS  # noqa: E402
from tests.helpers import ROOT, everybit_proc  # noqa: E402
from tests.imgkan.test_codec import smooth  # noqa: E402

RUNNER = "from everybit.imgkan.cli import main; main()"
FAST = ["--iters", "150", "--size", "1200"]  # ~0.5 s per fit of a 32x32 image


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ik(capsys, *args):
    """``everybit imgkan ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(["imgkan", *map(str, args)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def gray_png(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(smooth()).save(path)
    return path


@pytest.fixture(scope="module")
def ikan_file(tmp_path_factory):
    """One encoded file (made through the CLI) shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("ikan")
    Image.fromarray(smooth(channels=3, seed=1)).save(folder / "c.png")
    with pytest.raises(SystemExit) as exc:
        main(["imgkan", "encode", "-q", str(folder / "c.png"), "--iters", "150", "--size", "1500"])
    assert exc.value.code == 0
    return folder / "c.ikan"


def leftovers(folder):
    return [p.name for p in folder.iterdir() if TMP_MARK in p.name]


def test_encode_decode_info(gray_png, tmp_path, capsys):
    code, out, err = ik(capsys, "encode", gray_png, *FAST)
    ikan = tmp_path / "g.ikan"
    assert code == 0 and out == ""
    assert re.fullmatch(
        rf"everybit: {re.escape(str(gray_png))}: 32x32 gray -> {re.escape(str(ikan))}: [\d,]+ bytes, "
        r"[\d.]+ bpp, PSNR [\d.]+ dB, [\d.]+ s\n",
        err,
    ), err
    data = ikan.read_bytes()
    assert len(data) <= 1200 and info(data)["width"] == 32

    code, out, err = ik(capsys, "decode", ikan, "-o", tmp_path / "back.png")
    assert code == 0 and out == "" and "-> " in err and "32x32 gray" in err
    back = Image.open(tmp_path / "back.png")
    assert back.mode == "L" and np.array_equal(np.asarray(back), decode_array(data))

    code, out, err = ik(capsys, "info", ikan)
    assert code == 0 and err == ""
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["file"] == str(ikan) and fields["kind"] == "ka"
    assert (fields["width"], fields["height"], fields["channels"]) == ("32", "32", "1")
    assert fields["bytes"] == f"{len(data):,}" and fields["weight_bits"] == "8"
    assert float(fields["bpp"]) == pytest.approx(8 * len(data) / 1024, abs=1e-4)
    assert not leftovers(tmp_path)


def test_refuses_to_overwrite(gray_png, tmp_path, capsys):
    ikan = tmp_path / "g.ikan"
    ikan.write_bytes(b"keep")
    code, _, err = ik(capsys, "encode", gray_png, *FAST)
    assert code == 1 and err == f"everybit: error: {ikan}: already exists (use --force to overwrite)\n"
    assert ikan.read_bytes() == b"keep"
    assert ik(capsys, "encode", "-q", "-f", gray_png, *FAST) == (0, "", "")
    assert info(ikan.read_bytes())["height"] == 32

    code, _, err = ik(capsys, "decode", ikan)  # default output g.png is the input image itself
    assert code == 1 and "g.png: already exists" in err
    code, _, err = ik(capsys, "encode", gray_png, "-o", gray_png, "-f", *FAST)
    assert code == 1 and "input and output are the same file" in err


def test_default_bpp_and_siren_roi_options(gray_png, tmp_path, capsys):
    # 32x32 at the default 0.3 bpp is 38 bytes: too few for any network (a usage error naming the minimum)
    code, _, err = ik(capsys, "encode", gray_png, "--iters", "5")
    assert code == 2 and re.search(r"budget of 38 bytes is too small for a 32x32 image \(at least ~\d", err)
    path = tmp_path / "p.png"
    Image.fromarray(smooth(96, 96, seed=4)).save(path)
    # 96x96 at 0.3 bpp (345 bytes) is enough for a SIREN, here with ROI boxes and a mask
    mask = np.zeros((96, 96), np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    code, _, err = ik(
        capsys,
        "encode",
        path,
        "--kind",
        "siren",
        "--iters",
        "60",
        "--roi",
        "0,0,20,20:8",
        "--roi",
        "40,40,90,90",
        "--roi-mask",
        f"{tmp_path / 'm.png'}:6",
        "--bits",
        "6",
        "--per-channel",
    )
    assert code == 0, err
    head = info((tmp_path / "p.ikan").read_bytes())
    assert head["kind"] == "siren" and head["weight_bits"] == 6 and head["per_channel"]
    assert head["bytes"] <= int(0.3 * 96 * 96 / 8)


def test_eval_table_csv_and_json(gray_png, tmp_path, capsys):
    pytest.importorskip("imagecodecs")
    csv, js = tmp_path / "r.csv", tmp_path / "r.json"
    code, out, err = ik(capsys, "eval", gray_png, *FAST, "--csv", csv, "--json-out", js)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "| codec | bytes | bpp | PSNR dB | SSIM | setting |"
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["imgkan", "JPEG", "WebP", "JPEG XL"]
    assert csv.read_text().splitlines()[0] == "codec,bytes,bpp,PSNR dB,SSIM,setting"
    doc = json.loads(js.read_text())
    rows = {r["codec"]: r for r in doc["rows"]}
    ours = rows["imgkan"]["bytes"]
    assert ours <= 1200 and doc["fit"]["header"]["bytes"] == ours
    assert rows["JPEG"]["bytes"] >= ours or rows["JPEG"]["setting"] == "quality=95"
    for name in ("WebP", "JPEG XL"):
        assert rows[name]["bytes"] is None or rows[name]["bytes"] <= ours
    assert 0 < rows["imgkan"]["ssim"] <= 1 and rows["imgkan"]["psnr"] > 15
    code, _, err = ik(capsys, "eval", gray_png, *FAST, "--json-out", js)  # exists: refused before fitting
    assert code == 1 and "r.json: already exists" in err
    code, _, err = ik(capsys, "eval", gray_png, *FAST, "--json", js)  # the old spelling of --json-out
    assert code == 1 and err.splitlines() == [
        "everybit imgkan eval: warning: --json FILE is deprecated, use --json-out FILE "
        "(the old spelling goes in the next release)",
        f"everybit: error: {js}: already exists (use --force to overwrite)",
    ]
    # --json: the JSON on stdout and nothing else; it may come before IN
    code, out, err = ik(capsys, "eval", "--json", gray_png, *FAST, "--size", "1.25k", "-T", "1", "-q")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["image"] == str(gray_png) and doc["rows"][0]["bytes"] <= 1280
    code, _, err = ik(capsys, "eval", "--json", *FAST)
    assert code == 2 and "the following arguments are required: IN" in err


def test_old_json_spelling(capsys):
    from everybit.imgkan.cli import old_json_spelling

    assert old_json_spelling("p", ["a.png", "--json", "r.JSON", "-q"]) == ["a.png", "--json-out=r.JSON", "-q"]
    assert old_json_spelling("p", ["--json=r.txt", "a.png"]) == ["--json-out=r.txt", "a.png"]
    assert capsys.readouterr().err.count("p: warning: --json FILE is deprecated, use --json-out FILE") == 2
    for words in (["--json", "a.png"], ["a.png", "--", "--json", "x.json"]):
        assert old_json_spelling("p", words) == words
    assert capsys.readouterr().err == ""


def test_corrupt_files_leave_no_output(ikan_file, tmp_path, capsys):
    data = ikan_file.read_bytes()
    cases = {
        "flipped.ikan": data[:20] + bytes([data[20] ^ 0x40]) + data[21:],
        "short.ikan": data[: len(data) // 2],
        "empty.ikan": b"",
        "text.ikan": b"hello, not an image codec file\n",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        out = tmp_path / (name + ".png")
        code, stdout, err = ik(capsys, "decode", tmp_path / name, "-o", out)
        assert code == 1 and stdout == "", name
        assert err.startswith(f"everybit: error: {tmp_path / name}: ") and err.count("\n") == 1, err
        assert not out.exists()
        code, _, err = ik(capsys, "info", tmp_path / name)
        assert code == 1 and err.startswith("everybit: error: ") and "Traceback" not in err
    assert "bad magic" in ik(capsys, "info", tmp_path / "text.ikan")[2]
    assert not leftovers(tmp_path)


def test_errors_are_one_line(ikan_file, tmp_path, capsys):
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    side = int(MAX_PIXELS**0.5)
    Image.new("L", (side + 1, side)).save(tmp_path / "big.png")
    (tmp_path / "notes.txt").write_text("not an image")
    png = tmp_path / "ok.png"
    Image.fromarray(smooth()).save(png)
    cases = [
        (["encode", tmp_path / "missing.png"], 1, "missing.png: no such file"),
        (["encode", tmp_path / "one.png"], 1, "image is 1x1; imgkan needs at least 2x2 pixels"),
        (["encode", tmp_path / "big.png"], 1, f"imgkan encodes at most {MAX_PIXELS:,} pixels"),
        (["encode", tmp_path / "notes.txt"], 1, "not an image format Pillow can decode"),
        (["encode", tmp_path], 1, "is a directory"),
        (["encode", png, "-o", tmp_path / "no" / "x.ikan"], 1, "cannot create a file there"),
        (["decode", tmp_path / "missing.ikan"], 1, "missing.ikan: no such file"),
        (["decode", ikan_file, "-o", tmp_path / "x.webm"], 2, "cannot tell an image format"),
        (["info", tmp_path], 1, "is a directory"),
        (["encode", png, "--roi", "1,2,3"], 2, "bad --roi '1,2,3': expected x1,y1,x2,y2[:weight]"),
        (["encode", png, "--roi", "5,5,2,9"], 2, "need x1 < x2"),
        (["encode", png, "--roi", "40,0,50,9", *FAST], 2, "lies outside the 32x32 image"),
        (["encode", png, "--bpp", "0"], 2, "--bpp must be greater than 0"),
        (["encode", png, "--bpp", "1", "--size", "9"], 2, "not allowed with argument"),
        (["encode", png, "--size", "2 kilo"], 2, "argument --size: not a size: '2 kilo'"),
        (["encode", png, "-T", "-1"], 2, "argument -T/--threads: threads must be a number >= 0"),
        (["encode", png, "--bits", "13"], 2, "--bits must be between 4 and 12"),
        (["encode", png, "--kind", "mlp"], 2, "invalid choice"),
        (["encode", png, "--perceptual", "0.1"], 2, "--perceptual needs local VGG16 weights"),
        (["encode", png, "--roi-detector", "nomodule"], 2, "expected module:function"),
        (["encode", png, "--roi-detector", "no_such_module_xyz:f", *FAST], 2, "cannot load detector"),
        (["frobnicate"], 2, "invalid choice"),
    ]
    for args, want, message in cases:
        code, _, err = ik(capsys, *args)
        assert code == want, (args, err)
        assert err.count("\n") == 1 and err.startswith("everybit: error: ") and message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "notes.txt", "ok.png", "one.png"]


def test_help_does_not_import_torch():
    code = "import sys\nfrom everybit.cli import main\n"
    code += "for argv in (['imgkan', '--help'], ['imgkan', 'encode', '--help']):\n"
    code += "    try: main(argv)\n    except SystemExit: pass\n"
    code += "assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--roi x1,y1,x2,y2[:w]" in res.stdout and "eval" in res.stdout


def _child_env():
    # one torch thread: tiny images, and the test machine's cores are shared
    return {**os.environ, "PYTHONPATH": str(ROOT), "EVERYBIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}


def test_ctrl_c_leaves_no_output(gray_png, tmp_path):
    out = tmp_path / "g.ikan"
    proc = everybit_proc(
        "imgkan", "encode", str(gray_png), "--iters", "100000", "--size", "1200", env=_child_env()
    )
    time.sleep(6)  # inside the imports or the fit: both run under the CLI's handler
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "everybit: interrupted\n")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_own_command(ikan_file, tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-c", RUNNER, *map(str, args)],
            cwd=tmp_path,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("imgkan (everybit ")
    proc = run("decode", "missing.ikan")
    assert (proc.returncode, proc.stderr) == (1, "imgkan: error: missing.ikan: no such file\n")
    proc = run("decode", ikan_file, "-o", "c.png")
    assert (proc.returncode, proc.stdout) == (0, "") and proc.stderr.startswith("imgkan: ")
    assert Image.open(tmp_path / "c.png").size == (32, 32)
