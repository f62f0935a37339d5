"""Generate ``notebooks/quickstart.ipynb``.

    python notebooks/make_quickstart.py            # rewrite the notebook, outputs cleared
    python notebooks/make_quickstart.py --execute  # and run it, storing the outputs (make notebook)

The notebook is executed by ``tests/notebooks/test_notebook.py``; keep every size tiny so that it
runs in well under two minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
OUT = HERE / "quickstart.ipynb"

CELLS: list[tuple[str, str]] = [
    ("md", """\
# dtac-jax quick start

This notebook walks through the whole stack on the `small` preset:

1. build a **scenario** (one cloud, K edge servers, a varying number of UEs);
2. **reset and step** the simulator for 256 episodes at once, with `jax.vmap` over episodes,
   `jax.lax.scan` over rounds and `jax.jit` around it all;
3. train a tiny centralised **TAC** (Transformer Actor-Critic);
4. **transfer** it to **DTAC**, the decentralised student whose attention is the identity, so
   each UE decides from its own state alone;
5. **evaluate** TAC, DTAC, Random, all-local and greedy on the same episodes and plot them.

> **The numbers below come from a tiny run** (TAC: 3 seeds x 20 training iterations of 8
> environments x 5 rounds; DTAC: 10 transfer iterations), chosen so that the notebook runs in
> a minute or two on a 2-core CPU, most of it compilation. They show the mechanics, not the
> paper's results, and a tiny TAC is erratic (it beats Random, not necessarily all-local). To
> scale up, use the command line (last section), e.g.
> `dtac train-tac --preset small --iterations 150 --out runs/tac`, as `make run` does.

Everything runs on the CPU unchanged and uses a GPU or TPU when JAX sees one."""),
    ("code", """\
import os

# Tiny runs spend most of their time compiling: a lower XLA backend optimisation level halves
# the compile time at these sizes. Remove this line for long runs and benchmarks.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from dtac_jax.env import make_params, make_scenario, reset, step
from dtac_jax.algos.heuristics import all_local, greedy_policy, random_policy

print("JAX", jax.__version__, "on", jax.devices())"""),
    ("md", """\
## 1. A scenario

`make_scenario(preset, **overrides)` returns a frozen, validated `Scenario` of plain Python
numbers (SI units; it is saved with every checkpoint). `make_params` turns it into `EnvParams`,
the pytree of arrays the jitted simulator reads (task table, Zipf popularity per UE type,
powers and noise in watts). UE slots are padded to `N_max = K * ue_max`; slot `n` belongs to
edge `n // ue_max` and is real when `n % ue_max < n_k`, with `n_k` drawn at each reset."""),
    ("code", """\
# presets: small, medium, large; any field can be overridden
scn = make_scenario("small", l_channels=4)
params = make_params(scn)

print(f"edge servers K          {scn.n_edges}  (UE disc radius {scn.r_edge:.0f} m, "
      f"edge-cloud distance {scn.r_cloud:.0f} m)")
print(f"UEs per edge            {scn.ue_min}..{scn.ue_max}  -> N_max = {scn.n_max} UE slots")
print(f"channels L              {scn.l_channels} x {scn.bandwidth / 1e6:.1f} MHz "
      f"(noise {scn.noise:.2e} W per channel)")
print(f"UE power                {scn.p_ue:.3f} W, "
      f"CPU {min(scn.f_ue) / 1e9:.1f}-{max(scn.f_ue) / 1e9:.1f} GHz "
      f"over {scn.n_ue_types} UE types")
print(f"edge / cloud CPU        {scn.f_edge / 1e9:.1f} / {scn.f_cloud / 1e9:.1f} GHz")
print(f"edge cache              {scn.cache_capacity / 1e6:.0f} Mbit of results per edge")
work = np.asarray(params.s_in * params.cycles)
print(f"task kinds M            {scn.n_tasks}: "
      f"input {np.asarray(params.s_in).mean() / 1e6:.1f} Mbit, "
      f"output {np.asarray(params.s_out).mean() / 1e6:.1f} Mbit, "
      f"{work.mean():.2e} cycles on average")
print(f"objective               {scn.w_time} x round time (s) + {scn.w_energy} x UE energy (J), "
      f"{scn.rounds} rounds per episode")"""),
    ("md", """\
