"""The trading desk in a browser: server-rendered pages under ``/desk/`` over :mod:`engine`.

A shell beside :mod:`api`: :func:`web.app.install_desk` adds the pages, their script and style
sheet to the app that ``powerdesk serve`` runs. Sign-in is a one-time link
(``powerdesk desk url --role ...``) or a pasted API key; the session cookie is bound to that API
key, and every action checks the key's role as the API does (auditors read, traders act).
"""
