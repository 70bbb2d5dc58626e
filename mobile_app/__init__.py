"""The field app (Kivy) for staff on a tablet with poor connectivity: entries that no
sensor measures, made offline, never lost and never sent twice.

- ``outbox``: the local SQLite outbox and cache; ``sync``: background delivery with
  backoff; ``client``: the HTTP API over urllib.
- ``forms``: the entry forms as data, with the server's checks made offline;
  ``strings``: every visible string; ``photos``: reading and checking photo files.
- ``session``: sign-in and the cached plans; ``signin_code``: the QR sign-in code's
  format; ``qr``: reading QR codes (ZBar); ``style``: colours and the three button kinds;
  ``app``: the screens; ``main``: start-up; ``drive``: simulated touches for tests and
  screenshots; ``audit``: contrast read back from the rendered window (tests);
  ``android/``: buildozer.

It depends on Kivy, plyer, Pillow, pyzbar (QR codes) and the standard library and talks
to the server over HTTP: import-linter forbids it every package of ours but the core's
schemas (it uses none today). ``mrv token create --qr`` imports ``signin_code``
(standard library only) so that the CLI and the app share one format.
"""
