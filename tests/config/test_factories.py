"""Scripts build algorithm configs through their owners' factories (``quick()``, ``paper()``,
``recipe()``, the registry), never by calling a config class or a shared sub-config directly:
a direct call takes the class's field defaults, which the owners' factories may not use."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*ROOT.glob("experiments/*.py"), ROOT / "notebooks" / "make_quickstart.py"])
#: configs that an owner's factory builds (the algorithms' and their nested settings)
OWNED = {"TACConfig", "TransferConfig", "HAPPOConfig", "CollectConfig", "PPOConfig",
         "NetConfig", "EnvConfig"}


def direct_calls(source: str) -> list[tuple[int, str]]:
    """``(line, class)`` of each call ``Cls(...)`` or ``module.Cls(...)`` of an OWNED class in
    ``source``, a string of Python (code in a string, such as a notebook cell, included)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                f, ast.Attribute) else None
            if name in OWNED:
                out.append((node.lineno, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                "\n" in node.value):
            try:                                  # code held in a string (notebook cells)
                out += direct_calls(node.value)
            except SyntaxError:
                pass
    return out


def test_the_check_finds_a_direct_call():
    assert direct_calls("cfg = TACConfig(iterations=3)\nc = replay.CollectConfig(envs=2)") == [
        (1, "TACConfig"), (2, "CollectConfig")]
    assert direct_calls('CELL = """from x import y\\nnet = NetConfig()\\n"""') == [
        (2, "NetConfig")]
    assert direct_calls("cfg = TACConfig.quick(collect=dict(envs=2))") == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_build_configs_through_the_owners_factories(script):
    assert direct_calls(script.read_text()) == [], (
        f"{script.relative_to(ROOT)} calls a config class directly: use its owner's quick(), "
        "paper(), tac.recipe() or registry.get(name).quick()")
