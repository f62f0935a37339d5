"""The command line: ``--version``, and bad input reported on one line with exit code 2."""
import subprocess
import sys

import jax
import pytest

from dtac_jax import cli


@pytest.mark.slow
def test_cli_version_and_one_line_argument_errors():
    out = subprocess.run([sys.executable, "-m", "dtac_jax.cli", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("dtac-jax ")
    for argv in (["evaluate", "--preset", "huge"], ["train-tac", "--iterations", "many"],
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
    out = subprocess.run([sys.executable, "-m", "dtac_jax.cli", "train-tac", "--iterations", "1",
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
    assert err.startswith("dtac sweep: error: unknown sweep parameter 'speed' (valid: lr_actor")


def test_train_config_file_and_overrides_reach_every_field(tmp_path):
    from dtac_jax.algos.tac import TACConfig
    (tmp_path / "c.yaml").write_text("scenario:\n  l_channels: 6\ntac:\n  lr_actor: 0.0003\n"
                                     "  net: {n_channels: 6}\n")
    args = cli.build_parser().parse_args(
        ["train", "tac", "--config", str(tmp_path / "c.yaml"), "--set", "collect.envs=16",
         "--set", "tac.ppo.credit=team", "--set", "scenario.rounds=7"])
    algo, scn, cfg, deps = cli.train_setup(args)
    assert algo.name == "tac" and deps == {}
    assert (scn.l_channels, scn.rounds) == (6, 7)
    assert cfg == TACConfig.quick().replace(lr_actor=3e-4, net=dict(n_channels=6),
                                            collect=dict(envs=16), ppo=dict(credit="team"))
    # a run's config.json is a valid --config; a transfer starts from runs/tac by default
    args = cli.build_parser().parse_args(["train", "tl", "--paper", "--set", "mlp_hidden=[8,8]"])
    algo, _, cfg, deps = cli.train_setup(args)
    assert (cfg.loss, cfg.student, cfg.lr_actor, cfg.mlp_hidden) == ("mse", "mlp", 2e-5, (8, 8))
    assert deps == {"tac": "runs/tac"}


@pytest.mark.parametrize("argv, match", [
    (["--set", "nope=1"], "unknown TACConfig field(s): nope"),
    (["--set", "collect.envs=abc"], "CollectConfig.envs must be int, got 'abc'"),
    (["--set", "lr_actor"], "expected PATH=VALUE"),
    (["--set", "scenario.n_edges=0"], "n_edges"),
    (["--config", "missing.json"], "config file missing.json does not exist"),
    (["--config", "BAD"], "is not valid JSON"),
    (["--config", "SECTION"], "unknown section or field 'happo'"),
])
def test_train_bad_config_is_one_line(tmp_path, capsys, argv, match):
    (tmp_path / "bad.json").write_text("{ nope")
    (tmp_path / "section.json").write_text('{"happo": {}}')
    argv = [{"BAD": str(tmp_path / "bad.json"), "SECTION": str(tmp_path / "section.json")}
            .get(a, a) for a in argv]
    assert cli.main(["train", "tac", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dtac train: error:") and match in err[0], err
    assert not (tmp_path / "r").exists()


def test_every_command_takes_config_and_set(tmp_path, monkeypatch):
    """--config and --set reach the configs of every command (the trainers are replaced by
    recorders: nothing trains)."""
    import dtac_jax.reproduce as R
    import dtac_jax.runs as runs
    import dtac_jax.sweep as S
    from dtac_jax.algos.tac import recipe

    got = {}
    monkeypatch.setattr(runs, "train", lambda name, scn, cfg, out, **kw: got.update(
        name=name, scn=scn, cfg=cfg, kw=kw))
    monkeypatch.setattr(S, "run_sweep", lambda grid, base, out, **kw: got.update(base=base,
                                                                           sweep_kw=kw) or [])
    monkeypatch.setattr(R, "reproduce", lambda prof, *a, **kw: got.update(prof=prof, kw=kw)
                        or tmp_path / "REPORT.md")
    (tmp_path / "c.json").write_text('{"scenario": {"rounds": 9}, "entropy_weight": 0.03}')
    assert cli.main(["train-tac", "--lr-actor", "1e-4", "--config", str(tmp_path / "c.json"),
                     "--set", "net.d_model=32", "--log", "tensorboard",
                     "--out", str(tmp_path / "t")]) == 0
    assert got["name"] == "tac" and got["scn"].rounds == 9
    assert (got["cfg"].lr_actor, got["cfg"].entropy_weight, got["cfg"].net.d_model) == (
        1e-4, 0.03, 32)
    assert got["kw"]["log_to"] == ("tensorboard",)
    assert cli.main(["train-happo", "--iterations", "7", "--set", "hidden=[8,8]",
                     "--set", "scenario.l_channels=6", "--out", str(tmp_path / "h")]) == 0
    assert (got["cfg"].iterations, got["cfg"].hidden, got["scn"].l_channels) == (7, (8, 8), 6)
    assert cli.main(["sweep", "--iterations", "3", "--set", "tac.net.d_model=16",
                     "--set", "scenario.l_channels=6", "--log", "tensorboard",
                     "--out", str(tmp_path / "s")]) == 0
    assert got["sweep_kw"]["log_to"] == ("tensorboard",)
    scn, cfg = S._build(got["base"], {})
    assert (got["base"].iterations, cfg.net.d_model, cfg.iterations, scn.l_channels) == (
        3, 16, 3, 6)
    assert cfg.lr_actor == recipe("default").lr_actor
    assert cli.main(["reproduce", "--profile", "tiny", "--set", "tac.iterations=2",
                     "--set", "name=t2", "--out", str(tmp_path / "r")]) == 0
    assert (got["prof"].name, got["prof"].tac.iterations) == ("t2", 2)
    # a bad --log value is one argparse line
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["train-tac", "--log", "mlflow"])
    assert e.value.code == 2


def test_former_happo_flags_still_parse_with_one_line(capsys):
    args = cli.build_parser().parse_args(["train-happo", "--lr", "1e-3", "--critic-lr", "2e-3"])
    assert (args.lr_actor, args.lr_critic) == (1e-3, 2e-3)
    assert capsys.readouterr().err.splitlines() == [
        "dtac: --lr is deprecated: it is read as --lr-actor",
        "dtac: --critic-lr is deprecated: it is read as --lr-critic"]


@pytest.mark.parametrize("command", ["train-tac", "train-happo", "transfer", "sweep"])
def test_the_former_episodes_flag_of_training_commands_parses_with_one_line(capsys, command):
    """``--episodes`` of a training command is now ``--iterations`` (a hidden alias);
    ``evaluate --episodes`` counts environment episodes and stays."""
    args = cli.build_parser().parse_args([command, "--episodes", "5"])
    assert args.iterations == 5
    assert capsys.readouterr().err.splitlines() == [
        "dtac: --episodes is deprecated: it is read as --iterations"]
    assert "--episodes" not in cli.build_parser()._subparsers._group_actions[0].choices[
        command].format_help()
    assert cli.build_parser().parse_args(["evaluate", "--episodes", "5"]).episodes == 5
    assert capsys.readouterr().err == ""
