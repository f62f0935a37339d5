"""Scenario presets, overrides and the documented errors on bad configuration."""
import dataclasses
import json

import pytest

from dtac_jax.env import PRESETS, Scenario, make_params, make_scenario


def test_presets_match_spec_table():
    spec = {"small": (5, 200, 300, 4, 6), "medium": (7, 300, 400, 3, 5),
            "large": (7, 600, 800, 3, 5)}
    for name, (k, re, rc, lo, hi) in spec.items():
        s = make_scenario(name)
        assert (s.n_edges, s.r_edge, s.r_cloud, s.ue_min, s.ue_max) == (k, re, rc, lo, hi)
        assert s.n_max == k * hi and s.l_channels == 4 and s.n_tasks == 200
    assert set(PRESETS) == {"small", "medium", "large"}


def test_units_converted_once():
    s = make_scenario("small")
    assert s.p_ue == pytest.approx(0.2455, rel=1e-3)       # 23.9 dBm
    assert s.p_edge == pytest.approx(1.0) and s.p_cloud == pytest.approx(10.0)
    assert s.bandwidth == pytest.approx(20e6)
    assert s.noise == pytest.approx(1e-3 * 10 ** ((-174 + 73.0103) / 10), rel=1e-6)
    assert make_scenario("small", l_channels=6).bandwidth == pytest.approx(80e6 / 6)


def test_override_and_json_round_trip():
    s = make_scenario("medium", l_channels=6, w_energy=0.5)
    assert s.l_channels == 6 and s.w_energy == 0.5 and s.name == "medium"
    assert Scenario.from_dict(json.loads(s.to_json())) == s
    with pytest.raises(dataclasses.FrozenInstanceError, match="l_channels"):
        s.l_channels = 3  # frozen


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset="huge"), "unknown preset 'huge'"),
    (dict(preset="small", channels=3), "unknown scenario field"),
    (dict(preset="small", r_edge=-5.0), "r_edge must be a positive"),
    (dict(preset="small", r_edge=0.0), "r_edge must be a positive"),
    (dict(preset="small", ue_min=7), r"ue_min \(7\) > ue_max \(6\)"),
    (dict(preset="small", l_channels=0), "l_channels must be >= 1"),
    (dict(preset="small", f_ue=(1e9, 2e9)), "f_ue has 2 entries"),
    (dict(preset="small", kappa=float("nan")), "kappa must be a positive"),
    (dict(preset="small", n_edges=2.5), "n_edges must be an integer"),
    (dict(preset="small", w_energy=-1.0), "w_energy must be a non-negative"),
])
def test_bad_configuration_raises_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        make_scenario(**kwargs)
    assert "\n" not in str(e.value)


def test_params_dtypes_and_zipf():
    import numpy as np
    p = make_params(make_scenario("small"))
    assert p.s_in.dtype == np.float32 and p.pop_logits.shape == (6, 200)
    probs = np.exp(np.asarray(p.pop_logits, np.float64))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    top = np.sort(probs[0])[::-1]
    np.testing.assert_allclose(top[0] / top[1], 2 ** 0.8, rtol=1e-4)   # Zipf ratio of ranks 1, 2
    assert not np.array_equal(np.argmax(probs, 1), np.full(6, np.argmax(probs[0])))
