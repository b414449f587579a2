"""The accountability statement users accept before their first electronic signature (21 CFR 11.10(j), 11.100(c))."""

from __future__ import annotations

STATEMENT_VERSION = "1"

STATEMENT = (
    "I understand that my electronic signature in this system is the legally binding equivalent of "
    "my handwritten signature. I will not share my password or let anyone else sign with my user id, "
    "and I am accountable and responsible for every action initiated under my electronic signature. "
    "I will report at once any suspected loss or misuse of my password."
)
