"""``facepart report``: one self-contained HTML page that shows what an annotation run produced.

The model coloured by part from five sides, vertices per part, quality figures,
the vertices worth a second look, the confidence histogram, the held-out Part
IoU, the convergence curve, the parser's skipped views and the run settings.
Every image is embedded as a base64 PNG: the page needs no network and no
other file, and prints.
"""

from .page import REPORT_FILE, build_report, check_report_options, recorded_model, write_report

__all__ = ["REPORT_FILE", "build_report", "check_report_options", "recorded_model", "write_report"]
