"""Data files shipped with the package (the MCC → category map); read with importlib.resources."""
