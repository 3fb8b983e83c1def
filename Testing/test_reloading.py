"""Issue 14 A9: reloading the modules must not split the library's exception classes.

Each scenario runs in a fresh interpreter (reloading the library inside the test process would change the
classes every other test holds). The "caller" is what another module file is: code that imported the error
classes before the reload and is not reloaded itself.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / "AISCommon"), str(ROOT / "AISAnnotator"), str(ROOT / "AISReview")]

SCENARIO = """
import importlib, sys
sys.path[:0] = {paths!r}
from AISCommonLib.core.errors import AISError, InputError          # the other module file's imports
from AISCommonLib.workflow.errors import PermissionDeniedError
from AISCommonLib.core import adcunits, imagelimits
from AISAnnotatorLib.readerwork import ReaderWork
from AISReviewLib import reviewqueue
from AISCommonLib.mrml import layouts
from AISCommonLib import reloading

{reload}

caught = []
def attempt(label, function, catch):
    try:
        function()
    except catch:
        caught.append(label)
    except Exception as error:
        print("NOT CAUGHT", label, type(error).__module__, type(error).__name__)

attempt("InputError from a reloaded module", lambda: reviewqueue.requireNote("", "the ruling"), InputError)
attempt("InputError from a lazily imported module", lambda: layouts.layoutIdByName("5x5"), InputError)
attempt("workflow error as AISError", lambda: ReaderWork().requireClaim("sub-01"), AISError)
attempt("workflow error by its class", lambda: ReaderWork().requireClaim("sub-01"), PermissionDeniedError)
from AISCommonLib.core.errors import InputError as importedAgain       # the reloaded module file's imports
attempt("the reloaded module file's except", lambda: reviewqueue.requireNote("", "the ruling"), importedAgain)
print("CAUGHT", len(caught))
print("SAME", importedAgain is InputError, issubclass(imagelimits.ImageTooLargeError, InputError))
adcunits.MICRO = None
{reload}
print("EDITS SEEN", adcunits.MICRO is not None)
"""

FIXED = 'reloading.reloadPackage("AISCommonLib"); reloading.reloadPackage("AISAnnotatorLib"); reloading.reloadPackage("AISReviewLib")'
#: What the modules' Reload did before the fix: every submodule reloaded deepest first, twice.
NAIVE = """
for package in ("AISCommonLib", "AISAnnotatorLib", "AISReviewLib"):
    names = reloading.packageModules(package)
    for _ in range(2):
        for name in names:
            importlib.reload(sys.modules[name])
"""


def runScenario(reload: str) -> str:
    script = SCENARIO.format(paths=PATHS, reload=textwrap.dedent(reload))
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    return completed.stdout


def test_exceptions_are_caught_after_a_reload():
    output = runScenario(FIXED)
    assert "NOT CAUGHT" not in output, output
    assert "CAUGHT 5" in output
    assert "SAME True True" in output
    assert "EDITS SEEN True" in output, "the reload must still re-run the library's code"


def test_the_old_reload_split_the_classes():
    """The defect itself: without keeping the classes, the other module's ``except InputError`` misses."""
    output = runScenario(NAIVE)
    assert "NOT CAUGHT" in output
    assert "SAME False" in output
