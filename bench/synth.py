"""Synthetic personal data shared by the demo-data generator and the PII evaluation: names and
checksum-valid card numbers and IBANs. Deterministic for a given random generator."""

from __future__ import annotations

import random

FIRST = [
    "Maria",
    "James",
    "Priya",
    "Chen",
    "Fatima",
    "Lukas",
    "Sofia",
    "Kwame",
    "Elena",
    "Tomasz",
    "Aisha",
    "Diego",
    "Hannah",
    "Yuki",
    "Olumide",
    "Ingrid",
    "Rahul",
    "Camille",
    "Mateo",
    "Zoe",
]
LAST = [
    "Gonzalez",
    "OConnor",
    "Natarajan",
    "Wei",
    "Haddad",
    "Fischer",
    "Rossi",
    "Mensah",
    "Petrova",
    "Kowalski",
    "Rahman",
    "Alvarez",
    "Schmidt",
    "Tanaka",
    "Adeyemi",
    "Lindqvist",
    "Mehta",
    "Dubois",
    "Herrera",
    "Whitfield",
]


def luhn(prefix: str, length: int, rng: random.Random) -> str:
    """A number of `length` digits starting with `prefix` whose Luhn check digit is valid."""
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    """A compact IBAN with a valid ISO 13616 check (mod 97)."""
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"
