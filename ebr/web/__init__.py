"""What every feature's pages share: the layout (``templates/``, ``static/``, ``ui``), access
decorators and the signed-in user (``access``), error pages (``errors``), security headers
(``security``), the services registry (``registry``), form and transaction helpers
(``helpers``) and number formatting (``numbers``). The pages themselves live in the feature
packages (``ebr/<feature>/web.py``), attached by ``ebr.features``.
"""
