"""Registry import (P1, P2, P15): customers, contacts and products from one TOML file.

The file describes the whole registry. Import is all-or-nothing: every row is validated
before anything is written; customers and contacts missing from the file are deactivated,
never deleted (their tickets stay).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.errors import RegistryError
from maildesk.store.models import Contact, Customer, Product

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$|^[^@\s<>]+@localhost$")
POLICIES = ("standard", "7x24")
_PRODUCT_KEYS = {"name", "versions"}
_CUSTOMER_KEYS = {"id", "name", "policy", "support_until", "max_contacts", "products", "contacts"}
_CONTACT_KEYS = {"email", "name", "phone", "cloud_space"}


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added {x}" for x in self.added]
        out += [f"changed {x}" for x in self.changed]
        out += [f"deactivated {x}" for x in self.deactivated]
        return out or ["no changes"]

    def summary(self) -> str:
        """The counts, for the last line of an import."""
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.deactivated)} deactivated"
        )


#: Called as rows are applied: (customers done, customers in the file).
ProgressFn = Callable[[int, int], None]


class _Invalid(Exception):
    """One row (or key) is invalid: the rest of that row is not checked, other rows are."""


class Problems:
    """Every invalid row of a file, collected so an operator fixes them in one pass."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @contextlib.contextmanager
    def row(self) -> Iterator[None]:
        """Check one row: its first problem is recorded, and checking goes on after it."""
        try:
            yield
        except _Invalid as exc:
            self.lines.append(str(exc))

    def raise_any(self, source: str) -> None:
        if len(self.lines) == 1:
            raise RegistryError(self.lines[0])
        if self.lines:
            listed = "\n".join(f"  {line}" for line in self.lines)
            raise RegistryError(f"{source}: {len(self.lines)} invalid rows:\n{listed}")


def _row_error(where: str, msg: str) -> _Invalid:
    return _Invalid(f"{where}: {msg}")


