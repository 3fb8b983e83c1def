"""Synthetic DICOM studies for the import tests: real MR Image Storage files written with pydicom from
phantom volumes, and a version with a distinct marker string in every attribute de-identification must treat.

Markers: every attribute of PS3.15 Table E.1-1 (the table the import applies) whose value representation
holds text, a date or a time gets its own value; text markers look like ``QZM0042K`` (never a technical
word, never a substring of another marker), dates lie in 1950 (a shift of at least 366 days cannot land on
another marker), times and date-times carry a distinct fraction so a shifted time cannot spell another.
"""

from pathlib import Path

import numpy as np

#: The values a PACS export of the test patient carries (the plain study, no markers).
FAKE = {
    "PatientName": "DOE^JOHNATHAN", "PatientID": "MRN98765432", "PatientBirthDate": "19461203",
    "AccessionNumber": "ACC55512345", "InstitutionName": "Saint Fakeholm Hospital",
    "ReferringPhysicianName": "HOUSE^GREGORY", "OperatorsName": "TECHNICIAN^TINA",
}
#: Strings of the plain study that must appear nowhere in the output.
FORBIDDEN = ["DOE", "JOHNATHAN", "MRN98765432", "19461203", "1946-12-03", "ACC55512345", "FAKEHOLM", "GREGORY", "TECHNICIAN"]
#: Attributes the issue names explicitly; the marker study must cover each (a cross-check of the table).
NAMED_ATTRIBUTES = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs", "OtherPatientNames", "AccessionNumber",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "NameOfPhysiciansReadingStudy", "RequestingPhysician",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
    "StudyDescription", "SeriesDescription", "ProtocolName", "PerformedProcedureStepDescription", "ImageComments",
    "PatientComments", "AdditionalPatientHistory", "StudyID", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime",
    "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime", "AcquisitionDateTime", "PatientAge",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "RequestedProcedureID", "PerformedProcedureStepID",
}
_TEXT_VRS = {"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}
#: Acquisition times of the marker study's series (date, time): intervals between them must survive.
SERIES_TIME_KEYWORDS = ("SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime")
SERIES_TIMES = {3: ("19500315", "101600.2222"), 4: ("19500315", "101600.3333"), 5: ("19500315", "101605.4444"),
                6: ("19500315", "103130.5555"), 7: ("19500315", "104500.6666"), 8: ("19500316", "001500.7777")}


def writeSeries(folder: Path, volumes, ijkToRas, seriesNumber, description, imageType, study, bValues=None,
                echoTimeS=0.08, repetitionTimeS=5.0, inversionTimeS=None, scale=1.0, decorate=None, fileName=None):
    """One MR Image Storage series, one file per slice (and per volume), geometry from an IJK-to-RAS matrix.

    Arrays are ``[k, j, i]``: i runs along a DICOM row (columns), j down the columns (rows).

    :param decorate: optional ``(dataset, seriesNumber, volumeIndex)`` callable run last on every file.
    :param fileName: optional ``instance -> name``; default ``IM0001``.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijkToRas
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    rowCosine, columnCosine = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    seriesUid = generate_uid()
    instance = 0
    for volumeIndex, volume in enumerate(volumes):
        for k in range(volume.shape[0]):
            instance += 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
            for keyword, value in FAKE.items():
                setattr(ds, keyword, value)
            ds.PatientSex, ds.PatientAge = "M", "077Y"
            ds.OtherPatientIDs = "OTHERID4242"
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240315"
            ds.StudyTime, ds.AcquisitionTime = "101500", "101600"
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study["uid"], seriesUid, study["frame"]
            ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = "4711", seriesNumber, instance, 1
            ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", "Philips", "Phantom"
            ds.MagneticFieldStrength = 3.0
            ds.SeriesDescription = ds.ProtocolName = description
            ds.ImageType = imageType
            ds.EchoTime, ds.RepetitionTime = echoTimeS * 1000, repetitionTimeS * 1000
            if inversionTimeS:
                ds.InversionTime = inversionTimeS * 1000
            ds.ScanningSequence = "EP" if bValues else ("IR" if inversionTimeS else "SE")
            ds.SequenceVariant = "NONE"
            ds.SliceThickness = ds.SpacingBetweenSlices = float(spacing[2])
            ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
            ds.ImageOrientationPatient = [float(value) for value in (*rowCosine, *columnCosine)]
            ds.ImagePositionPatient = [float(value) for value in (lps @ [0, 0, k, 1])[:3]]
            ds.PatientPosition = "HFS"
            if bValues is not None:
                ds.DiffusionBValue = float(bValues[volumeIndex])
                ds.DiffusionDirectionality = "ISOTROPIC" if bValues[volumeIndex] > 0 else "NONE"
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.ascontiguousarray(np.clip(np.rint(volume[k] * scale), 0, 65535).astype(np.uint16)).tobytes()
            if decorate is not None:
                decorate(ds, seriesNumber, volumeIndex)
            ds.save_as(folder / (fileName(instance) if fileName else f"IM{instance:04d}"), enforce_file_format=True)


def writeStudy(root: Path, images, withFlair=True, withDwi=True, withMaps=True, extraFiles=True, decorate=None,
               patientFolder="DOE_JOHNATHAN_MRN98765432", seriesFolder=lambda number: f"S{number}", fileName=None,
               study=None) -> Path:
    """A PACS-style export: a folder named after the patient, one folder per series.

    :param study: ``{"uid": ..., "frame": ...}`` to continue a study in a second export.
    """
    from pydicom.uid import generate_uid

    study = study or {"uid": generate_uid(), "frame": generate_uid()}
    folder = root / patientFolder
    common = {"decorate": decorate, "fileName": fileName}
    if withDwi:
        writeSeries(folder / seriesFolder(3), [images.b0, images.dwi], images.dwiIjkToRas, 3, "ep2d_diff_trace_b1000",
                    ["ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW"], study, bValues=[0, 1000], scale=10.0, **common)
    if withMaps:
        writeSeries(folder / seriesFolder(4), [images.adcMicro], images.dwiIjkToRas, 4, "ep2d_diff_ADC",
                    ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"], study, **common)
        writeSeries(folder / seriesFolder(5), [images.eadc], images.dwiIjkToRas, 5, "ep2d_diff_EXP",
                    ["DERIVED", "PRIMARY", "DIFFUSION", "EADC"], study, scale=1000.0, **common)
    if withFlair:
        writeSeries(folder / seriesFolder(6), [images.flair], images.flairIjkToRas, 6, "t2_tirm_tra_dark-fluid",
                    ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.09, repetitionTimeS=9.0, inversionTimeS=2.5, **common)
        writeSeries(folder / seriesFolder(7), [images.t1w], images.flairIjkToRas, 7, "t1_se_tra",
                    ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.01, repetitionTimeS=0.5, **common)
        writeSeries(folder / seriesFolder(8), [images.t2w], images.flairIjkToRas, 8, "t2_tse_tra",
                    ["ORIGINAL", "PRIMARY", "M", "NORM"], study, echoTimeS=0.1, repetitionTimeS=4.0, **common)
    if extraFiles:
        (folder / "notes.txt").write_text("export log for DOE^JOHNATHAN\n", encoding="utf-8")
    return root


class MarkerPlan:
    """The marker value of every attribute the marker study fills, and how to put them into a dataset.

    :param markers: ``{keyword or tag name: marker}`` of the public attributes, file meta, nested and
        private ones; the folder and file name markers are in :attr:`nameMarkers`.
    """

    def __init__(self):
        from pydicom.datadict import dictionary_VR, keyword_for_tag

        from AISCommonLib.dicomimport.profile import basicProfileActions

        single, _ = basicProfileActions()
        self.attributes = []  # (tag, keyword, VR, value)
        counters = {"text": 0, "DA": 0, "TM": 0, "DT": 0}
        for tag in sorted(single):
            if tag >> 16 in (0x0000, 0x0002, 0x0004):
                continue
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                continue
            if vr not in _TEXT_VRS | {"DA", "TM", "DT"}:
                continue
            counter = vr if vr in ("DA", "TM", "DT") else "text"
            counters[counter] += 1
            self.attributes.append((tag, keyword_for_tag(tag) or f"{tag:08X}", vr, self._value(vr, counters[counter])))
        self.markers = {keyword: value for _, keyword, _, value in self.attributes}
        # Attributes the study needs with designed values (descriptors that still classify, dates with intervals).
        self.markers.update({"SeriesDescription": "QZMSERIESDESCK", "ProtocolName": "QZMPROTOCOLK", "PatientAge": "077Y",
                             "StudyDate": "19500315", "StudyTime": "101500.1111", "DateOfLastCalibration": "19500301"})
        for keyword in ("PatientSex", *SERIES_TIME_KEYWORDS):
            self.markers.pop(keyword, None)  # a one-letter code, and the per-series values of SERIES_TIMES
        self.nested = {"PerformingPhysicianName": "QZMNESTPNK", "InstitutionName": "QZMNESTINSTK", "AcquisitionDateTime": "19500601121212.3131"}
        self.private = {"creator": "QZMCREATORK", "value": "QZMPRIVATEK", "csa": "QZMCSABLOBK", "philips": "QZMPHILIPSK"}
        self.meta = {"SourceApplicationEntityTitle": "QZMAETITLEK"}
        self.nameMarkers = {"patientFolder": "QZMFOLDERK", "seriesFolder": "QZMSERIESFOLDERK", "file": "QZMFILEK"}

    @staticmethod
    def _value(vr: str, index: int) -> str:
        """Dates from 1950-01-02 (DA) and 1950-07-02 (DT): the designed dates (March, June) lie apart from them."""
        if vr == "DA":
            return (np.datetime64("1950-01-01") + np.timedelta64(index, "D")).astype(str).replace("-", "")
        if vr == "TM":
            return f"{8 + index // 60 % 12:02d}{index % 60:02d}07.{1000 + index:04d}"
        if vr == "DT":
            date = (np.datetime64("1950-07-01") + np.timedelta64(index, "D")).astype(str).replace("-", "")
            return f"{date}{9 + index // 60 % 12:02d}{index % 60:02d}11.{3000 + index:04d}"
        if vr == "AS":
            return f"{100 + index % 800:03d}W"
        if vr == "UR":
            return f"http://qzm{index:04d}k.invalid"
        return f"QZM{index:04d}K"

    def allMarkers(self) -> dict:
        """Every marker the output must not contain, by where it was put."""
        found = dict(self.markers)
        found.update({f"nested {key}": value for key, value in self.nested.items()})
        found.update({f"private {key}": value for key, value in self.private.items()})
        found.update({f"meta {key}": value for key, value in self.meta.items()})
        found.update({f"name {key}": value for key, value in self.nameMarkers.items()})
        for number, (date, time) in SERIES_TIMES.items():
            found[f"series {number} time"] = time
            found[f"series {number} date"] = date
        return found

    def decorate(self, ds, seriesNumber, volumeIndex) -> None:
        """Put every marker into one file of series ``seriesNumber`` (its descriptors keep their technical words)."""
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        description = str(ds.SeriesDescription)
        for tag, _, vr, value in self.attributes:
            ds.add_new(tag, vr, value)
        ds.SeriesDescription = f"{description} {self.markers['SeriesDescription']}"
        ds.ProtocolName = f"{self.markers['ProtocolName']}_{description}"
        ds.PatientAge, ds.PatientSex = self.markers["PatientAge"], "M"
        ds.StudyDate, ds.StudyTime = self.markers["StudyDate"], self.markers["StudyTime"]
        date, time = SERIES_TIMES[seriesNumber]
        ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
        ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = time
        ds.DateOfLastCalibration = self.markers["DateOfLastCalibration"]  # a lone date (no time of the same name)
        item = Dataset()
        for keyword, value in self.nested.items():
            setattr(item, keyword, value)
        ds.MRDiffusionSequence = Sequence([item])
        block = ds.private_block(0x0011, self.private["creator"], create=True)
        block.add_new(0x01, "LO", self.private["value"])
        csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        csa.add_new(0x10, "OB", f"SV10\x04\x03\x02\x01{self.private['csa']}".encode() + b"\0")
        if seriesNumber == 3:
            philips = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
            philips.add_new(0x03, "FL", float(ds.DiffusionBValue))
            philips.add_new(0x05, "LO", self.private["philips"])
        ds.file_meta.SourceApplicationEntityTitle = self.meta["SourceApplicationEntityTitle"]
