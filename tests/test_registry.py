"""Registry import (SPEC §6, P1, P2, P15): all-or-nothing, idempotent, deactivate not delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.errors import RegistryError
from maildesk.registry import import_registry_file, parse_registry
from maildesk.store.models import Contact, Customer, Product
from tests.helpers import REGISTRY


def _write(tmp_path: Path, text: str, name: str = "reg.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _snapshot(app: App) -> tuple:
    with app.db.transaction() as s:
        return (
            sorted((c.id, c.name, c.active) for c in s.scalars(select(Customer))),
            sorted((c.email, c.customer_id, c.active) for c in s.scalars(select(Contact))),
            sorted((p.name, tuple(p.versions)) for p in s.scalars(select(Product))),
        )


def test_registry_import_adds_everything_then_reimport_is_noop(make_app, tmp_path) -> None:
    app = make_app()
    path = _write(tmp_path, REGISTRY)
    report = import_registry_file(app.db, path)
    assert "customer acme" in report.added and "contact ana@acme.example" in report.added
    again = import_registry_file(app.db, path)
    assert again.lines() == ["no changes"]


def test_registry_changed_file_updates_and_missing_rows_are_deactivated(make_app, tmp_path) -> None:
    app = make_app()
    import_registry_file(app.db, _write(tmp_path, REGISTRY))
    changed = REGISTRY.replace('name = "Globex"', 'name = "Globex Corp"')
    changed = changed[: changed.index('[[customers]]\nid = "oldco"')]
    report = import_registry_file(app.db, _write(tmp_path, changed, "b.toml"))
    assert report.changed == ["customer globex"]
    assert set(report.deactivated) == {"customer oldco", "contact otto@oldco.example"}
    customers, contacts, _ = _snapshot(app)
    assert ("oldco", "Old Co", False) in customers  # kept, not deleted
    assert ("otto@oldco.example", "oldco", False) in contacts
    # re-adding reactivates
    report = import_registry_file(app.db, _write(tmp_path, REGISTRY, "c.toml"))
    assert "customer oldco" in report.changed


def test_registry_dry_run_writes_nothing(make_app, tmp_path) -> None:
    app = make_app()
    report = import_registry_file(app.db, _write(tmp_path, REGISTRY), dry_run=True)
    assert report.added
    assert _snapshot(app) == ([], [], [])


BAD_ROWS = {
    "p2_second_contact_same_cloud_space": (
        '{ email = "luis@acme.example", name = "Luis Gómez", cloud_space = "acme-test" }',
        '{ email = "luis@acme.example", name = "Luis Gómez", cloud_space = "acme-prod" }',
        "one contact per cloud space",
    ),
    "p2_more_contacts_than_max": ("max_contacts = 3", "max_contacts = 1", "max_contacts is 1"),
    "unknown_product": (
        '{ name = "bFiskur", version = "5.0" }',
        '{ name = "bNada", version = "1" }',
        "unknown product 'bNada'",
    ),
    "unknown_version": (
        '{ name = "bFiskur", version = "5.0" }',
        '{ name = "bFiskur", version = "9.9" }',
        "unknown version '9.9'",
    ),
    "duplicate_address": ('"gina@globex.example"', '"ana@acme.example"', "duplicate address"),
    "bad_policy": ('policy = "7x24"', 'policy = "24x7"', "policy must be one of"),
    "unknown_key": (
        'max_contacts = 1\nproducts = [{ name = "bFiskur", version = "5.0" }]',
        'max_contacts = 1\ncolour = "red"\nproducts = []',
        "unknown key 'colour'",
    ),
    "bad_date": ("support_until = 2020-01-31", 'support_until = "soon"', "support_until"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_p2_registry_invalid_row_aborts_whole_import_naming_row(
    make_app, tmp_path, case: str
) -> None:
    app = make_app()
    import_registry_file(app.db, _write(tmp_path, REGISTRY))
    before = _snapshot(app)
    old, new, message = BAD_ROWS[case]
    assert old in REGISTRY
    bad = REGISTRY.replace(old, new, 1).replace('name = "Globex"', 'name = "Changed"')
    with pytest.raises(RegistryError) as err:
        import_registry_file(app.db, _write(tmp_path, bad, "bad.toml"))
    assert message in str(err.value)
    assert "customers[" in str(err.value) or "products[" in str(err.value)
    assert _snapshot(app) == before  # all or nothing


def test_p15_supported_versions_are_the_two_latest(make_app, tmp_path) -> None:
    app = make_app()
    import_registry_file(app.db, _write(tmp_path, REGISTRY))
    with app.db.transaction() as s:
        assert s.get(Product, "bFiskur").supported_versions == ["5.1", "5.2"]


def test_registry_not_toml_is_a_clear_error() -> None:
    with pytest.raises(RegistryError, match="not valid TOML"):
        parse_registry("[[customers]\nid=", "x.toml")


def test_p2_cloud_space_moving_between_contacts_in_one_import(make_app, tmp_path) -> None:
    app = make_app()
    import_registry_file(app.db, _write(tmp_path, REGISTRY))
    moved = REGISTRY.replace('cloud_space = "acme-prod" }', 'cloud_space = "acme-old" }').replace(
        'cloud_space = "acme-test"', 'cloud_space = "acme-prod"'
    )
    report = import_registry_file(app.db, _write(tmp_path, moved, "m.toml"))
    assert set(report.changed) == {"contact ana@acme.example", "contact luis@acme.example"}