def _check_keys(row: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise _row_error(where, "must be a table")
    unknown = sorted(set(row) - allowed)
    if unknown:
        raise _row_error(where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return row


def _text(row: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = row.get(key, "")
    if not isinstance(value, str):
        raise _row_error(where, f"{key} must be a string")
    if required and not value.strip():
        raise _row_error(where, f"{key} is required")
    return value.strip()


def _rows(data: dict[str, Any], key: str, source: str) -> list[Any]:
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise RegistryError(f"{source}: {key} must be an array of tables ([[{key}]])")
    return rows


def parse_registry(text: str, source: str = "<registry>") -> dict[str, Any]:
    """Validate a registry file; returns normalised products and customers, or raises one
    RegistryError naming every invalid row."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"products", "customers"})
    if extra:
        raise RegistryError(f"{source}: unknown section {extra[0]!r} (known: customers, products)")
    problems = Problems()
    products: dict[str, list[str]] = {}
    for i, row in enumerate(_rows(data, "products", source)):
        with problems.row():
            name, versions = _product(row, f"{source}: products[{i}]", products)
            products[name] = versions
    seen = _Seen()
    customers: list[dict[str, Any]] = []
    for i, row in enumerate(_rows(data, "customers", source)):
        with problems.row():
            customers.append(_customer(row, f"{source}: customers[{i}]", products, seen, problems))
    problems.raise_any(source)
    return {"products": products, "customers": customers}


def _product(row: Any, where: str, known: dict[str, list[str]]) -> tuple[str, list[str]]:
    _check_keys(row, _PRODUCT_KEYS, where)
    name = _text(row, "name", where)
    where = f"{where} ({name})"
    versions = row.get("versions", [])
    if (
        not isinstance(versions, list)
        or not versions
        or not all(isinstance(v, str) and v for v in versions)
    ):
        raise _row_error(where, "versions must be a non-empty list of strings, oldest first")
    if name.lower() in {p.lower() for p in known}:
        raise _row_error(where, f"duplicate product {name!r}")
    return name, list(versions)


@dataclass
class _Seen:
    """What earlier rows claimed: ids, addresses and cloud spaces are unique in the file."""

    ids: set[str] = field(default_factory=set)
    emails: dict[str, str] = field(default_factory=dict)
    spaces: dict[str, str] = field(default_factory=dict)


def _customer(
    row: Any, where: str, products: dict[str, list[str]], seen: _Seen, problems: Problems
) -> dict[str, Any]:
    _check_keys(row, _CUSTOMER_KEYS, where)
    cid = _text(row, "id", where)
    where = f"{where} ({cid})"
    if cid in seen.ids:
        raise _row_error(where, f"duplicate customer id {cid!r}")
    seen.ids.add(cid)
    policy = row.get("policy", "standard")
    if policy not in POLICIES:
        raise _row_error(where, f"policy must be one of {', '.join(POLICIES)}")
    until = row.get("support_until")
    if until is not None and not isinstance(until, date):
        raise _row_error(where, "support_until must be a date like 2027-12-31 (no quotes)")
    max_contacts = row.get("max_contacts", 1)
    if not isinstance(max_contacts, int) or isinstance(max_contacts, bool) or max_contacts < 1:
        raise _row_error(where, "max_contacts must be a positive integer")
    cust_products = [
        _customer_product(prow, f"{where} products[{j}]", products)
        for j, prow in enumerate(row.get("products", []))
    ]
    rows = row.get("contacts", [])
    if not isinstance(rows, list):
        raise _row_error(where, "contacts must be a list")
    contacts = []
    for j, crow in enumerate(rows):
        with problems.row():
            contacts.append(_contact(crow, f"{where} contacts[{j}]", cid, seen))
    if len(rows) > max_contacts:
        raise _row_error(where, f"{len(rows)} contacts but max_contacts is {max_contacts} (P2)")
    return {
        "id": cid,
        "name": _text(row, "name", where),
        "policy": policy,
        "support_until": until,
        "max_contacts": max_contacts,
        "products": cust_products,
        "contacts": contacts,
    }


def _customer_product(prow: Any, where: str, products: dict[str, list[str]]) -> dict[str, str]:
    _check_keys(prow, {"name", "version"}, where)
    pname = _text(prow, "name", where)
    if pname not in products:
        raise _row_error(where, f"unknown product {pname!r} (not in [[products]])")
    version = prow.get("version", "")
    if not isinstance(version, str):
        raise _row_error(where, "version must be a string")
    if version and version not in products[pname]:
        raise _row_error(
            where, f"unknown version {version!r} of {pname} ({', '.join(products[pname])})"
        )
    return {"name": pname, "version": version}


def _contact(crow: Any, where: str, cid: str, seen: _Seen) -> dict[str, Any]:
    _check_keys(crow, _CONTACT_KEYS, where)
    email = _text(crow, "email", where).lower()
    where = f"{where} ({email})"
    if not EMAIL.match(email):
        raise _row_error(where, "email is not a valid address")
    if email in seen.emails:
        raise _row_error(where, f"duplicate address (also in {seen.emails[email]})")
    seen.emails[email] = cid
    space = _text(crow, "cloud_space", where, required=False) or None
    if space is not None:
        if space in seen.spaces:
            raise _row_error(
                where,
                f"cloud space {space!r} already has a support contact "
                f"({seen.spaces[space]}); one contact per cloud space (P2)",
            )
        seen.spaces[space] = email
    return {
        "email": email,
        "name": _text(crow, "name", where, required=False),
        "phone": _text(crow, "phone", where, required=False),
        "cloud_space": space,
    }


def _update(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def apply_registry(
    session: Session, reg: dict[str, Any], *, progress: ProgressFn | None = None
) -> ImportReport:
    """Bring the database in line with a validated registry (caller commits or rolls back)."""
    report = ImportReport()
    existing_products = {p.name: p for p in session.scalars(select(Product))}
    for name, versions in reg["products"].items():
        prod = existing_products.get(name)
        if prod is None:
            session.add(Product(name=name, versions=versions))
            report.added.append(f"product {name}")
        elif _update(prod, {"versions": versions}):
            report.changed.append(f"product {name}")
    customers = {c.id: c for c in session.scalars(select(Customer))}
    contacts = {c.email: c for c in session.scalars(select(Contact))}
    wanted_customers = {c["id"] for c in reg["customers"]}
    wanted_contacts = {k["email"] for c in reg["customers"] for k in c["contacts"]}
    # Deactivate first so a cloud space or address can move between rows in one import.
    for cid, cust in customers.items():
        if cid not in wanted_customers and cust.active:
            cust.active = False
            report.deactivated.append(f"customer {cid}")
    for email, contact in contacts.items():
        if email not in wanted_contacts and contact.active:
            contact.active = False
            report.deactivated.append(f"contact {email}")
    session.flush()
    total = len(reg["customers"])
    for done, row in enumerate(reg["customers"], 1):
        if progress is not None:
            progress(done, total)
        _apply_customer(session, row, customers, contacts, report)
    session.flush()
    return report


def _apply_customer(
    session: Session,
    row: dict[str, Any],
    customers: dict[str, Customer],
    contacts: dict[str, Contact],
    report: ImportReport,
) -> None:
    """One customer row and its contacts: added, changed or left as they are."""
    values = {k: row[k] for k in ("name", "policy", "support_until", "max_contacts", "products")}
    values["active"] = True
    cust = customers.get(row["id"])
    if cust is None:
        session.add(Customer(id=row["id"], **values))
        report.added.append(f"customer {row['id']}")
    elif _update(cust, values):
        report.changed.append(f"customer {row['id']}")
    for crow in row["contacts"]:
        cvalues = {
            "name": crow["name"],
            "phone": crow["phone"],
            "cloud_space": crow["cloud_space"],
            "customer_id": row["id"],
            "active": True,
        }
        contact = contacts.get(crow["email"])
        if contact is None:
            session.add(Contact(email=crow["email"], **cvalues))
            report.added.append(f"contact {crow['email']}")
        elif _update(contact, cvalues):
            report.changed.append(f"contact {crow['email']}")


def import_registry_file(
    db: Any, path: str | Path, dry_run: bool = False, *, progress: ProgressFn | None = None
) -> ImportReport:
    """Validate and import a registry file in one transaction (rolled back on dry-run)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{p}: cannot read: {exc.strerror}") from None
    reg = parse_registry(text, str(p))
    with db.transaction() as session:
        report = apply_registry(session, reg, progress=progress)
        if dry_run:
            session.rollback()
    return report
