"""Identity, access control and 21 CFR Part 11 electronic signatures.

* ``permissions`` (pure): roles and the one role → action table.
* ``manifest`` (pure): the signature manifestation (printed name, time with zone, meaning).
* ``keys`` (pure): Ed25519 keys wrapped under Argon2id + AES-GCM; spec §4 signing and verification.
* ``passwords`` (pure): policy and Argon2id hashing.
* ``users``: ``UserService`` (``services.users``); ``authentication``: login, lockout, LDAP users;
  ``keystore``, ``sessions``, ``outcome`` (refusals that survive the caller's rollback).
* ``signing``: ``SigningService`` (``services.signing``), the signing ceremony.
* ``ldap``: the LDAP directory adapter (the only module importing ldap3).

Decisions: docs/signatures.md.
"""
