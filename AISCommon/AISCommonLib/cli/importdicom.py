"""``ais import-dicom``: one subject's DICOM study into the BIDS dataset, de-identified (see ``dicomimport/importer.py``).

pydicom, dcm2niix and dicom-anonymizer (``pip install 'ais-annotation[import]'``) are imported only when the command runs.
Nothing printed here holds a DICOM header value or a source path: the library names series by number and
cleaned description.
"""

from .output import emitJson, formatTable, stderrProgress


def addImportCommand(subparsers) -> None:
    """Register ``ais import-dicom`` on the ``ais`` parser."""
    command = subparsers.add_parser(
        "import-dicom",
        help="de-identify and convert a DICOM study (dcm2niix) into the BIDS dataset",
        description="De-identify the DICOM files of one subject's study (DICOM PS3.15 Basic Profile with the Clean Descriptors "
                    "option; dates shifted by a secret per-subject offset, UIDs replaced with a secret per-dataset key), convert "
                    "them with dcm2niix, recognise DWI, ADC, eADC, FLAIR, T1w and T2w, and write them into BIDS_ROOT with BIDS "
                    "names, allow-listed sidecars, participants.tsv and the de-identified DICOM copies under sourcedata/. "
                    "Re-importing a series is a no-op. The dataset's secret is kept outside it: in the system keyring when "
                    "there is one, else in a 0600 file under the per-user config folder, or under $AIS_DEID_SECRET_DIR.",
    )
    command.add_argument("dicomDir", metavar="DICOM_DIR",
                         help="folder with the study's DICOM files (searched recursively, only read; its folder and file names are never carried)")
    command.add_argument("bidsRoot", metavar="BIDS_ROOT", help="BIDS dataset root (created when missing)")
    command.add_argument("--participant-label", required=True, metavar="S",
                         help="pseudonymous subject label, letters and digits (never the patient's name or ID)")
    command.add_argument("--session", "--session-label", dest="session", metavar="T", help="session label, letters and digits (default: no session level)")
    command.add_argument("--with-age-sex", action="store_true",
                         help="write PatientAge (years, above 89 as 89) and PatientSex to participants.tsv (quasi-identifiers)")
    command.add_argument("--json", action="store_true", help="print the import summary as JSON")
    command.set_defaults(handler=runImport)


def runImport(args) -> int:
    """Run ``ais import-dicom``; errors propagate as :class:`AISError` for the ``ais`` entry point to print."""
    from ..dicomimport.importer import importDicom

    result = importDicom(args.dicomDir, args.bidsRoot, args.participant_label, args.session,
                         includeAgeSex=args.with_age_sex, progress=stderrProgress)
    if args.json:
        emitJson(result.toDict())
        return 0
    if result.images:
        print(formatTable(result.images, ["key", "path", "series", "reason"]))
    for series in result.alreadyImported:
        print(f"already imported: {series}")
    for skipped in result.skipped:
        print(f"skipped: {skipped['series']}: {skipped['reason']}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"{result.caseId}: {len(result.written)} file(s) written.")
    return 0
