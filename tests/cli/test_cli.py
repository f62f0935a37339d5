"""The command line: ``--version``, and bad input reported on one line with exit code 2."""
import subprocess
import sys

import jax
import pytest

from dtac_jax import cli


def test_cli_version_and_one_line_argument_errors():
    out = subprocess.run([sys.executable, "-m", "dtac_jax.cli", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("dtac-jax ")
    for argv in (["evaluate", "--preset", "huge"], ["train-tac", "--episodes", "many"],
                 ["sweep", "--preset", "tiny"], ["no-such-command"]):
        out = subprocess.run([sys.executable, "-m", "dtac_jax.cli", *argv],
                             capture_output=True, text=True)
        err = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(err) == 1 and "error:" in err[0], (argv, out.stderr)



@pytest.mark.parametrize("argv, match", [
    (["--envs", "0"], "envs must be >= 1"),
    (["--recipe", "critic", "--noise-var", "-1"], "noise_var must be >= 0"),
    (["--floor", "1.5", "--recipe", "critic", "--explore", "sample"], "floor must be in"),
])
def test_cli_rejects_bad_tac_options_in_one_line(tmp_path, argv, match):
    out = subprocess.run([sys.executable, "-m", "dtac_jax.cli", "train-tac", "--episodes", "1",
                          "--out", str(tmp_path / "r"), *argv], capture_output=True, text=True,
                         env={"JAX_PLATFORMS": "cpu", "DTAC_JAX_CACHE": "off",
                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()



def test_cli_unknown_parameter_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DTAC_JAX_CACHE", jax.config.jax_compilation_cache_dir or "off")
    rc = cli.main(["sweep", "--grid", "speed=1,2", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith("dtac sweep: error: unknown sweep parameter 'speed' (valid: actor_lr")
