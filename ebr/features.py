"""The application's capabilities, each one package under ``ebr/`` (and ``validation``), and how
they are attached.

:data:`FEATURES` is the one list of them: the app factory and the ``ebr`` command read it,
nothing else. A feature's adapters are found by the name of their module (DESIGN.md,
docs/architecture.md "Where a new capability goes"):

- ``web.py`` and ``web_<part>.py``: a Flask blueprint ``bp`` (templates in the package's
  own ``templates/`` folder); a module that also installs app-wide hooks has
  ``register(app)`` instead, which registers its ``bp``.
- ``api.py`` and ``api_<part>.py``: a flask-smorest blueprint ``blp`` (or, for a machine
  endpoint that does not speak JSON, a plain Flask ``bp``).
- ``cli.py`` and ``cli_<part>.py``: ``register(main)`` adding its click commands.

Other modules of a feature (``models.py``, ``services.py``, view helpers) are never imported
here. The modules are imported by name, so this module imports no feature itself and none
of them can import it back (no import circle through the composition root).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

# Order matters where one feature extends another: ``ebr.records`` adds its commands to the
# ``ebr batch`` group of ``ebr.execution``, ``ebr.ops``' ``cli_records`` to its own ``ebr db``.
# Pages are reached by URL, so their order is only the order of the blueprints in the app.
FEATURES = (
    "ebr.ops",
    "ebr.accounts",
    "ebr.trail",
    "ebr.plant",
    "ebr.execution",
    "ebr.review",
    "ebr.authoring",
    "ebr.records",
    "ebr.materials",
    "ebr.analytics",
    "ebr.integration",
    "ebr.performance",
    "ebr.maintenance",
    "ebr.training",
    # IQ/OQ of the installation (``ebr validate``). The package sits above the application
    # layer (it runs the test suite against it), so it is one more reason to name features
    # here and import them by name: no module of ebr imports it.
    "validation",
)

ADAPTERS = ("web", "api", "cli")


def adapter_modules(kind: str, features: tuple[str, ...] = FEATURES) -> Iterator[ModuleType]:
    """Every ``<kind>.py`` / ``<kind>_<part>.py`` module of every feature, in list order."""
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter kind {kind!r}: one of {', '.join(ADAPTERS)}")
    for feature in features:
        package = importlib.import_module(feature)
        names = sorted(
            info.name
            for info in pkgutil.iter_modules(package.__path__)
            if info.name == kind or info.name.startswith(f"{kind}_")
        )
        for name in names:
            yield importlib.import_module(f"{feature}.{name}")


def register_web(app: Any) -> None:
    """Attach every feature's pages (``bp``, or the module's own ``register(app)``)."""
    for module in adapter_modules("web"):
        register: Callable[[Any], None] | None = getattr(module, "register", None)
        if register is not None:
            register(app)
        else:
            app.register_blueprint(module.bp)


def register_api(app: Any, api: Any) -> None:
    """Attach every feature's API blueprints to ``api`` (smorest) or ``app`` (plain Flask)."""
    csrf = app.extensions.get("csrf")
    for module in adapter_modules("api"):
        blueprint = getattr(module, "blp", None)
        if blueprint is not None:
            api.register_blueprint(blueprint)
        else:
            blueprint = module.bp
            app.register_blueprint(blueprint)
        # The API takes only JSON bodies (a cross-site form cannot send one without a CORS
        # preflight, which we never allow) or a machine's XML with its token, and the session
        # cookie is SameSite=Strict, so the form CSRF token the UI uses is not required here.
        if csrf is not None:
            csrf.exempt(blueprint)


def register_cli(main: Any) -> None:
    """Add every feature's commands to the ``ebr`` group."""
    for module in adapter_modules("cli"):
        module.register(main)
