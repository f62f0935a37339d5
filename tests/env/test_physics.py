"""round_costs against the independent loop reference, and physical invariants."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cases import random_case
from dtac_jax.env import physics
from dtac_jax.env.physics import round_costs
from reference_numpy import lower_bounds_ref, round_costs_ref


_jitted = jax.jit(lambda kw: round_costs(**kw))


def _jax_costs(case, jit=True):
    fn = (lambda **kw: _jitted(kw)) if jit else round_costs
    return [np.asarray(v) for v in fn(**{k: jnp.asarray(v) for k, v in case.items()})]


def test_matches_loop_reference_float64_on_hundreds_of_cases():
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for _ in range(300):
            case = random_case(rng)
            t, e, tr = _jax_costs(case)
            assert t.dtype == np.float64
            t_ref, e_ref, tr_ref = round_costs_ref(**case)
            np.testing.assert_allclose(t, t_ref, rtol=1e-5, atol=0)
            np.testing.assert_allclose(e, e_ref, rtol=1e-5, atol=0)
            np.testing.assert_allclose(tr, tr_ref, rtol=1e-5)


def test_float32_default_close_to_reference():
    rng = np.random.default_rng(1)
    for _ in range(50):
        case = random_case(rng)
        t, e, tr = _jax_costs(case)
        assert t.dtype == np.float32
        t_ref, e_ref, tr_ref = round_costs_ref(**case)
        np.testing.assert_allclose(t, t_ref, rtol=2e-3)
        np.testing.assert_allclose(e, e_ref, rtol=2e-3)


def test_lower_bounds_match_reference():
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        for _ in range(50):
            c = random_case(rng)
            kw = {k: c[k] for k in ("s_in", "cycles", "s_out", "cached", "g_up", "g_back", "f_ue",
                                    "f_edge", "f_cloud", "p_ue", "p_edge", "p_cloud",
                                    "bandwidth", "noise")}
            got = np.asarray(physics.lower_bounds(**{k: jnp.asarray(v) for k, v in kw.items()}))
            np.testing.assert_allclose(got, lower_bounds_ref(**kw), rtol=1e-9)


def test_padding_never_changes_real_ues(rng):
    with jax.enable_x64(True):
        for _ in range(30):
            case = random_case(rng, pad=False)
            t, e, tr = _jax_costs(case)
            extra = random_case(rng, n=7, pad=False)
            padded = {k: (np.concatenate([case[k], extra[k]]) if np.ndim(case[k]) else case[k])
                      for k in case}
            padded["mask"] = np.concatenate([case["mask"], np.zeros(7, bool)])
            tp, ep, trp = _jax_costs(padded)
            np.testing.assert_allclose(tp[: len(t)], t, rtol=1e-12)
            np.testing.assert_allclose(ep[: len(t)], e, rtol=1e-12)
            assert (tp[len(t):] == 0).all() and (ep[len(t):] == 0).all()
            np.testing.assert_allclose(trp, tr, rtol=1e-12)


def test_permutation_equivariance(rng):
    with jax.enable_x64(True):
        for _ in range(30):
            case = random_case(rng)
            perm = rng.permutation(len(case["x"]))
            pcase = {k: (v[perm] if np.ndim(v) else v) for k, v in case.items()}
            t, e, tr = _jax_costs(case)
            tp, ep, trp = _jax_costs(pcase)
            np.testing.assert_allclose(tp, t[perm], rtol=1e-12)
            np.testing.assert_allclose(ep, e[perm], rtol=1e-12)
            np.testing.assert_allclose(trp, tr, rtol=1e-12)


def test_cached_edge_task_has_zero_compute_time(rng):
    with jax.enable_x64(True):
        case = random_case(rng, n=1, pad=False)
        case.update(x=np.array([1], np.int32), cached=np.array([True]))
        t, e, _ = _jax_costs(case)
        lb = lower_bounds_ref(**{k: case[k] for k in ("s_in", "cycles", "s_out", "cached", "g_up",
                                                      "g_back", "f_ue", "f_edge", "f_cloud", "p_ue",
                                                      "p_edge", "p_cloud", "bandwidth", "noise")})
        assert lb[0, 2] == 0.0
        # alone at its edge with a = 1: exactly the communication time T21(1)
        case["a"] = np.array([1.0])
        t, _, _ = _jax_costs(case)
        np.testing.assert_allclose(t[0], lb[0, 3], rtol=1e-12)


def _two_ue_case(rng, edge1, ch1, x1, mask1=True):
    case = random_case(rng, n=2, pad=False)
    case.update(x=np.array([1, x1], np.int32), edge=np.array([0, edge1], np.int32),
                channel=np.array([0, ch1], np.int32), mask=np.array([True, mask1]),
                cached=np.array([False, False]))
    return case


def test_interference_only_from_same_edge_same_channel_offloaders(rng):
    with jax.enable_x64(True):
        base = _two_ue_case(rng, edge1=0, ch1=1, x1=1)    # other channel
        alone = dict(base, mask=np.array([True, False]))
        e_alone = _jax_costs(alone)[1][0]
        for edge1, ch1, x1, mask1, interferes in [
                (0, 1, 1, True, False), (1, 0, 1, True, False), (0, 0, 0, True, False),
                (0, 0, 1, False, False), (0, 0, 1, True, True), (0, 0, 2, True, True)]:
            case = dict(base, x=np.array([1, x1], np.int32), edge=np.array([0, edge1], np.int32),
                        channel=np.array([0, ch1], np.int32), mask=np.array([True, mask1]))
            e0 = _jax_costs(case)[1][0]   # UE 0's energy = a p s_in / R_up rises with interference
            if interferes:
                assert e0 > e_alone * (1 + 1e-9)
            else:
                np.testing.assert_allclose(e0, e_alone, rtol=1e-12)


def test_t_round_is_max_and_none_costs_nothing(rng):
    for _ in range(20):
        case = random_case(rng)
        t, e, tr = _jax_costs(case)
        assert tr == pytest.approx(t[case["mask"]].max(), rel=1e-6)
    case = random_case(rng, n=5)
    case["mask"] = np.zeros(5, bool)
    t, e, tr = _jax_costs(case)
    assert (t == 0).all() and (e == 0).all() and tr == 0


def test_queues_add_up(rng):
    """Two edge UEs of one server on different channels wait for each other (q11 and q2)."""
    with jax.enable_x64(True):
        case = _two_ue_case(rng, edge1=0, ch1=1, x1=1)
        t, _, _ = _jax_costs(case)
        alone0 = _jax_costs(dict(case, mask=np.array([True, False])))[0][0]
        alone1 = _jax_costs(dict(case, mask=np.array([False, True])))[0][1]
        np.testing.assert_allclose(t, [alone0 + alone1] * 2, rtol=1e-12)
        # on different servers they do not wait for each other
        case2 = dict(case, edge=np.array([0, 1], np.int32), channel=np.array([0, 0], np.int32))
        t2, _, _ = _jax_costs(case2)
        np.testing.assert_allclose(t2, [alone0, alone1], rtol=1e-12)


_VMAPPED = jax.jit(jax.vmap(lambda kw: round_costs(**kw)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_vmap_equals_loop_and_grads_finite(seed):
    rng = np.random.default_rng(seed)
    cases = [random_case(rng, n=12) for _ in range(4)]
    stacked = {k: jnp.asarray(np.stack([c[k] for c in cases])) for k in cases[0]}
    vm = _VMAPPED(stacked)   # scalars batched too
    for i, c in enumerate(cases):
        single = _jax_costs(c, jit=False)
        for got, want in zip(vm, single):
            np.testing.assert_allclose(np.asarray(got)[i], want, rtol=1e-5)
    # the energy is differentiable in the continuous ratios
    c = {k: jnp.asarray(v) for k, v in cases[0].items()}
    g = jax.grad(lambda a, b: jnp.sum(round_costs(**dict(c, a=a, b=b))[1]),
                 argnums=(0, 1))(c["a"], c["b"])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in g)


def test_optimal_local_frequency_is_optimal(rng):
    """Polished b beats any uniform rescaling of it (the objective is convex in T)."""
    with jax.enable_x64(True):
        case = random_case(rng, n=10, pad=False)
        case["x"] = np.array([0] * 4 + [1] * 3 + [2] * 3, np.int32)
        kw = {k: jnp.asarray(v) for k, v in case.items() if k not in ("x", "channel", "a", "b")}
        x, ch, a = jnp.asarray(case["x"]), jnp.asarray(case["channel"]), jnp.asarray(case["a"])
        ones = jnp.ones(10)
        t_ue, _, _ = round_costs(x=x, channel=ch, a=a, b=ones, **kw)
        t_others = jnp.max(jnp.where(x == 0, 0.0, t_ue))
        b = physics.optimal_local_frequency(x=x, mask=kw["mask"], work=kw["s_in"] * kw["cycles"],
                                            f_ue=kw["f_ue"], t_others=t_others,
                                            kappa=kw["kappa"], w_time=1.0, w_energy=1.0)

        def obj(bb):
            _, e, tr = round_costs(x=x, channel=ch, a=a, b=bb, **kw)
            return float(physics.objective(tr, e, 1.0, 1.0))
        best = obj(b)
        for scale in (0.5, 0.8, 0.95, 1.05, 1.3, 2.0):
            assert best <= obj(jnp.clip(b * scale, 1e-6, 1.0)) + 1e-9
