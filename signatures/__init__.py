"""Identity, access control and 21 CFR Part 11 electronic signatures."""
