"""DICOM to de-identified BIDS: series recognition, de-identification, dcm2niix conversion."""
