"""The rendered book as a web site: offline assets (``assets``, ``sphinx_ext``), the
headless-browser check of the built pages (``browser``) and the generated performance page
(``performance``)."""
