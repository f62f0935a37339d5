"""Command line: ``dtac train ALGORITHM`` (any registered algorithm), ``dtac train-tac``,
``dtac transfer``, ``dtac train-happo``, ``dtac evaluate``, ``dtac sweep``, ``dtac reproduce``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _policies(names: list[str], search_cfg):
    """The registered reference policies ``names`` (Search with ``search_cfg``)."""
    from dtac_jax.algos import registry

    known = registry.names(learned=False)
    out = {}
    for n in names:
        if n not in known:
            raise ValueError(f"unknown policy {n!r} (known: {', '.join(known)})")
        algo = registry.get(n)
        out[n] = algo.policy(None, search_cfg if algo.config is not None else None, None, {})
    return out


# --------------------------------------------------------------------------- configuration
def _add_config_options(p, sections: str, example: str) -> None:
    """``--config FILE`` and ``--set PATH=VALUE`` (:func:`dtac_jax.config.configure`)."""
    p.add_argument("--config", default=None, metavar="FILE",
                   help=f"JSON or YAML settings: sections {sections}, each a mapping of its "
                        "fields (a run's config.json also works); other keys are fields of "
                        f"the first section. Applied after the command's options")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help=f"override any config field, after --config (repeatable), e.g. "
                        f"{example}")


def _log_backends(text: str) -> tuple[str, ...]:
    from dtac_jax import loggers
    try:
        return loggers.check(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_log_option(p) -> None:
    p.add_argument("--log", dest="log_to", type=_log_backends, default=(),
                   metavar="tensorboard,wandb",
                   help="also stream the training metrics to TensorBoard (RUN/tb) and/or "
                        "Weights & Biases (offline unless WANDB_API_KEY or WANDB_MODE=online); "
                        "metrics.jsonl is always written")


def configure(args, sections: dict, aliases: dict | None = None) -> dict:
    """``sections`` (name -> config; the first is the default) after ``--config`` and the
    ``--set`` overrides."""
    from dtac_jax import config as C
    file = C.read_file(args.config) if args.config else None
    return C.configure(sections, next(iter(sections)), file=file,
                       source=f"config file {args.config}", sets=args.set, aliases=aliases)


def _given(args, names) -> dict:
    """The options among ``names`` given on the command line (not left at ``None``)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _run_options(args) -> dict:
    """Seeding, chunking and resuming options of a training command, as given."""
    return dict(_given(args, ("seeds", "seed", "chunk")), resume=args.resume,
                log_to=args.log_to)


def _scenario(args):
    from dtac_jax.env import make_scenario
    return make_scenario(args.preset, **_given(args, ("rounds",)))


def _done(label: str, t0: float, out) -> int:
    print(f"{label} trained in {time.time() - t0:.1f} s; run folder {out} "
          f"(config.json, ckpt/, metrics.jsonl)")
    return 0


