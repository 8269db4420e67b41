"""Bundled panels (see PROVENANCE.md): the files read by :mod:`jaxpanel.datasets`."""
