"""Registry import (P1, P2, P15): customers, contacts and products from one TOML file.

The file describes the whole registry. Import is all-or-nothing: every row is validated
before anything is written; customers and contacts missing from the file are deactivated,
never deleted (their tickets stay).
"""

from __future__ import annotations

import re
import tomllib
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


def _row_error(where: str, msg: str) -> RegistryError:
    return RegistryError(f"{where}: {msg}")


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


def parse_registry(text: str, source: str = "<registry>") -> dict[str, Any]:
    """Validate a registry file; returns normalised products and customers or raises."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"products", "customers"})
    if extra:
        raise RegistryError(f"{source}: unknown section {extra[0]!r} (known: customers, products)")
    products: dict[str, list[str]] = {}
    for i, row in enumerate(data.get("products", [])):
        where = f"{source}: products[{i}]"
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
        if name.lower() in {p.lower() for p in products}:
            raise _row_error(where, f"duplicate product {name!r}")
        products[name] = list(versions)
    customers: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    seen_emails: dict[str, str] = {}
    seen_spaces: dict[str, str] = {}
    for i, row in enumerate(data.get("customers", [])):
        where = f"{source}: customers[{i}]"
        _check_keys(row, _CUSTOMER_KEYS, where)
        cid = _text(row, "id", where)
        where = f"{where} ({cid})"
        if cid in seen_ids:
            raise _row_error(where, f"duplicate customer id {cid!r}")
        seen_ids.add(cid)
        policy = row.get("policy", "standard")
        if policy not in POLICIES:
            raise _row_error(where, f"policy must be one of {', '.join(POLICIES)}")
        until = row.get("support_until")
        if until is not None and not isinstance(until, date):
            raise _row_error(where, "support_until must be a date like 2027-12-31 (no quotes)")
        max_contacts = row.get("max_contacts", 1)
        if not isinstance(max_contacts, int) or isinstance(max_contacts, bool) or max_contacts < 1:
            raise _row_error(where, "max_contacts must be a positive integer")
        cust_products = []
        for j, prow in enumerate(row.get("products", [])):
            pwhere = f"{where} products[{j}]"
            _check_keys(prow, {"name", "version"}, pwhere)
            pname = _text(prow, "name", pwhere)
            if pname not in products:
                raise _row_error(pwhere, f"unknown product {pname!r} (not in [[products]])")
            version = prow.get("version", "")
            if not isinstance(version, str):
                raise _row_error(pwhere, "version must be a string")
            if version and version not in products[pname]:
                raise _row_error(
                    pwhere, f"unknown version {version!r} of {pname} ({', '.join(products[pname])})"
                )
            cust_products.append({"name": pname, "version": version})
        contacts = []
        rows = row.get("contacts", [])
        if not isinstance(rows, list):
            raise _row_error(where, "contacts must be a list")
        for j, crow in enumerate(rows):
            cwhere = f"{where} contacts[{j}]"
            _check_keys(crow, _CONTACT_KEYS, cwhere)
            email = _text(crow, "email", cwhere).lower()
            cwhere = f"{cwhere} ({email})"
            if not EMAIL.match(email):
                raise _row_error(cwhere, "email is not a valid address")
            if email in seen_emails:
                raise _row_error(cwhere, f"duplicate address (also in {seen_emails[email]})")
            seen_emails[email] = cid
            space = _text(crow, "cloud_space", cwhere, required=False) or None
            if space is not None:
                if space in seen_spaces:
                    raise _row_error(
                        cwhere,
                        f"cloud space {space!r} already has a support contact "
                        f"({seen_spaces[space]}); one contact per cloud space (P2)",
                    )
                seen_spaces[space] = email
            contacts.append(
                {
                    "email": email,
                    "name": _text(crow, "name", cwhere, required=False),
                    "phone": _text(crow, "phone", cwhere, required=False),
                    "cloud_space": space,
                }
            )
        if len(contacts) > max_contacts:
            raise _row_error(
                where, f"{len(contacts)} contacts but max_contacts is {max_contacts} (P2)"
            )
        customers.append(
            {
                "id": cid,
                "name": _text(row, "name", where),
                "policy": policy,
                "support_until": until,
                "max_contacts": max_contacts,
                "products": cust_products,
                "contacts": contacts,
            }
        )
    return {"products": products, "customers": customers}


def _update(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def apply_registry(session: Session, reg: dict[str, Any]) -> ImportReport:
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
    for row in reg["customers"]:
        values = {
            k: row[k] for k in ("name", "policy", "support_until", "max_contacts", "products")
        }
        values["active"] = True
        cust = customers.get(row["id"])
        if cust is None:
            cust = Customer(id=row["id"], **values)
            session.add(cust)
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
    session.flush()
    return report


def import_registry_file(db: Any, path: str | Path, dry_run: bool = False) -> ImportReport:
    """Validate and import a registry file in one transaction (rolled back on dry-run)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{p}: cannot read: {exc.strerror}") from None
    reg = parse_registry(text, str(p))
    with db.transaction() as session:
        report = apply_registry(session, reg)
        if dry_run:
            session.rollback()
    return report