# --------------------------------------------------------------------------- commands
def cmd_evaluate(args) -> int:
    import jax

    from dtac_jax.algos.search import SearchConfig
    from dtac_jax.env import make_params
    from dtac_jax.evaluate import evaluate, evaluate_stacked, format_table, mean_over_seeds

    search = SearchConfig().replace(**{k: v for k, v in (
        ("candidates", args.search_candidates), ("iterations", args.search_iterations))
        if v is not None})
    conf = configure(args, {"scenario": _scenario(args), "search": search})
    scn, search = conf["scenario"], conf["search"]
    if args.ues_per_edge is not None:
        scn = scn.with_fixed_ues(args.ues_per_edge)
    params = make_params(scn)
    policies = _policies([p for p in args.policies.split(",") if p], search)
    from dtac_jax import runfolder
    from dtac_jax.runs import load_family
    families = {}
    for run in args.runs:
        name, run_scn, stacked, make = load_family(run)
        if run_scn.l_channels != scn.l_channels or run_scn.n_edges > 16:
            raise ValueError(f"run {run} was trained with l_channels={run_scn.l_channels}, "
                             f"this scenario has {scn.l_channels}")
        families[name if name not in policies and name not in families else f"{name}:{run}"] = (
            stacked, make)
    out = Path(args.out)
    runfolder.check_out(out)   # a file: one line
    key = jax.random.PRNGKey(args.seed)
    results = {}
    print(f"evaluating {len(policies)} policies on preset {scn.name!r}: {args.episodes} episodes "
          f"x {scn.rounds} rounds (same episodes for all)", flush=True)
    total = len(policies) + len(families)
    for i, (name, pol) in enumerate(policies.items(), 1):
        t0 = time.time()
        results[name] = evaluate(pol, params, key, episodes=args.episodes)
        print(f"  [{i}/{total}] {name:<10} weighted reward "
              f"{results[name].weighted_reward:10.3f}  ({time.time() - t0:.1f} s)", flush=True)
    for i, (name, (stacked, make)) in enumerate(families.items(), len(policies) + 1):
        t0 = time.time()
        per_seed = evaluate_stacked(make, stacked, params, key, episodes=args.episodes)
        results[name] = mean_over_seeds(per_seed)
        note = f", mean of {len(per_seed)} seeds" if len(per_seed) > 1 else ""
        print(f"  [{i}/{total}] {name:<10} weighted reward "
              f"{results[name].weighted_reward:10.3f}  ({time.time() - t0:.1f} s{note})",
              flush=True)
    table = format_table(results)
    print(table)
    rows = [dict(policy=k, **v.as_dict()) for k, v in results.items()]
    from dtac_jax.atomic import write_atomic, write_csv_atomic   # each file whole or not at all
    write_csv_atomic(out / "evaluate.csv", rows, list(rows[0]))
    write_atomic(out / "evaluate.json", json.dumps(
        dict(scenario=scn.to_dict(), search=search.to_dict(), seed=args.seed, results=rows),
        indent=2))
    write_atomic(out / "evaluate.md", table + "\n")
    print(f"results written to {out / 'evaluate.csv'}, {out / 'evaluate.json'}, "
          f"{out / 'evaluate.md'}")
    return 0


def tac_config_from_args(args):
    """The TAC configuration of ``train-tac``: ``--recipe`` (``--paper-lr`` is ``--recipe
    paper``), then every option of :func:`tac_options` given explicitly."""
    from dtac_jax.algos.tac import recipe

    name = "paper" if getattr(args, "paper_lr", False) else args.recipe
    return recipe(name, **_nested(_given_fields(args, tac_options())))


def _given_fields(args, options: dict) -> dict:
    """``{dotted field: value}`` of the options of table ``options`` (dest -> (field, help))
    given on the command line."""
    return {field: getattr(args, dest) for dest, (field, _) in options.items()
            if getattr(args, dest, None) is not None}


def _nested(flat: dict) -> dict:
    """``{"ppo.credit": v}`` -> ``{"ppo": {"credit": v}}``."""
    out: dict = {}
    for path, v in flat.items():
        *parents, leaf = path.split(".")
        node = out
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = v
    return out


def _with_buffer(cfg):
    """A TAC config whose replay buffer holds at least one batch."""
    return cfg.replace(buffer_size=cfg.batch_size) if cfg.buffer_size < cfg.batch_size else cfg


def cmd_train_tac(args) -> int:
    from dtac_jax.runs import train

    conf = configure(args, {"tac": tac_config_from_args(args), "scenario": _scenario(args)})
    t0 = time.time()
    train("tac", conf["scenario"], _with_buffer(conf["tac"]), args.out, **_run_options(args))
    return _done("TAC", t0, args.out)


def cmd_transfer(args) -> int:
    from dtac_jax.algos import registry
    from dtac_jax.algos.dtac import TransferConfig
    from dtac_jax.runs import train_transfer

    given = _nested(_given_fields(args, transfer_options()))
    names = [n for n in registry.names(learned=True) if registry.get(n).kind == "transfer"]
    # the registered method of this loss and student (DTAC, TL transformer, TL) with its fields
    plain = TransferConfig.quick(**{k: v for k, v in given.items() if k in ("loss", "student")})
    cfg = (registry.get(plain.name).quick(**given) if plain.name in names
           else TransferConfig.quick(**given))
    cfg = configure(args, {"transfer": cfg}, aliases={n: "transfer" for n in names})["transfer"]
    t0 = time.time()
    train_transfer(args.tac, cfg, args.out, **_run_options(args))
    return _done(cfg.name, t0, args.out)


