"""The revisions, applied in order by `rewards db upgrade`."""
