"""Gunicorn's settings for this app (`make serve`, `make loadtest`, the README's production recipe).

Gunicorn reads this file by itself when started from the repository's root; the Makefile names it anyway
(`--config gunicorn.conf.py`). Settings given on the command line (`--workers`, `--bind`,
`--access-logfile`...) override the ones here.
"""

from admin_app import access_logs

# The access log, on stdout unless `--access-logfile` names a file: gunicorn writes none by default. Its lines
# carry the request line, the path, the query and the Referer, where an email link's token would be.
accesslog = "-"

# Installed in the master, before the workers fork and before any of them loads the app: every access log line,
# the first one included, goes through the filter. The app factory installs it too (for `flask run`'s Werkzeug
# log, and for a gunicorn started without this file).
access_logs.install()