def cmd_train_happo(args) -> int:
    from dtac_jax.algos.happo import HAPPOConfig
    from dtac_jax.runs import train

    kw = _nested(_given_fields(args, happo_options()))
    cfg = (HAPPOConfig.paper if args.paper else HAPPOConfig.quick)(**kw)
    conf = configure(args, {"happo": cfg, "scenario": _scenario(args)})
    t0 = time.time()
    train("happo", conf["scenario"], conf["happo"], args.out, **_run_options(args))
    return _done("HAPPO", t0, args.out)


def train_setup(args):
    """``(algorithm, scenario, config, deps)`` of ``dtac train``: the entry's ``quick()`` (or
    ``paper()``), then ``--config FILE`` (``scenario`` and the config under the algorithm's
    kind, the layout of a run's ``config.json``), then each ``--set PATH=VALUE`` in order."""
    from dtac_jax.algos import registry

    algo = registry.get(args.algorithm)
    cfg = algo.paper() if args.paper else algo.quick()
    conf = configure(args, {algo.kind: cfg, "scenario": _scenario(args)},
                     aliases={algo.name: algo.kind})
    deps = {}
    for item in args.needs:
        name, eq, run = item.partition("=")
        if not eq:
            raise ValueError(f"--from {item!r}: expected NAME=RUN_FOLDER")
        deps[name] = run
    for name in algo.needs:
        deps.setdefault(name, f"runs/{name}")
    return algo, conf["scenario"], conf[algo.kind], deps


def cmd_train(args) -> int:
    from dtac_jax.runs import train

    algo, scn, cfg, deps = train_setup(args)
    out = args.out or f"runs/{algo.name}"
    t0 = time.time()
    train(algo.name, scn, cfg, out, deps=deps, **_run_options(args))
    return _done(algo.label, t0, out)


# --------------------------------------------------------------------------- parsers
def _add_run_options(p, out: str | None) -> None:
    """Seeds, chunk, --out, --resume and --log of a training command."""
    p.add_argument("--seeds", type=int, default=None,
                   help="independent seeds trained at once (default 1)")
    p.add_argument("--seed", type=int, default=None, help="base seed (default 0)")
    p.add_argument("--chunk", type=int, default=None,
                   help="iterations per compiled chunk and checkpoint (default 10)")
    p.add_argument("--out", default=out,
                   help="run folder" + (f" (default {out})" if out else
                                        " (default runs/ALGORITHM)"))
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_log_option(p)


def _add_train_parser(sub) -> None:
    from dtac_jax.algos import registry
    names = registry.names(learned=True)
    t = sub.add_parser(
        "train", help="train any registered algorithm (" + ", ".join(names) + ")",
        description="Train a registered algorithm. Its config starts from the config class's "
                    "quick() (or paper() with --paper); --config FILE and --set PATH=VALUE "
                    "override any field.")
    t.add_argument("algorithm", choices=names)
    t.add_argument("--preset", default="small", choices=_presets())
    t.add_argument("--rounds", type=int, default=None, help="rounds per environment episode")
    t.add_argument("--paper", action="store_true", help="start from the config's paper()")
    _add_config_options(t, "ALGORITHM-KIND (tac, transfer, happo), scenario",
                        "--set lr_actor=3e-4 --set collect.envs=64 --set scenario.l_channels=8")
    t.add_argument("--from", dest="needs", action="append", default=[], metavar="NAME=RUN",
                   help="the run folder of an algorithm this one starts from (default "
                        "runs/NAME)")
    _add_run_options(t, None)
    t.set_defaults(func=cmd_train)


