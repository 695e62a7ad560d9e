"""gunicorn settings (read from the working directory: `gunicorn wsgi:app` run from the repo).

Oversized requests must answer problem+json, never an HTML page. gunicorn's limits are set
ABOVE the app's (api/request_limits.py: 4 KiB request target, 8 KiB per header field,
100 fields, 32 KiB of headers), so requests over ours reach the app and get its 414/431;
requests beyond even these limits are refused by gunicorn, through `write_problem`.
Command-line flags (-w, -b, --timeout) still apply on top of this file.
"""

from gunicorn import util

from api.request_limits import write_problem

# 8190 is the most gunicorn allows for a request line (0 would mean unlimited, read whole).
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 16384

# gunicorn's own refusals (malformed or oversized requests) as problem+json: the workers
# call `util.write_error` through the module, so replacing it here reaches every worker.
util.write_error = write_problem
