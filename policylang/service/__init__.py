"""The settlement service: ``policylang serve POLICY... [--db URL]``.

HTTP (FastAPI, uvicorn) in ``app``; what a request does in ``engine``; the state in a
database through ``store`` (``store_sqlite``, ``store_postgres``); the audit log in
``audit``.  Needs the ``service`` extra: ``pip install 'policylang[service]'``.
"""
