"""Reports: the audit's terminal (:mod:`~crmseg.report.terminal`), JSON/CSV
(:mod:`~crmseg.report.files`) and HTML (:mod:`~crmseg.report.html`) renderers over the helpers
of :mod:`~crmseg.report.views`; drift (terminal, HTML, matrices) and rules-diff reports."""