def tac_options() -> dict[str, tuple[str, str]]:
    """``train-tac``'s shortcut options: argparse dest -> (dotted ``TACConfig`` field, help).
    Each flag is the dest with dashes; its type and choices come from the field
    (:func:`_field_options`). Every other field is reached through ``--set``."""
    return {
        "iterations": ("iterations", "training iterations (default: the recipe's)"),
        "estimator": ("estimator", "ppo (stochastic policy gradient) or critic (gradient "
                      "through the critic, the paper's)"),
        "credit": ("ppo.credit", "PPO advantages: team (GAE of the shared reward) or "
                   "difference (per-UE counterfactual costs)"),
        "credit_source": ("ppo.credit_source", "what answers the difference credit's "
                          "what-ifs: critic (the learned critic, exactly), critic_linear (the "
                          "critic to first order) or simulator (its cost function: "
                          "model-based)"),
        "horizon": ("ppo.horizon", "rounds after the current one whose discounted objective "
                    "the critic predicts and the credit counts (0: the round alone)"),
        "critic_input": ("critic_input", "what the critic sees of a decision: executed "
                         "one-hots or probabilities"),
        "explore": ("collect.explore", "critic estimator: noise on the probabilities or "
                    "sampling"),
        "floor": ("collect.floor", "weight of the uniform mixed into the sampled targets and "
                  "channels (PPO, or --explore sample)"),
        "noise_var": ("collect.noise_var", "initial exploration noise variance (critic "
                      "estimator)"),
        "envs": ("collect.envs", "parallel environments per iteration"),
        "collect_rounds": ("collect.rounds", "rounds collected per env"),
        "updates": ("updates", "critic updates per iteration (U)"),
        "batch_size": ("batch_size", "joint rounds per critic update"),
        "lr_actor": ("lr_actor", "actor learning rate"),
        "lr_critic": ("lr_critic", "critic learning rate"),
    }


class _Deprecated(argparse.Action):
    """A former option name: stores into its new dest with one line on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        new = "--" + self.dest.replace("_", "-")
        print(f"dtac: {option_string} is deprecated: it is read as {new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_deprecated(p, renamed: dict[str, str], type=int) -> None:
    """Hidden former option names (``{"--old": "new_dest"}``) read as their new dests."""
    for old, new in renamed.items():
        p.add_argument(old, dest=new, type=type, action=_Deprecated, help=argparse.SUPPRESS)


#: the former spelling of the training commands' --iterations
_EPISODES = {"--episodes": "iterations"}


def happo_options() -> dict[str, tuple[str, str]]:
    """``train-happo``'s shortcut options, as :func:`tac_options` (fields of ``HAPPOConfig``)."""
    return {
        "iterations": ("iterations", "training iterations (default: the config's)"),
        "policy": ("policy", "the actor: mlp (HARL's default) or gru (the paper's)"),
        "share_param": ("share_param", "one actor for every UE slot, or one per slot"),
        "envs": ("envs", "parallel environments"),
        "rollout": ("rollout", "rounds per rollout"),
        "epochs": ("epochs", "actor epochs per agent"),
        "lr_actor": ("lr_actor", "actor learning rate"),
        "lr_critic": ("lr_critic", "critic learning rate"),
    }


def transfer_options() -> dict[str, tuple[str, str]]:
    """``transfer``'s shortcut options, as :func:`tac_options` (fields of ``TransferConfig``)."""
    return {
        "loss": ("loss", "critic (DTAC, the default) or mse (TL)"),
        "student": ("student", "transformer (the default) or mlp"),
        "iterations": ("iterations", "training iterations (default: the method's)"),
        "updates": ("updates", "student updates per iteration"),
        "anchor_weight": ("anchor_weight", "weight of the MSE-to-TAC anchor in the critic loss "
                          "(0, the default: paper eq. 22)"),
        "trust_weight": ("trust_weight", "weight of KL(TAC || student) of the targets and "
                         "channels added to eq. 22 (0, the default: none)"),
        "lr_actor": ("lr_actor", "the student's learning rate"),
    }


#: fields whose values are one of a fixed set: the set, for ``choices``
def _field_choices() -> dict[str, tuple[str, ...]]:
    from dtac_jax.algos import dtac, happo
    from dtac_jax.algos.replay import EXPLORE
    from dtac_jax.algos.estimators import ESTIMATORS
    from dtac_jax.algos.tac import CREDIT_SOURCES, CREDITS, CRITIC_INPUTS
    return {"estimator": tuple(ESTIMATORS), "ppo.credit": CREDITS,
            "ppo.credit_source": CREDIT_SOURCES, "critic_input": CRITIC_INPUTS,
            "collect.explore": EXPLORE, "policy": happo.POLICIES, "loss": dtac.LOSSES,
            "student": dtac.STUDENTS}