## 2. The simulator under `vmap`, `scan` and `jit`

The environment is two pure functions, `reset(key, params) -> (obs, state)` and
`step(key, state, action, params) -> (obs, state, reward, done, info)`. Shapes never change, so
one episode is a `lax.scan` over rounds and many episodes are a `vmap` of it; `jit` compiles
the whole thing into one program. The action is `Action(x, channel, a, b)`: target (0 local,
1 edge, 2 cloud), channel, transmit-power ratio and CPU-frequency ratio per UE. Here every UE
acts at random (paper section IV-A). `info` holds the round duration `t_round`, the per-UE
energy `e_ue` and the weighted `objective` (lower is better)."""),
    ("code", """\
EPISODES = 256


def rollout(key):
    \"\"\"One episode of `params.rounds` rounds under the random policy; per-round statistics.\"\"\"
    k_reset, k_run = jax.random.split(key)
    obs, state = reset(k_reset, params)

    def one_round(carry, k):
        obs, state = carry
        k_pol, k_env = jax.random.split(k)
        action = random_policy(k_pol, obs, state, params)
        obs, state, reward, done, info = step(k_env, state, action, params)
        stats = dict(objective=info["objective"], t_round=info["t_round"],
                     energy=jnp.sum(info["e_ue"]), n_ues=info["n_ues"])
        return (obs, state), stats

    _, per_round = jax.lax.scan(one_round, (obs, state), jax.random.split(k_run, params.rounds))
    return per_round                      # every leaf: [rounds]


simulate = jax.jit(jax.vmap(rollout))     # every leaf: [episodes, rounds]
keys = jax.random.split(jax.random.PRNGKey(0), EPISODES)

t0 = time.perf_counter()
out = jax.block_until_ready(simulate(keys))           # first call: compile + run
t_first = time.perf_counter() - t0
t0 = time.perf_counter()
out = jax.block_until_ready(simulate(keys))           # second call: run only
t_run = time.perf_counter() - t0
ue_rounds = int(np.asarray(out["n_ues"]).sum())
print(f"{EPISODES} episodes x {params.rounds} rounds = {ue_rounds:,} UE-rounds: "
      f"first call {t_first:.1f} s (compilation), then {t_run:.2f} s "
      f"({ue_rounds / t_run:,.0f} UE-rounds/s)")

obj, t_round, energy = (np.asarray(out[k]) for k in ("objective", "t_round", "energy"))
print("\\nround | objective: median   mean     | round time (s): median  mean  "
      "| UE energy (J): median  mean")
for t in (0, 1, 2, 5, 10, 20, params.rounds - 1):
    print(f"{t:5d} | {np.median(obj[:, t]):17.1f} {obj[:, t].mean():8.1f} | "
          f"{np.median(t_round[:, t]):22.1f} {t_round[:, t].mean():6.1f} | "
          f"{np.median(energy[:, t]):20.2f} {energy[:, t].mean():5.2f}")"""),
    ("md", """\
Random actions are costly and heavy-tailed: a UE that sends its task through a deep Rayleigh
fade at low power, on a channel it shares with a strong interferer, can hold up the whole round
for minutes, so the mean objective is far above the median.

(The speed printed above is at the reduced XLA optimisation level set in the first cell; at the
default level the same step runs several times faster: `make bench` measures it for 1024
parallel episodes, `benchmarks/sim.md`.)"""),
    ("code", """\
fig, ax = plt.subplots(figsize=(7, 3))
rounds = np.arange(params.rounds)
ax.plot(rounds, np.median(obj, axis=0), label="median over episodes")
ax.plot(rounds, obj.mean(axis=0), label="mean over episodes")
ax.fill_between(rounds, np.percentile(obj, 25, axis=0), np.percentile(obj, 75, axis=0),
                alpha=0.3, label="25-75 %")
ax.set_yscale("log")
ax.set_xlabel("round")
ax.set_ylabel("objective (lower is better)")
ax.set_title(f"Random policy, {EPISODES} episodes in parallel")
ax.legend()
plt.show()"""),
    ("md", """\
### Wrappers and a new effect

