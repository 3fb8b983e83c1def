"""Developer reload of a library package, for the modules' Reload button.

Slicer's Reload re-runs only the module file (``slicer.util.reloadScriptedModule``); without this, edits to
the library would not be seen until Slicer restarts.

Reloading re-creates every class a module defines. For exception classes that splits the world in two: the
other module file (not reloaded), a store opened before the reload and every ``from ..errors import X`` that
ran in between hold the old classes, while the reloaded code raises new ones, and an ``except InputError``
no longer catches an ``InputError``. So the exception classes that existed before the reload are put back into
their modules right after each module is reloaded: every module, reloaded or not, keeps catching what the
library raises. The price: an edit to an exception class itself needs a restart of Slicer.
"""

import importlib
import sys


def packageModules(packageName: str) -> list[str]:
    """Names of the loaded modules of ``packageName`` (the package itself included), deepest first."""
    return sorted(
        (name for name in sys.modules if name == packageName or name.startswith(packageName + ".")),
        key=lambda name: name.count("."),
        reverse=True,
    )


def definedExceptionClasses(module) -> dict[str, type]:
    """Exception classes that ``module`` itself defines (not the ones it imports), by attribute name."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__
    }


def reloadPackage(packageName: str) -> None:
    """Reload every loaded submodule of ``packageName``, keeping its exception classes.

    Modules are reloaded deepest first, twice: the second pass refreshes names that a sibling imported
    before it was itself reloaded. After each module's reload its exception classes are the ones from
    before the reload again (see the module docstring).
    """
    names = packageModules(packageName)
    kept = {name: definedExceptionClasses(sys.modules[name]) for name in names}
    for _pass in range(2):
        for name in names:
            module = importlib.reload(sys.modules[name])
            for attribute, exceptionClass in kept[name].items():
                if isinstance(getattr(module, attribute, None), type):
                    setattr(module, attribute, exceptionClass)