def _field_options(p, cls, options: dict[str, tuple[str, str]]) -> None:
    """One ``--DEST`` per entry ``dest -> (dotted field of config class cls, help)``: its type
    from the field's annotation (a bool field gives ``--DEST`` / ``--no-DEST``), its choices
    from :func:`_field_choices`, default None (the config's value)."""
    import typing
    for dest, (field, help) in options.items():
        hint: typing.Any = cls
        for part in field.split("."):
            hint = typing.get_type_hints(hint)[part]
        kw = dict(type=hint) if hint in (int, float) else {}
        if hint is bool:
            kw = dict(action=argparse.BooleanOptionalAction)
        choices = _field_choices().get(field)
        if choices:
            kw = dict(choices=choices)
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, default=None, help=help, **kw)


def _tac_run_args(p):
    """The TAC options of ``train-tac``: the recipe and its most used settings (every other
    field through --set). Settings left out take the recipe's value."""
    from dtac_jax.algos.tac import RECIPES, TACConfig
    p.add_argument("--recipe", choices=RECIPES, default="default",
                   help="named TAC configuration: default (PPO with difference credit from the "
                        "learned critic), oracle-credit (the same credit from the simulator's "
                        "cost function: a model-based reference), critic (the paper's "
                        "estimator, tuned learning rates), paper (the paper's recipe, lr 2e-5)")
    _field_options(p, TACConfig, tac_options())
    _add_deprecated(p, _EPISODES)
    p.add_argument("--rounds", type=int, default=None, help="rounds per environment episode")


def _presets() -> tuple[str, ...]:
    from dtac_jax.env.scenarios import PRESETS
    return tuple(PRESETS)


