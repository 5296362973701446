"""report.json, report.md (markdown.py), report.html (html.py) and terminal tables."""
