"""A Slicer progress dialog behind the library's ``progress(fraction, message)`` callables (Qt layer)."""

import slicer

from AISCommonLib.core.errors import OperationCancelled


def progressReporter(progressDialog):
    """Adapt the dialog to the library's ``progress(fraction, message)`` callable."""

    def report(fraction: float, message: str) -> None:
        progressDialog.value = int(round(100 * fraction))
        progressDialog.labelText = message
        slicer.app.processEvents()
        if progressDialog.wasCanceled:
            raise OperationCancelled("The operation was cancelled by the user.")

    return report
