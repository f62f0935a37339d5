"""Generic learners of the JAX RL ecosystem on the simulator: a PureJaxRL-style PPO on the gymnax
adapter and an IPPO-style learner on the JaxMARL adapter, each with the adapters' raw and
``log1p`` reward and observation transforms and with the discount 0.99 or 0 (``-myopic``),
against all-local, Random and Search.

Each variant trains ``--seeds`` seeds at once (``vmap`` over keys) for ``--steps`` environment
rounds on the preset; every seed's final policy (deterministic: the PPO's mean action, IPPO's
most probable available action) is evaluated on the same ``--eval-episodes`` x 50-round
episodes (UE counts drawn as in training) as the references. Printed and written (``--out``):
weighted reward (mean, spread and per seed), cost / Search's, cost / all-local's, training wall
time (compilation included).

Usage::

    python experiments/bench_ecosystem.py [--preset small] [--steps 1000000] [--seeds 3]
        [--variants ppo-log1p,ppo-raw,ippo-log1p,ippo-raw] [--out benchmarks/ecosystem.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import choices, save_report, spread, table

#: name -> (learner, transform, discount): the learners' own discount (0.99), and 0, the one-round
#: credit TAC's default uses (a round's cost depends on that round's decisions, bar the caches)
VARIANTS = {"ppo-log1p": ("ppo", "log1p", 0.99), "ppo-raw": ("ppo", "raw", 0.99),
            "ppo-log1p-myopic": ("ppo", "log1p", 0.0),
            "ippo-log1p": ("ippo", "log1p", 0.99), "ippo-raw": ("ippo", "raw", 0.99),
            "ippo-log1p-myopic": ("ippo", "log1p", 0.0)}
REFERENCES = ("all_local", "random", "random_floor", "search")
TITLE = "Ecosystem learners on the simulator (experiments/bench_ecosystem.py)"
LEARNERS = {"ppo": "the PureJaxRL-style PPO (gymnax adapter)",
            "ippo": "the IPPO-style learner (JaxMARL adapter)"}


def render(report: dict) -> str:
    """The Markdown of a report: the table, then each learner's verdict against the target
    (below all-local's cost on every seed), with its best variant and every variant tried."""
    from dtac_jax.algos import registry
    refs, results = report["references"], report["variants"]
    search, local = -refs["search"], -refs["all_local"]
    rows = [[v, spread(r["weighted_reward"]), f"{-np.mean(r['weighted_reward']) / search:.2f}",
             f"{-np.mean(r['weighted_reward']) / local:.2f}",
             f"{sum(-w < local for w in r['weighted_reward'])}/{len(r['weighted_reward'])}",
             f"{r['wall_s']:.0f}"] for v, r in results.items()]
    rows += [[registry.get(n).label, f"{w:.2f}", f"{-w / search:.2f}", f"{-w / local:.2f}",
              "", ""] for n, w in refs.items()]
    verdicts = []
    for kind, label in LEARNERS.items():
        mine = {v: r for v, r in results.items() if r["learner"] == kind}
        if not mine:
            continue
        ratio = {v: -np.mean(r["weighted_reward"]) / local for v, r in mine.items()}
        best = min(ratio, key=ratio.get)
        every = all(-w < local for w in mine[best]["weighted_reward"])
        tried = ", ".join(f"`{v}` {ratio[v]:.2f}x" for v in mine)
        verdicts.append(
            f"- **{label}: {'target met' if every else 'target missed'}.** Best variant "
            f"`{best}`: {ratio[best]:.2f}x all-local's cost"
            + (", below it on every seed." if every else
               f", {'above' if ratio[best] >= 1 else 'below on average but not on every seed'}"
               f" (missed by {100 * (ratio[best] - 1):+.0f}% of all-local's cost).")
            + f" Tried (cost / all-local's): {tried}.")
    return "\n\n".join([
        f"{report['date']}, {report.get('backend', 'cpu')}, preset `{report['preset']}`, "
        f"{report['steps']:.3g} environment rounds per seed, {report['seeds']} seeds; every "
        f"policy evaluated on the same {report['eval_episodes']} x {report.get('rounds', 50)}"
        "-round episodes (UE counts drawn as in training).",
        table(["policy", "weighted reward (mean ± std, per seed)", "cost / Search's",
               "cost / all-local's", "seeds below all-local's cost", "training wall (s)"], rows,
              right=(2, 3, 5)),
        "Target (issue: both learners below all-local's cost within 1e6 rounds):\n\n"
        + "\n".join(verdicts)])


def learner(kind: str, transform: str, scn, steps: int, tiny: bool, gamma: float = 0.99):
    """``(train(key) -> (state, metrics), make_policy(params) -> policy, params_of(state))``."""
    import jax.numpy as jnp

    if kind == "ppo":
        from dtac_jax.compat.gymnax import CloudEdgeGymnax, decode
        from dtac_jax.compat.ppo import ActorCritic, PureJaxRLConfig, make_train
        # PureJaxRL's convention: actions in [-1, 1] (the Gaussian's initial mean, 0, is then
        # the middle of every range rather than a = b = A_MIN)
        env = CloudEdgeGymnax(scn, action_range=(-1.0, 1.0), reward=transform, obs=transform)
        p = env.default_params
        cfg = (PureJaxRLConfig(num_envs=4, num_steps=8, total_timesteps=max(steps, 32),
                         num_minibatches=2, hidden=16, gamma=gamma) if tiny else
               PureJaxRLConfig(num_envs=64, num_steps=32, total_timesteps=steps, update_epochs=4,
                         num_minibatches=8, lr=3e-4, hidden=64, gamma=gamma))
        net = ActorCritic(env.action_space(p).shape[0], cfg.hidden)
        low, high = env.action_range

        def make_policy(params):
            def policy(key, obs, state, env_params):
                pi, _ = net.apply(params, env.flat_obs(obs))
                return decode(jnp.clip(pi.mean(), low, high), env_params, low, high)
            return policy

        return make_train(env, p, cfg), make_policy, lambda ts: ts.params, cfg
    from dtac_jax.compat.ippo import IPPOConfig, greedy_actions, make_train
    from dtac_jax.compat.jaxmarl import CloudEdgeMARL
    env = CloudEdgeMARL(scn, reward=transform, obs=transform)
    cfg = (IPPOConfig(num_envs=4, num_steps=8, total_timesteps=max(steps, 32),
                      num_minibatches=2, hidden=16, gamma=gamma) if tiny else
           IPPOConfig(num_envs=16, num_steps=64, total_timesteps=steps, gamma=gamma))

    def make_policy(params):
        def policy(key, obs, state, env_params):
            return env.decode(greedy_actions(params, env, env.agent_obs(obs), state))
        return policy

    return make_train(env, cfg), make_policy, lambda ts: ts.params, cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench_ecosystem.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=("small", "medium", "large"))
    ap.add_argument("--steps", type=int, default=1_000_000, help="environment rounds per seed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default="benchmarks/ecosystem.json")
    ap.add_argument("--tiny", action="store_true", help="tiny learners and rounds (a check)")
    ap.add_argument("--render", metavar="JSON", default=None,
                    help="only rewrite JSON's Markdown twin from it (no training)")
    args = ap.parse_args(argv)
    if args.render:
        import json
        report = json.loads(Path(args.render).read_text())
        save_report(report, render(report), args.render, TITLE)
        return 0
    variants = choices("bench_ecosystem.py", "variant", args.variants, VARIANTS)
    if args.steps < 1 or args.seeds < 1 or args.eval_episodes < 1:
        print("bench_ecosystem.py: error: --steps, --seeds and --eval-episodes must be >= 1",
              file=sys.stderr)
        return 2

    import jax

    from dtac_jax.algos import registry
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate_grid

    scn = make_scenario(args.preset, **({"rounds": 5} if args.tiny else {}))
    params = make_params(scn)
    key = jax.random.PRNGKey(2024)
    refs = {}
    for name in REFERENCES:
        algo = registry.get(name)
        cfg = None
        if name == "search":   # the reproduction's Search (SearchConfig's defaults)
            cfg = algo.config(**(dict(candidates=16, iterations=2) if args.tiny else {}))
        pol = algo.policy(None, cfg, params, {})
        res = evaluate_grid(lambda _, pol=pol: pol, None, params, key, args.eval_episodes)
        refs[name] = float(res[0][0].weighted_reward)
        print(f"{algo.label:<22} weighted reward {refs[name]:12.3f}", flush=True)
    results = {}
    for v in variants:
        kind, transform, gamma = VARIANTS[v]
        train, make_policy, params_of, cfg = learner(kind, transform, scn, args.steps,
                                                     args.tiny, gamma)
        t = time.time()
        state, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0),
                                                                   args.seeds))
        jax.block_until_ready(metrics)
        wall = time.time() - t
        res = evaluate_grid(make_policy, params_of(state), params, key, args.eval_episodes)
        wr = [float(r[0].weighted_reward) for r in res]
        first, last = (float(np.mean(np.asarray(metrics["reward"])[:, i])) for i in (0, -1))
        results[v] = dict(learner=kind, transform=transform, gamma=gamma, weighted_reward=wr,
                          wall_s=wall,
                          train_reward_first=first, train_reward_last=last,
                          config=cfg.to_dict())
        print(f"{v:<22} weighted reward {np.mean(wr):12.3f} ({wall:.0f} s; training reward "
              f"{first:.3g} -> {last:.3g})", flush=True)
    report = dict(date=str(dt.date.today()), backend=jax.default_backend(), preset=args.preset,
                  steps=args.steps, seeds=args.seeds, rounds=scn.rounds,
                  eval_episodes=args.eval_episodes, references=refs, variants=results)
    save_report(report, render(report), args.out, TITLE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