`dtac_jax.env.wrappers` composes functional wrappers that keep `reset` / `step`'s signatures:
`TeamReward` (scalar reward, minus the eq. 27 objective), `AutoReset`, `EpisodeStats`,
`FlatObs`, `FixedUECount`. A new effect is one more wrapper, here `BurstyArrivals`: with
probability `p` a round gives every UE the same task, which the edge caches then serve. The
stack runs under `scan` past the episode limit (auto-reset) and reports each finished
episode's return."""),
    ("code", """\
import inspect

from dtac_jax.env.wrappers import (AutoReset, BurstyArrivals, CloudEdgeEnv, EpisodeStats,
                                   TeamReward)

print(inspect.getsource(BurstyArrivals.step))   # the whole effect: a step around the inner one


def episode_returns(p, key, episodes=8):
    env = EpisodeStats(AutoReset(TeamReward(BurstyArrivals(CloudEdgeEnv(scn), p))))

    def run(key):
        obs, st = env.reset(key, params)

        def body(carry, k):
            obs, st = carry
            k_pol, k_env = jax.random.split(k)
            action = greedy_policy(k_pol, obs, st.env_state, params)
            obs, st, r, done, info = env.step(k_env, st, action, params)
            return (obs, st), (done, info["returned_episode_return"], info["cache_hit"].sum())
        _, (done, ret, hits) = jax.lax.scan(body, (obs, st),
                                            jax.random.split(key, 2 * params.rounds))
        return ret[params.rounds - 1], hits.sum()   # the first episode's return
    return jax.jit(jax.vmap(run))(jax.random.split(key, episodes))


for p in (0.0, 0.5):
    ret, hits = episode_returns(p, jax.random.PRNGKey(7))
    print(f"p = {p}: first-episode return {np.mean(ret):9.1f} (mean of 8), "
          f"cache hits per 2 episodes {np.mean(hits):6.1f}")"""),
    ("md", """\
## 3. A tiny TAC

`make_tac(params, cfg)` returns two pure functions: `init(key) -> state` and
`iteration(state) -> (state, metrics)`. With the default recipe one training iteration samples
`collect.rounds` rounds from `collect.envs` environments with the stochastic actor, trains
the per-UE critic on the executed decisions, asks the critic how the round's cost would change
had one UE alone decided otherwise (difference credit, every UE's target, channel and (a, b)
in one `vmap`), and makes clipped policy-gradient (PPO) updates with that credit. The critic
is the one DTAC is later fine-tuned against.
`recipe("paper")` is the paper's estimator instead: a deterministic actor trained through the
critic, with noise on the probabilities. Because everything is a
pure function, a whole training run is a `lax.scan` over iterations, and `vmap` over PRNG keys
trains several independent seeds in the same compiled program (what `dtac train-tac --seeds 3`
does). We keep the seed whose actor measured best during training.

The sizes are tiny (defaults: 60 iterations of 32 environments x 8 rounds, 100 critic steps,
2 epochs of 8 minibatches). `dtac_jax.runs.train("tac", scn, cfg, run_dir)` runs the same
functions in chunks and writes a resumable run folder (`config.json`, an Orbax checkpoint,
`metrics.jsonl`)."""),
    ("code", """\
from dtac_jax.algos.policy import actor_fn, greedy
from dtac_jax.algos.tac import TACConfig, make_tac
from dtac_jax.train import seed_slice

SEEDS = 3
# the default recipe, shrunk: nested settings are dicts of the fields that change
tac_cfg = TACConfig.quick(iterations=20, updates=8, batch_size=16, buffer_size=2_000,
                          eval_envs=8, eval_rounds=20, collect=dict(envs=8, rounds=5))
tac_init, tac_iteration = make_tac(params, tac_cfg)


def train_tac(key):
    \"\"\"A whole TAC run: init, then `iterations` training iterations; metrics: [iterations]
    each.\"\"\"
    return jax.lax.scan(lambda state, _: tac_iteration(state), tac_init(key), None,
                        length=tac_cfg.iterations)


t0 = time.perf_counter()
tac_states, tac_metrics = jax.block_until_ready(
    jax.jit(jax.vmap(train_tac))(jax.random.split(jax.random.PRNGKey(0), SEEDS)))
print(f"TAC: {SEEDS} seeds x {tac_cfg.iterations} iterations in {time.perf_counter() - t0:.1f} s "
      f"(most of it compilation)")
print("metrics:", ", ".join(f"{k} {v.shape}" for k, v in tac_metrics.items()))

best_seed = int(jnp.argmin(tac_states.best_score))   # lowest smoothed measured objective
tac = seed_slice(tac_states, best_seed)
print(f"best measured objective per seed: {np.round(np.asarray(tac_states.best_score), 1)} "
      f"-> seed {best_seed}")"""),
    ("md", """\
`objective` is the measured round objective of the deterministic actor (argmax target and
channel) on fixed validation episodes (the real simulator, not the critic); `critic_loss` is
the MSE of the critic to the log-transformed costs. With so few updates the curves are noisy
and the seeds differ a lot; in a full run they flatten after a few tens of iterations."""),
    ("code", """\
iterations = np.arange(1, tac_cfg.iterations + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
for s in range(SEEDS):
    ax1.plot(iterations, np.asarray(tac_metrics["objective"][s]), marker=".", label=f"seed {s}")
    ax2.plot(iterations, np.asarray(tac_metrics["critic_loss"][s]), marker=".", label=f"seed {s}")
ax1.set_yscale("log")
ax1.set(xlabel="training iteration", ylabel="measured objective", title="TAC actor")
ax2.set(xlabel="training iteration", ylabel="critic loss", title="TAC critic")
ax1.legend(fontsize="small")
plt.tight_layout()
plt.show()"""),
    ("md", """\
## 4. Transfer to DTAC

DTAC's student is the TAC actor's parameter tree run with **identity attention**
(`Attn = V`), so each UE's decision depends only on its own observation and edge id: it can
run on the UE itself. `make_transfer` starts it from the best TAC actor and trains it through
the frozen TAC critic, eq. 22 of the paper (`TransferConfig(loss="critic")`;
`loss="mse"` gives the TL transformer baseline and `student="mlp"` the TL baseline), on rounds
collected with the TAC teacher into TAC's replay buffer. `final_student` returns the student
that measured best. (`dtac_jax.runs.train_transfer(tac_dir, cfg, run_dir)` is the on-disk
version, behind `dtac transfer`.)"""),
    ("code", """\
from dtac_jax.algos.dtac import TransferConfig, final_student, make_transfer, student_model

dtac_cfg = TransferConfig.quick(iterations=10, updates=8, batch_size=16, eval_envs=8,
                                eval_rounds=20, collect=dict(envs=8, rounds=5))
tr_init, tr_iteration = make_transfer(params, dtac_cfg, tac_cfg.net, tac_cfg.cost_scale,
                                      tac_cfg.buffer_size, tac_cfg.critic_input)


def transfer(key, tac_actor, tac_critic, tac_buffer):
    state = tr_init(key, tac_actor, tac_critic, tac_buffer)
    return jax.lax.scan(lambda s, _: tr_iteration(s), state, None, length=dtac_cfg.iterations)


t0 = time.perf_counter()
dtac_state, dtac_metrics = jax.block_until_ready(
    jax.jit(transfer)(jax.random.PRNGKey(1), tac.best_actor, tac.critic, tac.buffer))
dtac_student = final_student(dtac_state, dtac_cfg)
print(f"DTAC: {dtac_cfg.iterations} transfer iterations in {time.perf_counter() - t0:.1f} s")
print("iteration |   loss | student objective | teacher objective")
for i in range(dtac_cfg.iterations):
    print(f"{i + 1:9d} | {float(dtac_metrics['loss'][i]):6.2f} | "
          f"{float(dtac_metrics['objective'][i]):17.1f} | "
          f"{float(dtac_metrics['teacher_objective'][i]):17.1f}")"""),
    ("md", """\
## 5. Evaluate every policy on the same episodes

A policy is a `Policy(init, apply)` that carries its memory from round to round, or a plain
function `policy(key, obs, state, params) -> Action` (the heuristics). `greedy(act, params)`
turns an actor network and its parameters into the deterministic policy that executes the
mode of its action distribution (`runs.load_policy(run_dir)` does the same for a run folder).
`evaluate.evaluate(policy, params, key, episodes)` runs one policy on `episodes` full episodes
(jitted and vmapped); every policy given the same key sees the same UEs, tasks and fading. The
weighted reward is the paper's eq. 27 (minus the mean round objective; higher is better), with
one standard error over episodes."""),
    ("code", """\
from dtac_jax.evaluate import evaluate, format_table

policies = {"TAC": greedy(actor_fn(tac_cfg.net, "full"), tac.best_actor),
            "DTAC": greedy(student_model(dtac_cfg, tac_cfg.net)[1], dtac_student),
            "Random": random_policy, "all-local": all_local, "greedy": greedy_policy}

EVAL_EPISODES = 16
t0 = time.perf_counter()
results = {name: evaluate(policy, params, jax.random.PRNGKey(2024), episodes=EVAL_EPISODES)
           for name, policy in policies.items()}
print(f"{len(results)} policies x {EVAL_EPISODES} episodes x {params.rounds} rounds "
      f"in {time.perf_counter() - t0:.1f} s")
display(Markdown(format_table(results)))"""),
    ("code", """\
names = list(results)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
ax1.bar(names, [-results[n].weighted_reward for n in names],
        yerr=[results[n].reward_std_err for n in names], color=["C0", "C1", "C3", "C2", "C4"],
        capsize=4)
ax1.set_yscale("log")
ax1.set(ylabel="-weighted reward (log scale)", title="Mean round objective: lower is better")

bottom = np.zeros(len(names))
for label, field, color in (("local", "frac_local", "0.6"), ("edge", "frac_edge", "C0"),
                            ("cloud", "frac_cloud", "C9")):
    frac = np.array([getattr(results[n], field) for n in names])
    ax2.bar(names, frac, bottom=bottom, label=label, color=color)
    bottom += frac
ax2.set(ylabel="share of tasks", title="Where tasks are computed")
ax2.legend(loc="upper right", fontsize="small")
plt.tight_layout()
plt.show()"""),
    ("md", """\
The table above is this notebook's tiny TAC and DTAC against the references. Whether they beat
all-local and greedy depends on the seed at this size; the results at the reproduction's budget,
over three seeds, are in `docs/reproducing.md`.

## Scaling up: the command line

The same steps at full size, with progress bars, checkpoints and resumable runs:

```bash
dtac train-tac --preset small --iterations 150 --seeds 3 --out runs/tac  # centralised TAC
dtac transfer --tac runs/tac --out runs/dtac                             # DTAC
dtac transfer --tac runs/tac --loss mse --out runs/tl_transformer        # TL transformer
dtac evaluate --preset small --runs runs/tac runs/dtac runs/tl_transformer --out results/eval
dtac train-tac --out runs/tac --iterations 300 --resume                  # continue a run
```

`make run` (`dtac reproduce --profile quick`) trains every policy on the three presets with
three seeds and evaluates all of them on the same episodes; `benchmarks/reproduce_quick.md`
has its wall time on a 2-core CPU. For the paper's scale use
`make_scenario(..., rounds=600)` / `--rounds 600` and more iterations, ideally on a GPU. A trained
DTAC runs on a single UE with `dtac_jax.deploy.make_act("runs/dtac")`."""),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src)
             for kind, src in CELLS]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
    })
    # stable cell ids, so regenerating gives the same file
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    return nb


def execute(nb, cwd: Path = HERE) -> None:
    """Run ``nb`` in place in a fresh kernel of this interpreter (``sys.executable``): a
    ``python3`` kernel spec for it is written to a temporary folder put first on
    ``JUPYTER_PATH``, whatever other kernels the machine has."""
    import os
    import tempfile

    from ipykernel import kernelspec
    from nbclient import NotebookClient
    with tempfile.TemporaryDirectory() as tmp:
        kernelspec.write_kernel_spec(Path(tmp) / "kernels" / "python3")
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join([tmp] + ([old] if old else []))
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(cwd)}}).execute()
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH")
            else:
                os.environ["JUPYTER_PATH"] = old


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--execute", action="store_true", help="also execute it (keeps outputs)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    nb = build()
    if args.execute:
        execute(nb)
    nbformat.write(nb, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
