"""The acceptance report as one self-contained HTML document (figures embedded as base64 PNG).

Order: verdict and identity statement, what to do before signing (every finding as a sentence), the rules applied
and the manager overrides, then completeness, format, metadata, agreement, quality and the pictures, and a sign-off
block. Elements the tests read carry ``data-*`` attributes (``data-metric``, ``data-missing-case``, ``data-figure``,
``data-finding``, ``data-identity``, ``data-override``).
"""

import base64
import html

from .agreementsection import PER_READER_COLUMNS
from .completeness import COLUMNS as COMPLETENESS_COLUMNS
from .conformity import MASK_COLUMNS
from .model import METADATA_FIELDS, SEVERITIES, Section, formatValue
from .readrecords import LESION_COLUMNS, RECORD_COLUMNS
from .rules import OVERRIDE_COLUMNS
from .scanclinical import CLINICAL_COLUMNS, SCAN_CASE_COLUMNS

#: Findings listed in the HTML per severity at most (all of them are in findings.csv).
MAX_LISTED_FINDINGS = 200

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:72em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#1e7e34;font-weight:bold}.fail{color:#b02a37;font-weight:bold}.info{color:#555}
.problem{background:#fdecea;border-left:4px solid #b02a37;padding:.4em .7em;margin:.4em 0}
.note{background:#f4f6f8;border-left:4px solid #8a9ba8;padding:.4em .7em;margin:.4em 0}
.identity{background:#fff8e1;border:2px solid #e0a800;padding:.6em .9em;margin:.8em 0;font-weight:600}
li.error{color:#7a1c25}li.warning{color:#5c4400}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
.signoff td{min-width:18em;height:2.2em}
"""


def _escape(value) -> str:
    return html.escape(formatValue(value) if not isinstance(value, str) else value)


def table(rows: list[dict], columns: list[str], caseAttribute: str | None = None) -> str:
    """Rows as an HTML table; ``caseAttribute`` tags each row with ``data-<name>="<case>"``."""
    if not rows:
        return '<p class="info">None.</p>'
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        attribute = f' data-{caseAttribute}="{html.escape(str(row.get("case", "")))}"' if caseAttribute else ""
        body.append(f"<tr{attribute}>" + "".join(f"<td>{_escape(row.get(column))}</td>" for column in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics(summary: dict, keys: list[tuple[str, str]], attribute: str = "metric") -> str:
    rows = "".join(f'<tr><th>{html.escape(label)}</th><td data-{attribute}="{key}">{_escape(summary.get(key))}</td></tr>' for key, label in keys)
    return f"<table>{rows}</table>"


def _messages(section: Section) -> str:
    parts = [f'<div class="problem">{html.escape(text)}</div>' for text in section.problems]
    parts += [f'<div class="note">{html.escape(text)}</div>' for text in section.notes]
    return "".join(parts)


def _verdict(section: Section) -> str:
    if section.passed is None:
        return ""
    return (f' <span class="{"pass" if section.passed else "fail"}" data-section-passed="{str(section.passed).lower()}">'
            f'{"passes" if section.passed else "does not pass"}</span>')


def _image(name: str, png: bytes, caption: str, dataFolderName: str | None) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    numbers = f" (numbers: {html.escape(dataFolderName)}/{html.escape(name)}.csv)" if dataFolderName else ""
    return (f'<figure><img alt="{html.escape(caption)}" data-figure="{html.escape(name)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}{numbers}</figcaption></figure>")


def _findings(findings: list) -> list[str]:
    parts = ["<h2>What to do before signing</h2>"]
    if not findings:
        return parts + ['<p class="pass" data-finding-count="0">Nothing: no check found a problem.</p>']
    for severity, title in zip(SEVERITIES, ("Must be fixed (blocks acceptance)", "Should be looked at", "For information")):
        chosen = [finding for finding in findings if finding.severity == severity]
        if not chosen:
            continue
        parts.append(f"<h3>{title}: {len(chosen)}</h3><ul>")
        parts += [f'<li class="{severity}" data-finding="{html.escape(finding.code)}">{html.escape(finding.sentence)}</li>'
                  for finding in chosen[:MAX_LISTED_FINDINGS]]
        parts.append("</ul>")
        if len(chosen) > MAX_LISTED_FINDINGS:
            parts.append(f'<p class="info">{len(chosen) - MAX_LISTED_FINDINGS} more in findings.csv.</p>')
    return parts


def _rules(rules: dict) -> list[str]:
    parts = ["<h2>Rules applied, identities and overrides</h2>",
             "<p>The numbers below depend on these rules; a reader of the report should know them before trusting a verdict.</p>",
             table(rules["rules"], ["rule", "setting", "value", "meaning", "source"])]
    parts.append(_messages(rules["section"]))
    identity = rules["identity"]
    if identity:
        parts.append(_metrics(identity, [("backend", "workflow database"), ("events", "recorded actions"),
                                         ("authenticated_events", "made by people logged in as themselves"),
                                         ("declared_events", "declared, not authenticated"), ("clients_recorded", "with the computer account and host")], "identity-metric"))
    parts.append("<h3>Manager overrides and decisions taken with a reason</h3>")
    parts.append("<p>Roles granted below their minimum, readers qualified without meeting the training bar, every change of the rules, "
                 "every exclusion and reopened case, roles revoked and people (de)activated, and every arbitration ruling that overrode the reviewer, "
                 "with the reason recorded, as the workflow recorded them.</p>")
    if rules["overrides"]:
        head = "".join(f"<th>{html.escape(column)}</th>" for column in OVERRIDE_COLUMNS)
        body = "".join(f'<tr data-override="{html.escape(row["action"])}">' + "".join(f"<td>{_escape(row.get(column))}</td>" for column in OVERRIDE_COLUMNS)
                       + "</tr>" for row in rules["overrides"])
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    else:
        parts.append('<p class="info">None.</p>')
    return parts


def renderHtml(report: dict, images: dict[str, bytes], dataFolderName: str, figureNotes: list[str]) -> str:
    """The report as one HTML document."""
    sections = report["sections"]
    summary = report["summary"]

    def figure(name, caption):
        return _image(name, images[name], caption, dataFolderName) if name in images else ""

    verdict = "passes acceptance" if report["accepted"] else "does not pass acceptance yet"
    statement = sections["rules"]["statement"]
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>AIS dataset acceptance report</title><style>{_STYLE}</style></head><body>',
             "<h1>AIS lesion dataset: acceptance report</h1>",
             f"<p>Dataset <code>{html.escape(report['root'])}</code>; written {html.escape(report['created'])} by AIS {html.escape(report['version'])}. "
             f"Workflow database: {'read' if report['workflow'] else 'not available'}. The numbers behind every table and figure are in "
             f"<code>{html.escape(dataFolderName)}/</code>.</p>",
             f'<p>Verdict: <span class="{"pass" if report["accepted"] else "fail"}" data-metric="accepted">{html.escape(verdict)}</span></p>']
    if statement:
        parts.append(f'<div class="identity" data-identity="{"authenticated" if sections["rules"]["identity"].get("authenticated") else "declared"}">'
                     f"{html.escape(statement)}</div>")
    parts += [f'<div class="problem" data-banner="true">{html.escape(text)}</div>' for text in report["banner"]]
    parts += [f'<div class="note">{html.escape(text)}</div>' for text in [*report["readerNotes"], *figureNotes]]
    parts += _findings(report["findings"])
    parts += _rules(sections["rules"])

    completeness = sections["completeness"]
    missingRows = [row for row in completeness["rows"] if row["status"] == "missing"]
    parts.append(f"<h2>1. Completeness{_verdict(completeness['section'])}</h2>")
    parts.append("<p>Every case needs two independent reads and a senior review or arbitration (consensus section 2.6); excluded cases are settled. "
                 "Reads are the workflow's reads, or without a workflow the masks whose sidecar says they are a reader's read (seeds never count).</p>")
    parts.append(_metrics(summary, [("cases", "cases"), ("cases_complete", "complete"), ("cases_missing", "incomplete"), ("cases_excluded", "excluded")]))
    parts.append(_messages(completeness["section"]))
    if missingRows:
        parts.append("<p>Missing, by case:</p><ul>" + "".join(
            f'<li data-missing-case="{html.escape(row["case"])}"><b>{html.escape(row["case"])}</b>: {html.escape(row["missing"])}</li>' for row in missingRows) + "</ul>")
    parts.append(table(completeness["rows"], COMPLETENESS_COLUMNS, "case"))

    formatData = sections["format"]
    parts.append(f"<h2>2. Format and naming{_verdict(formatData['section'])}</h2>")
    parts.append(_metrics(summary, [("validation_errors", "errors"), ("validation_warnings", "warnings"), ("mask_files_with_problems", "mask files with problems")]))
    parts.append(_messages(formatData["section"]))
    parts.append("<p>Each finding is listed under <i>What to do before signing</i>; all of them, with their files, are in "
                 f"<code>{html.escape(dataFolderName)}/findings.csv</code>.</p>")
    parts.append("<h3>Mask files (binary, on the DWI grid, complete sidecar)</h3>")
    parts.append(table(formatData["masks"], MASK_COLUMNS, "mask-case"))

    metadata = sections["metadata"]
    parts.append(f"<h2>3. Metadata completeness{_verdict(metadata['section'])}</h2>")
    parts.append(_metrics(summary, [("sequences_missing_metadata", "sequences with missing acquisition parameters")]))
    parts.append(_messages(metadata["section"]))
    parts.append(table(metadata["rows"], ["case", "sequence", *METADATA_FIELDS, "BValue", "missing", "sidecar_problem"]))
    parts.append("<h3>participants.tsv (clinical data)</h3>" + table(metadata["participants"], ["column", "filled", "participants"]))
    scan = sections["scan"]
    parts.append("<h3>Scan parameters per case (consensus Table 1)</h3><p>Field strength &ge; 1.5 T, slices &le; 5 mm with a gap &le; 20 %, "
                 "in-plane resolution and matrix, DWI coverage, FLAIR/T1w/T2w field of view, a b0/b1000 pair; every check of every case is in "
                 f"<code>{html.escape(dataFolderName)}/scan_checks.csv</code>.</p>")
    parts.append(_metrics(summary, [("scan_cases_outside_limits", "cases outside a limit"), ("scan_cases_unchecked", "cases not fully checked")]))
    parts.append(_messages(scan["section"]))
    parts.append(table([row for row in scan["cases"] if row["failed"] or row["unknown"]], SCAN_CASE_COLUMNS, "scan-case"))
    clinical = sections["clinical"]
    parts.append("<h3>Clinical metadata per case</h3>")
    parts.append(_metrics(summary, [("clinical_cases_complete", "cases with every clinical value")]))
    parts.append(_messages(clinical["section"]))
    parts.append(table(clinical["rows"], CLINICAL_COLUMNS, "clinical-case"))

    agreement = sections["agreement"]
    parts.append("<h2>4. Inter-reader agreement</h2>")
    parts.append("<p>Newest read of each reader per case, excluded cases left out. Bland-Altman and ICC(2,1) (two-way random, absolute agreement) "
                 "are on lesion volumes in ml; lesion-wise F1 takes reader A as the reference.</p>")
    rule = agreement["rule"]
    parts.append(_metrics(summary, [
        ("pairs_compared", "pairs of reads compared"),
        ("pairs_concordant", f"concordant pairs (Dice >= {rule['min_dice']:g}, at most {rule['max_missed_lesions']} missed lesion(s))"),
        ("dice_mean", "Dice, mean"), ("dice_median", "Dice, median"), ("dice_min", "Dice, lowest"),
        ("lesion_f1_mean", "lesion-wise F1, mean"), ("missed_lesions_total", "lesions missed by one reader"), ("hd95_mm_median", "HD95 (mm), median"),
        ("volume_bias_ml", "volume bias A - B (ml)"), ("volume_loa_lower_ml", "lower limit of agreement (ml)"),
        ("volume_loa_upper_ml", "upper limit of agreement (ml)"), ("volume_pearson_r", "Pearson r of volumes"),
        ("volume_spearman_rho", "Spearman rho of volumes"), ("volume_icc_2_1", "ICC(2,1) of volumes"),
        ("cases_confirmed", "cases confirmed (concordant)"), ("cases_adjudicated", "cases that needed adjudication"),
        ("cases_arbitrated", "cases that went to arbitration")]))
    parts.append(_messages(agreement["section"]))
    parts.append(figure("dice_histogram", "Dice and lesion-wise F1 of every pair of reads"))
    parts.append(figure("bland_altman", "Bland-Altman plot of lesion volumes"))
    parts.append(figure("volume_correlation", "Lesion volume, reader A against reader B"))
    parts.append("<h3>Per reader</h3>" + table(agreement["readers"], PER_READER_COLUMNS))
    parts.append(figure("reading_times", "Reading time per case and reader"))
    parts.append("<h3>Pairs</h3>" + table(agreement["pairs"], ["case", "reader_a", "reader_b", "dice", "volume_a_ml", "volume_b_ml", "hd95_mm",
                                                              "lesion_f1", "missed_lesions", "concordant"], "pair-case"))
    if agreement.get("references"):
        parts.append("<h3>Reads against the masks the dataset ships</h3><p>Reference masks found in the dataset's own derivatives (never changed), "
                     "compared with each reader's newest read when they lie on its grid; lesion-wise counts take the reference as the truth.</p>"
                     + table(agreement["references"], ["case", "reader", "reference", "status", "dice", "volume_read_ml", "volume_reference_ml",
                                                       "hd95_mm", "lesion_f1", "missed_reference_lesions", "extra_read_lesions", "error"]))

    quality = sections["quality"]
    thresholds = report["thresholds"]
    parts.append(f"<h2>5. Image quality{_verdict(quality['section'])}</h2>")
    parts.append(f"<p>SNR = mean signal of normal parenchyma / noise sigma (air background, Rayleigh-corrected); CNR = |lesion - surrounding 2-6 mm shell| / sigma. "
                 f"Exclusion proposed for mean Likert &lt; {thresholds['minLikert']:g}, or SNR &lt; {thresholds['minSnr']:g} or lesion CNR &lt; "
                 f"{thresholds['minCnr']:g} on {', '.join(key.upper() for key in thresholds['sequences'])}. The manager records decisions in the workflow. "
                 "Each case's measures are computed once and reused while its files stay the same (a cache keyed by their SHA-256).</p>")
    parts.append(_metrics(summary, [("quality_cases_measured", "cases measured"), ("dwi_snr_median", "DWI SNR, median"), ("dwi_cnr_median", "DWI CNR, median"),
                                    ("likert_reads", "reads with a Likert score"), ("likert_mean", "Likert, mean"),
                                    ("quality_proposed_exclusions", "exclusions proposed"), ("quality_pending_proposals", "proposals not yet decided"),
                                    ("cases_excluded", "cases excluded in the workflow")]))
    parts.append(_messages(quality["section"]))
    parts.append(figure("quality_snr_cnr", "SNR and CNR per sequence (dashed: exclusion thresholds)"))
    parts.append(figure("likert", "Likert scores of the reads"))
    if quality["proposals"]:
        parts.append("<h3>Proposed exclusions</h3>" + table(quality["proposals"], ["case", "reason", "note", "already_excluded"], "proposal-case"))
    parts.append("<h3>Exclusions recorded, by reason</h3>" + table([{"reason": reason, "cases": count} for reason, count in sorted(quality["byReason"].items())],
                                                                   ["reason", "cases"]))
    columns = ["case", "likert_mean", "criteria_below_acceptable", "dwi_snr", "dwi_cnr", "b0_snr", "flair_snr", "flair_cnr", "dwi_noise_method", "lesion_source",
               "proposed_exclusion", "problems"]
    parts.append("<h3>Per case</h3>" + table(quality["rows"], columns, "quality-case"))

    records = sections["records"]
    parts.append("<h3>What the readers recorded</h3><p>Per read: quality scores per sequence, criteria scored below the acceptable level, "
                 "artifact flags, lesion attributes and notes, each placed beside the discordant region it is about (as the reviewer saw them).</p>")
    parts.append(_messages(records["section"]))
    parts.append(table(records["rows"], RECORD_COLUMNS, "record-case"))
    if records["lesions"]:
        parts.append("<h4>Lesion attributes</h4>" + table(records["lesions"], LESION_COLUMNS, "lesion-case"))
    for caseId, text in records["texts"].items():
        parts.append(f'<details data-notes-case="{html.escape(caseId)}"><summary>{html.escape(caseId)}: the readers\' records in full</summary>'
                     f"<pre>{html.escape(text)}</pre></details>")

    snapshots = sections["snapshots"]
    parts.append("<h2>6. Discordant regions of adjudicated cases</h2>")
    parts.append(_messages(snapshots["section"]))
    for index, picture in enumerate(snapshots["pictures"]):
        parts.append(_image(f"snapshot_{index}", picture["png"], f"{picture['case']}: {picture['title']}; {picture['readers']}", None))

    parts.append("<h2>Sign-off</h2>")
    parts.append(f"<p>This report {html.escape(verdict)}" + (f"; {html.escape(statement[0].lower() + statement[1:])}" if statement else "") + "</p>")
    parts.append('<table class="signoff"><tr><th>Data steward (name)</th><td></td></tr><tr><th>Signature</th><td></td></tr>'
                 "<tr><th>Date</th><td></td></tr></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
