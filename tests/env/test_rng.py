"""The simulator's random draws: the unrolled Threefry against JAX's, and the distributions."""
import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.algos.heuristics import random_policy
from dtac_jax.env import env as E
from dtac_jax.env import make_params, make_scenario, rng
from dtac_jax.env.generators import ZipfArrivals


def _max_z(counts, probs):
    """Largest |z| of observed category counts against expected probabilities."""
    n = counts.sum()
    return float(np.max(np.abs(counts - n * probs) / np.sqrt(n * probs * (1 - probs))))


@pytest.mark.parametrize("n", [2, 8, 120, 1026])
def test_threefry_is_bit_identical_to_jax(n):
    for seed in (0, 7, 2**31 + 5):
        key = jax.random.PRNGKey(seed)
        count = jnp.arange(n, dtype=jnp.uint32) * jnp.uint32(2654435761)  # scattered counters
        ours = jax.jit(rng.threefry_2x32)((key[0], key[1]), count)
        np.testing.assert_array_equal(np.asarray(ours),
                                      np.asarray(jex_random.threefry_2x32(key, count)))


def test_split_is_bit_identical_to_jax_split():
    for num in (1, 2, 3, 64):
        key = jax.random.PRNGKey(num)
        np.testing.assert_array_equal(np.asarray(rng.split(key, num)),
                                      np.asarray(jax.random.split(key, num)))
        typed = jax.random.key(num)
        out = jax.jit(lambda k, num=num: rng.split(k, num))(typed)
        assert jnp.issubdtype(out.dtype, jax.dtypes.prng_key)
        np.testing.assert_array_equal(np.asarray(jax.random.key_data(out)),
                                      np.asarray(jax.random.key_data(jax.random.split(typed, num))))
    keys = jax.vmap(lambda k: rng.split(k, 3))(jax.random.split(jax.random.PRNGKey(1), 5))
    np.testing.assert_array_equal(
        np.asarray(keys),
        np.asarray(jax.vmap(lambda k: jax.random.split(k, 3))(
            jax.random.split(jax.random.PRNGKey(1), 5))))


def test_random_bits_use_both_words_of_each_hash_and_other_impls_fall_back():
    key = jax.random.PRNGKey(3)
    words = np.asarray(rng.random_bits(key, (5,)))  # odd length: padded to 6 counters
    full = np.asarray(jex_random.threefry_2x32(key, jnp.arange(6, dtype=jnp.uint32)))
    np.testing.assert_array_equal(words, full[:5])
    typed = jax.random.key(3)  # a typed Threefry key takes the same (fast) path as its data
    np.testing.assert_array_equal(np.asarray(rng.random_bits(typed, (5,))), words)
    rbg = jax.random.key(0, impl="rbg")
    assert rng.random_bits(rbg, (4, 3)).shape == (4, 3)  # jax.random.bits path


def test_uniforms_are_uniform_in_unit_interval():
    u = np.asarray(rng.uniforms(jax.random.PRNGKey(0), 4, 50_000))
    assert u.shape == (4, 50_000) and u.min() >= 0.0 and u.max() < 1.0
    counts = np.stack([np.histogram(row, bins=20, range=(0, 1))[0] for row in u])
    for row in counts:  # each row uniform on its own
        assert _max_z(row, np.full(20, 1 / 20)) < 5.5
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.03  # rows independent
    with jax.enable_x64(True):
        u64 = rng.uniforms(jax.random.PRNGKey(0), 2, 1000, jnp.float64)
        assert u64.dtype == jnp.float64 and 0 <= float(u64.min()) and float(u64.max()) < 1
        assert len(np.unique(np.asarray(u64))) == 2000


def test_exponential_is_never_zero():
    for dtype in (jnp.float32,):
        fade = rng.exponential_from_uniform(jnp.asarray([0.0, 0.5, 1 - 2**-23], dtype))
        assert float(fade[0]) > 0 and np.isfinite(np.asarray(fade)).all()
        np.testing.assert_allclose(float(fade[1]), np.log(2), rtol=1e-6)


def test_task_draws_follow_each_types_zipf_law():
    p = make_params(make_scenario("small"))
    u = rng.uniforms(jax.random.PRNGKey(4), 1, 400_000)[0]
    for ue_type in (0, 5):
        types = jnp.full(u.shape, ue_type, jnp.int32)
        tasks = np.asarray(ZipfArrivals()(None, u, types >= 0, types, p))
        probs = np.exp(np.asarray(p.pop_logits[ue_type], np.float64))
        assert _max_z(np.bincount(tasks, minlength=p.n_tasks), probs) < 5.5
    # the two types rank the tasks differently (their own popularity orders)
    assert int(np.argmax(p.pop_logits[0])) != int(np.argmax(p.pop_logits[5]))


def test_fading_and_random_policy_distributions():
    p = make_params(make_scenario("small"))
    keys = jax.random.split(jax.random.PRNGKey(5), 4000)
    obs, st = jax.jit(jax.vmap(E.reset, in_axes=(0, None)))(keys, p)
    fade = np.asarray(st.g_up / st.path_gain)  # |g|^2 ~ Exp(1)
    assert abs(fade.mean() - 1) < 0.01 and abs(fade.var() - 1) < 0.04
    act = jax.jit(jax.vmap(random_policy, in_axes=(0, 0, 0, None)))(keys, obs, st, p)
    x, ch = np.asarray(act.x).reshape(-1), np.asarray(act.channel).reshape(-1)
    assert _max_z(np.bincount(x, minlength=3), np.full(3, 1 / 3)) < 5.5
    assert _max_z(np.bincount(ch, minlength=p.l_channels), np.full(4, 1 / 4)) < 5.5
    for v in (np.asarray(act.a), np.asarray(act.b)):
        assert v.min() > 0 and v.max() <= 1 and abs(v.mean() - 0.5) < 0.005


def test_index_pair_from_word_splits_every_half_word_evenly():
    half = np.arange(2 ** 16, dtype=np.uint32)
    for n_hi, n_lo in ((3, 4), (7, 1), (2 ** 16, 5)):
        # every high half with a fixed low half, then every low half with a fixed high half
        hi, _ = rng.index_pair_from_word(jnp.asarray((half << 16) | 123), n_hi, n_lo)
        _, lo = rng.index_pair_from_word(jnp.asarray((456 << 16) | half), n_hi, n_lo)
        for idx, n in ((np.asarray(hi), n_hi), (np.asarray(lo), n_lo)):
            counts = np.bincount(idx, minlength=n)
            assert len(counts) == n and counts.max() - counts.min() <= 1  # even split
            assert (np.diff(idx.astype(np.int64)) >= 0).all()  # monotone: floor(n h / 2^16)
    with pytest.raises(ValueError, match="65536"):
        rng.index_pair_from_word(jnp.zeros(3, jnp.uint32), 0, 4)
