"""Issue 11: `registry import` names every invalid row at once, and ends with a summary of
what it added, changed and deactivated."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REGISTRY

BROKEN = (
    REGISTRY.replace("max_contacts = 3", "max_contacts = 1")  # acme: 2 contacts
    .replace('policy = "7x24"', 'policy = "24x7"')  # globex: unknown policy
    .replace('{ email = "otto@oldco.example"', '{ email = "otto at oldco"')  # bad address
    .replace('versions = ["1.0", "2.0"]', "versions = []")  # bVentor: no versions
)


def test_registry_import_names_every_invalid_row_and_changes_nothing(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BROKEN, encoding="utf-8")
    code, _, err = cli("registry", "import", str(bad))
    assert code == 65 and "nothing changed" in err and "4 invalid rows" in err
    for where in (
        "products[1] (bVentor): versions must be",
        "customers[0] (acme): 2 contacts but max_contacts is 1",
        "customers[1] (globex): policy must be one of",
        "customers[2] (oldco) contacts[0] (otto at oldco): email is not a valid address",
    ):
        assert where in err, where
    assert "Traceback" not in err
    same = tmp_path / "same.toml"
    same.write_text(REGISTRY, encoding="utf-8")  # what the database holds: unchanged
    assert cli("registry", "import", "--dry-run", str(same))[1].splitlines()[0] == "no changes"


def test_registry_import_ends_with_a_summary(cli, tmp_path: Path) -> None:
    changed = tmp_path / "changed.toml"
    text = REGISTRY.replace('name = "Globex"', 'name = "Globex Corp"')
    text = text[: text.index('[[customers]]\nid = "oldco"')]  # oldco and otto left out
    text += '[[customers]]\nid = "initech"\nname = "Initech"\nmax_contacts = 1\n'
    changed.write_text(text, encoding="utf-8")
    code, out, _ = cli("registry", "import", "--dry-run", str(changed))
    lines = out.splitlines()
    assert code == 0 and lines[-2] == "dry run, 1 added, 1 changed, 2 deactivated"
    assert lines[-1].endswith("(dry run: nothing written)")
    code, out, _ = cli("registry", "import", str(changed))
    lines = out.splitlines()
    assert "added customer initech" in lines and "changed customer globex" in lines
    assert (
        "deactivated customer oldco" in lines and "deactivated contact otto@oldco.example" in lines
    )
    assert lines[-2] == "1 added, 1 changed, 2 deactivated"
    assert cli("registry", "import", str(changed))[1].splitlines()[-2] == (
        "0 added, 0 changed, 0 deactivated"
    )
