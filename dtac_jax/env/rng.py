"""Random draws for the simulator's hot path: two 32-bit words per Threefry hash.

``jax.random`` (with ``jax_threefry_partitionable``, JAX's default since 0.5) spends one
Threefry-2x32 hash per 32-bit word it returns, and ``jax.random.randint`` draws two words per
value. The simulator draws a few words per UE every round, so on the CPU the hashing dominated
the step (measured in ``experiments/bench_sim.py``). :func:`random_bits` keeps both outputs of
every hash, as JAX's non-partitionable generator did: ``threefry_2x32(key, [0 .. n-1])``, the
same hash under the same key, half the work. The words are as
random as ``jax.random.bits``'s (Threefry is a counter-based PRF); they are simply different
words, so streams drawn here differ from ``jax.random``'s for the same key.

Keys may be raw ``uint32[2]`` keys (``jax.random.PRNGKey``) or typed Threefry keys
(``jax.random.key``); a key of any other PRNG implementation falls back to ``jax.random.bits``.

The hash itself is written out here (:func:`threefry_2x32`, bit-identical to
``jax.extend.random.threefry_2x32``, which the tests check): JAX lowers its own Threefry on the
CPU as a rolled loop of five steps, one kernel launch and one pass over the data each, and the
unrolled form fuses into one kernel, about 7x faster there (``experiments/bench_sim.py``).
"""
from __future__ import annotations

import math

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp


def _threefry_data(key):
    """The ``uint32[2]`` data of a Threefry key, or None for another PRNG implementation."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        # key_impl gives the implementation's name (a str on jax 0.10) or a spec object
        if str(jax.random.key_impl(key)) != jex_random.threefry_prng_impl.name:
            return None
        key = jax.random.key_data(key)
    return key if key.shape == (2,) else None


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry_2x32(keypair, count: jax.Array) -> jax.Array:
    """Threefry-2x32 (20 rounds) of ``count`` under ``keypair``, unrolled; uint32, same shape.

    Same output as ``jax.extend.random.threefry_2x32`` for a ``count`` of even size: the two
    halves of the flattened ``count`` are the two words hashed together (JAX also pads an odd
    size; here :func:`random_bits` does).
    """
    k0, k1 = (jnp.asarray(k, jnp.uint32) for k in keypair)
    flat = count.reshape(-1)
    half = flat.shape[0] // 2
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = flat[:half] + ks[0], flat[half:] + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return jnp.concatenate([x0, x1]).reshape(count.shape)


def split(key, num: int = 2) -> jax.Array:
    """``jax.random.split(key, num)``, bit for bit, through the unrolled hash.

    JAX's default (partitionable) split hashes the counter pairs ``(0, i)``; this does the
    same with :func:`threefry_2x32`. Typed keys come back typed; other PRNG implementations,
    or JAX configured non-partitionable, go to ``jax.random.split`` itself.
    """
    data = _threefry_data(key)
    if data is None or not jax.config.jax_threefry_partitionable:
        return jax.random.split(key, num)
    count = jnp.concatenate([jnp.zeros(num, jnp.uint32), jnp.arange(num, dtype=jnp.uint32)])
    words = threefry_2x32((data[0], data[1]), count)
    keys = jnp.stack([words[:num], words[num:]], axis=-1)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(keys, impl=jax.random.key_impl(key))
    return keys


def random_bits(key, shape) -> jax.Array:
    """``uint32[shape]`` uniform random words from one key, one Threefry hash per two words."""
    shape = tuple(int(s) for s in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    data = _threefry_data(key)
    if data is None:
        return jax.random.bits(key, shape, jnp.uint32)
    n = math.prod(shape)
    count = jnp.arange(n + n % 2, dtype=jnp.uint32)  # threefry_2x32 pairs the two halves
    words = threefry_2x32((data[0], data[1]), count)
    return words[:n].reshape(shape)


def uniform_from_bits(words: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Uniform floats in ``[0, 1)`` from random words (``jax.random.uniform``'s construction).

    float32 takes one word per value (``words`` of the output's shape); float64 takes two
    (``words`` of shape ``(2, *out_shape)``, x64 enabled).
    """
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float32:
        mant = (words >> 9) | jnp.uint32(0x3F800000)
        return jax.lax.bitcast_convert_type(mant, jnp.float32) - jnp.float32(1.0)
    if dtype == jnp.float64:
        w = (words[0].astype(jnp.uint64) << 32) | words[1].astype(jnp.uint64)
        mant = (w >> 12) | jnp.uint64(0x3FF0000000000000)
        return jax.lax.bitcast_convert_type(mant, jnp.float64) - 1.0
    raise ValueError(f"uniform_from_bits supports float32 and float64, not {dtype}")


def words_per_value(dtype) -> int:
    """Random words :func:`uniform_from_bits` consumes per value of ``dtype``."""
    return 2 if jnp.dtype(dtype) == jnp.float64 else 1


def uniforms(key, n_rows: int, n: int, dtype=jnp.float32) -> jax.Array:
    """``float[n_rows, n]`` independent uniforms in ``[0, 1)`` from one key and one hash call."""
    w = words_per_value(dtype)
    bits = random_bits(key, (w, n_rows, n) if w > 1 else (n_rows, n))
    return uniform_from_bits(bits, dtype)


def exponential_from_uniform(u: jax.Array) -> jax.Array:
    """``Exp(1)`` draws ``-log1p(-u)`` from uniforms ``u`` in ``[0, 1)``, never exactly 0.

    ``u = 0`` (probability ``2**-23`` per float32 draw) counts as half a grid step, so a
    Rayleigh power gain is never 0: a zero gain would make a link's rate 0 and every time
    that waits on it infinite (it happened about once per 10 million UE-rounds).
    """
    return -jnp.log1p(-jnp.maximum(u, jnp.finfo(u.dtype).eps / 2))


def index_pair_from_word(words: jax.Array, n_hi: int, n_lo: int):
    """Two uniform integers per random word: ``floor(n_hi h / 2**16)`` from its high 16 bits
    ``h`` and ``floor(n_lo l / 2**16)`` from its low 16 bits ``l`` (int32 each).

    Exact for powers of two up to ``2**16``; otherwise each value's probability is off by at
    most ``n / 2**16`` relative (``4.6e-5`` for ``n = 3``; the 65,536 half-words split into
    counts that differ by at most one), far below any sampling error.
    """
    for n in (n_hi, n_lo):
        if not 1 <= n <= 2 ** 16:
            raise ValueError(f"index_pair_from_word draws from 1 to 65536 values, not {n}")
    words = jnp.asarray(words, jnp.uint32)
    hi, lo = words >> jnp.uint32(16), words & jnp.uint32(0xFFFF)
    return (((hi * jnp.uint32(n_hi)) >> jnp.uint32(16)).astype(jnp.int32),
            ((lo * jnp.uint32(n_lo)) >> jnp.uint32(16)).astype(jnp.int32))
