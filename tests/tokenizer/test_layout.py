"""OUT/'s layout has one owner and the package's modules import each other without a circle."""
import ast
from pathlib import Path

import pytest

from tokenizer.manifest import SPLITS, shard_path
from tokenizer.shards import open_shard, write_split_shard

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    """The tokenizer modules a file imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tokenizer."):
            found.add(node.module.removeprefix("tokenizer."))
    return found


def test_tokenizer_modules_import_each_other_without_a_circle():
    graph = {p.stem: imports_of(p) for p in (ROOT / "tokenizer").glob("*.py") if p.stem != "__init__"}
    assert graph["manifest"] == set()   # the layout and the manifest depend on nothing else here
    done, visiting = set(), []

    def visit(module):
        assert module not in visiting, f"import circle: {' -> '.join(visiting + [module])}"
        if module not in done:
            visiting.append(module)
            for dep in graph[module]:
                visit(dep)
            visiting.pop()
            done.add(module)
    for module in graph:
        visit(module)


def test_the_shard_path_is_spelled_in_one_place_only():
    spelled = [str(p.relative_to(ROOT)) for folder in ("pipeline", "tokenizer") for p in (ROOT / folder).rglob("*.py")
               if '"tokens/' in p.read_text() or "f\"tokens/" in p.read_text()]
    assert spelled == ["tokenizer/manifest.py"]
    assert [shard_path(s, 3) for s in SPLITS] == ["tokens/train/00003.arrow", "tokens/val/00003.arrow"]
    with pytest.raises(ValueError, match="split"):
        shard_path("test", 0)


def test_write_split_shard_returns_the_manifest_entry(tmp_path):
    entry = write_split_shard(tmp_path, "val", 2, ["a", "b"], [[5, 1], [7, 8, 1]], "uint16", eos_id=1)
    assert entry == {"split": "val", "path": "tokens/val/00002.arrow", "num_docs": 2, "num_tokens": 5}
    assert open_shard(tmp_path / entry["path"], dtype="uint16", eos_id=1, num_docs=2).ids == ["a", "b"]
