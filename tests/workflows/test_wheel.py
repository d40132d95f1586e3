"""The built wheel works outside the checkout: it claims only the `cc2gpt` name in
site-packages, ships its presets and URL blocklist, and curates and trains from a
directory that holds no source tree.

The fresh environment gets cc2gpt's dependencies from this test's own environment
through a path file (a plain path line: the editable install's own hooks there are
not run), so the wheel's files are the only cc2gpt code it can import.
"""
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WARC = REPO / ".." / "shared" / "data" / "warc" / "dolma_wget_sample-0000.warc.gz"  # 15 pages kept


def run(cmd, cwd, timeout=300):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_runs_without_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, REPO], REPO)
    (wheel,) = dist.glob("cc2gpt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"cc2gpt"}, tops
    for init in sorted(REPO.glob("[mpt]*/**/__init__.py")):  # every subpackage is listed
        assert f"cc2gpt/{init.relative_to(REPO).as_posix()}" in names, init
    assert "cc2gpt/workflows/presets/tiny.json" in names
    assert "cc2gpt/pipeline/resources/url_blocklist.txt" in names

    env = tmp_path / "env"
    run([sys.executable, "-m", "venv", env], tmp_path)
    py = env / "bin" / "python"
    site = run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               tmp_path).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel], tmp_path)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run([py, "-c", "import cc2gpt.train, importlib.util as u; print(cc2gpt.train.__file__);"
                 "print(u.find_spec('pipeline'), u.find_spec('train'))"], work).stdout.split()
    assert where[0].startswith(site), where
    assert where[1:] == ["None", "None"], where
    cli = env / "bin" / "cc2gpt"
    run([cli, "curate", "--input", WARC.resolve(), "--output", "out", "--vocab-size", "1024"], work)
    run([cli, "train", "--data", "out", "--preset", "tiny", "--out", "run", "--max-steps", "2",
         "--set", "eval_interval=0", "checkpoint_interval=2"], work)
    assert list((work / "run" / "checkpoints").iterdir())
