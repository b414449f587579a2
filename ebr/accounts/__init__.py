"""Users: login, logout, password, the accountability statement, administration, ``ebr user``."""