class _Parser(argparse.ArgumentParser):
    """argparse with bad input reported on one line (``dtac CMD: error: ...``), exit code 2;
    the subcommand parsers are of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from dtac_jax import __version__
    p = _Parser(prog="dtac", description="DTAC in JAX: cloud-edge offloading.")
    p.add_argument("--version", action="version", version=f"dtac-jax {__version__}")
    _add_global_options(p)
    sub = p.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_sweep_parser(sub)
    from dtac_jax.algos.dtac import TransferConfig
    from dtac_jax.algos.happo import HAPPOConfig
    e = sub.add_parser("evaluate", help="evaluate policies on the same episodes",
                       description="Evaluate policies on the same episodes; print a table and "
                                   "write CSV/JSON/Markdown to --out.")
    e.add_argument("--preset", default="small", choices=_presets())
    from dtac_jax.algos import registry
    e.add_argument("--policies", default=",".join(registry.names(learned=False)),
                   help="comma-separated policy names (default: every registered policy that "
                        "needs no training)")
    e.add_argument("--episodes", type=int, default=16)
    e.add_argument("--rounds", type=int, default=None, help="rounds per episode (preset default)")
    e.add_argument("--ues-per-edge", type=int, default=None, help="fix the UE count per edge")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--search-candidates", type=int, default=None,
                   help="Search's candidates per iteration (default: SearchConfig's)")
    e.add_argument("--search-iterations", type=int, default=None)
    _add_config_options(e, "scenario, search",
                        "--set total_bandwidth=40e6 --set search.iterations=8")
    e.add_argument("--out", default="results/evaluate", help="output folder")
    e.add_argument("--runs", nargs="*", default=[],
                   help="run folders of trained policies (TAC, DTAC, TL, ...) to evaluate too")
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train-tac", help="centralised TAC training (Algorithm 1, lines 1-12)",
                       description="Train TAC on a preset; seeds are vmapped in one program. "
                                   "The config is the --recipe's with the options given, then "
                                   "--config and --set.")
    t.add_argument("--preset", default="small", choices=_presets())
    _tac_run_args(t)
    t.add_argument("--paper-lr", action="store_true", help="the same as --recipe paper")
    _add_config_options(t, "tac, scenario", "--set entropy_weight=0.02 --set net.d_model=64")
    _add_run_options(t, "runs/tac")
    t.set_defaults(func=cmd_train_tac)

    h = sub.add_parser("train-happo", help="HAPPO baseline (HARL's algorithm, shared reward)",
                       description="Train the HAPPO baseline (docs/algorithms.md). Starts "
                                   "from HAPPOConfig.quick() (or .paper() with --paper) with "
                                   "the options given, then --config and --set.")
    h.add_argument("--preset", default="small", choices=_presets())
    h.add_argument("--paper", action="store_true",
                   help="HAPPOConfig.paper(): reference widths 128x128 and the GRU actor")
    _field_options(h, HAPPOConfig, happo_options())
    _add_deprecated(h, {"--lr": "lr_actor", "--critic-lr": "lr_critic"}, float)
    _add_deprecated(h, _EPISODES)
    h.add_argument("--rounds", type=int, default=None, help="rounds per environment episode")
    _add_config_options(h, "happo, scenario", "--set hidden=[128,128] --set clip=0.1")
    _add_run_options(h, "runs/happo")
    h.set_defaults(func=cmd_train_happo)

    d = sub.add_parser("transfer", help="decentralised transfer from a TAC run (DTAC, TL)",
                       description="Fine-tune a decentralised student from a TAC run: "
                                   "--loss critic --student transformer is DTAC; "
                                   "--loss mse gives TL transformer / TL (--student mlp). "
                                   "Starts from TransferConfig.quick() with the options given, "
                                   "then --config and --set. The scenario and seeds are the "
                                   "TAC run's.")
    d.add_argument("--tac", default="runs/tac", help="TAC run folder")
    _field_options(d, TransferConfig, transfer_options())
    _add_deprecated(d, _EPISODES)
    _add_config_options(d, "transfer", "--set lr_actor=1e-4 --set collect.noise_var=0.02")
    d.add_argument("--chunk", type=int, default=None,
                   help="iterations per compiled chunk and checkpoint (default 10)")
    d.add_argument("--out", default="runs/dtac", help="run folder (default runs/dtac)")
    d.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_log_option(d)
    d.set_defaults(func=cmd_transfer)

    r = sub.add_parser("reproduce", help="regenerate the paper's figures and tables",
                       description="Train every policy once per preset (cached), evaluate all "
                                   "on the same episodes, write figures, tables and "
                                   "results/<profile>/REPORT.md.")
    from dtac_jax.reproduce.run import add_arguments
    add_arguments(r)
    _add_config_options(r, "profile (reproduce.profiles.Profile)",
                        "--set tac.iterations=30 --set eval_episodes=16 --set name=mine")
    _add_log_option(r)
    r.set_defaults(func=cmd_reproduce)
    return p


def _add_global_options(p) -> None:
    g = p.add_argument_group("multi-device / multi-host (before the command)")
    g.add_argument("--devices", type=int, default=None,
                   help="use only the first N devices (default: all; env DTAC_DEVICES)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="multi-host: address of process 0 (env DTAC_COORDINATOR; 'auto' "
                        "detects SLURM/MPI/TPU clusters)")
    g.add_argument("--num-processes", type=int, default=None,
                   help="multi-host: number of processes (env DTAC_NUM_PROCESSES)")
    g.add_argument("--process-id", type=int, default=None,
                   help="multi-host: this process's index (env DTAC_PROCESS_ID)")


def _setup_devices(args) -> None:
    from dtac_jax import parallel
    parallel.init_distributed(getattr(args, "coordinator", None),
                              getattr(args, "num_processes", None),
                              getattr(args, "process_id", None))
    parallel.set_devices(getattr(args, "devices", None))


def _add_sweep_parser(sub) -> None:
    import dataclasses
    import typing

    from dtac_jax.algos.tac import RECIPES
    from dtac_jax.sweep import PARAMS, SweepBase
    s = sub.add_parser(
        "sweep", help="grid of TAC hyper-parameters x seeds: sweep.csv and plots",
        description="Train TAC for every point of a hyper-parameter grid (seeds, and points "
                    "that differ only in continuous hyper-parameters, vmapped in one "
                    "program), evaluate every seed on the same episodes, append to "
                    "OUT/sweep.csv and plot OUT/plot_<param>.png. Re-running skips finished "
                    "points. The settings shared by every point are SweepBase's fields (one "
                    "option each, or --config/--set). Parameters: "
                    + ", ".join(f"{k} ({v[1]})" for k, v in PARAMS.items()))
    s.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="a swept parameter and its values (repeat for a product grid)")
    hints = typing.get_type_hints(SweepBase)
    choices = {"preset": _presets(), "recipe": RECIPES}
    for f in dataclasses.fields(SweepBase):
        kinds = [t for t in (int, float, str) if t in (hints[f.name],
                                                      *typing.get_args(hints[f.name]))]
        if not kinds:   # the tac / scenario override mappings: --set tac.FIELD=VALUE
            continue
        kind = kinds[0]
        s.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None,
                       choices=choices.get(f.name),
                       help=f"SweepBase.{f.name} (default {f.default})")
    _add_deprecated(s, _EPISODES)
    _add_config_options(s, "sweep (SweepBase)",
                        "--set eval_episodes=32 --set tac.net.d_model=64 "
                        "--set scenario.l_channels=6")
    s.add_argument("--out", default="runs/sweep")
    s.add_argument("--no-vmap-hyper", action="store_true",
                   help="train every grid point as a program of its own (by default, points "
                        "that differ only in learning rates, noise or entropy weight train "
                        "vmapped in one program)")
    s.add_argument("--no-progress", action="store_true")
    _add_log_option(s)
    s.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    import dataclasses

    from dtac_jax.sweep import SweepBase, parse_grid, run_sweep
    grid = parse_grid(args.grid)
    base = SweepBase(**_given(args, [f.name for f in dataclasses.fields(SweepBase)]))
    base = configure(args, {"sweep": base})["sweep"]
    t0 = time.time()
    rows = run_sweep(grid, base, args.out, vmap_hyper=not args.no_vmap_hyper,
                     progress=not args.no_progress, log_to=args.log_to)
    print(f"sweep finished in {time.time() - t0:.1f} s: {len(rows)} rows in "
          f"{Path(args.out) / 'sweep.csv'}")
    return 0


def cmd_reproduce(args) -> int:
    from dtac_jax.reproduce import reproduce
    from dtac_jax.reproduce.profiles import get_profile
    profile = configure(args, {"profile": get_profile(args.profile)})["profile"]
    path = reproduce(profile, args.only, args.out, args.force, args.presets,
                     progress=not args.no_progress, log_to=args.log_to)
    print(f"REPORT: {path}")
    return 0


def enable_compile_cache():
    """Persistent XLA compilation cache (``DTAC_JAX_CACHE``, default ``~/.cache/dtac_jax/xla``;
    ``DTAC_JAX_CACHE=off`` disables it): a second run of the same programs skips compilation."""
    import os
    path = os.environ.get("DTAC_JAX_CACHE", os.path.expanduser("~/.cache/dtac_jax/xla"))
    if path.lower() in ("off", "0", "none", ""):
        return
    import jax
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def main(argv=None) -> int:
    from dtac_jax import interrupt
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    interrupt.terminate_as_interrupt()
    try:
        _setup_devices(args)
        return args.func(args)
    except KeyboardInterrupt as err:
        # Ctrl-C or SIGTERM: one line (a training run names its last checkpoint), 130 / 143
        resume = ("rerun with --resume to continue" if getattr(args, "resume", None) is False
                  else "rerun to resume")
        print(f"dtac {args.command}: {interrupt.line(err, resume)}", file=sys.stderr)
        return interrupt.exit_code(err)
    except (ValueError, KeyError, OSError) as err:
        # bad input, a busy or damaged run folder (runfolder.RunFolderError, a ValueError),
        # a missing file, a full disk: one line, exit code 2
        print(f"dtac {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err: Exception) -> str:
    """``err``'s message on one line (an ``OSError`` as ``FILE: reason``)."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    text = " ".join(str(err).split("\n")).strip()
    return text or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
