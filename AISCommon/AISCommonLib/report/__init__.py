"""The dataset acceptance report: completeness, format, metadata, agreement and quality, as HTML with CSV behind it."""
