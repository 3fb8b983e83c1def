"""AISCommon: the hidden library module that AISAnnotator and AISReview share.

It has no panel. Slicer adds its folder to ``sys.path``, which makes the ``AISCommonLib`` package
(case reading, seeding, agreement, workflow store, report, MRML helpers) importable by both modules,
as SlicerHeart's ``HeartValveLib`` does for its modules.
"""

from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest

import AISCommonLib

#
# AISCommon
#


class AISCommon(ScriptedLoadableModule):
    """Registers the shared library with Slicer; hidden from the module list."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AIS Common")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        # The library's scene code loads volumes, segmentations and markups: those modules' logics must be there.
        self.parent.dependencies = ["Volumes", "Segmentations", "Markups"]
        self.parent.contributors = list(AISCommonLib.CONTRIBUTORS)
        self.parent.helpText = _("""
Shared library of the AIS dual-reader annotation extension: reading BIDS stroke cases (DWI, ADC, eADC, FLAIR),
ADC units and the ADC-threshold seed, reader agreement and discordant regions, the review and arbitration workflow
store, the acceptance report and the MRML helpers that the AIS Annotator and AIS Review modules are built on.
It has no user interface of its own.
""")
        self.parent.acknowledgementText = _("""
Follows the national expert consensus on the annotation of acute ischemic stroke lesions on MRI. Built on 3D Slicer,
SimpleITK, NumPy, nibabel and SQLAlchemy; tested on ISLES 2022 data (CC BY 4.0).
""")
        self.parent.hidden = True


#
# AISCommonTest
#


class AISCommonTest(ScriptedLoadableModuleTest):
    """In-Slicer checks of the shared library: it imports with Slicer's own Python and bundled packages only, and a
    developer Reload keeps the library's exception classes (issue 14 A9)."""

    def runTest(self):
        self.test_libraryImportsWithoutOptionalPackages()
        self.test_reloadKeepsExceptionClasses()

    def test_libraryImportsWithoutOptionalPackages(self):
        self.delayDisplay("Importing AISCommonLib")
        from AISCommonLib.core import adcunits, agreement, seeding

        self.assertTrue(AISCommonLib.__version__)
        self.assertTrue(adcunits.MICRO)
        self.assertTrue(callable(agreement.compareMasks))
        self.assertTrue(callable(seeding.seedLesion))
        self.delayDisplay("Test passed")

    def test_reloadKeepsExceptionClasses(self):
        """What the modules' Reload does; an ``except`` written against the classes from before still catches."""
        from AISCommonLib import reloading
        from AISCommonLib.core.errors import AISError, InputError
        from AISCommonLib.mrml import layouts

        reloading.reloadPackage("AISCommonLib")
        with self.assertRaises(InputError):
            layouts.layoutIdByName("5x5")
        from AISCommonLib.core.errors import InputError as reloadedInputError
        from AISCommonLib.workflow.errors import PermissionDeniedError

        self.assertIs(reloadedInputError, InputError)
        self.assertTrue(issubclass(PermissionDeniedError, AISError))
        self.delayDisplay("Reload test passed")
