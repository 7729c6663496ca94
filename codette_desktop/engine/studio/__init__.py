"""Studio tools behind the DAW frontend's REST routes: pure functions, dict in, dict out.

No I/O beyond reading the shipped reference tables once (``resources/reference``), no
asyncio, no web framework. Each module is one tool; the route it serves is in its
docstring:

- ``delay_sync.divisions`` — ``GET /api/analysis/delay-sync``
- ``suggestions.suggest`` — ``POST /codette/suggest``
- ``genre.detect_genre`` — ``POST /api/analysis/detect-genre``
- ``ear_training.exercises`` — ``GET /api/analysis/ear-training``
- ``checklist.production_checklist`` — ``GET /api/analysis/production-checklist``
- ``instrument.instrument_info`` — ``GET /api/analysis/instrument-info``
- ``session_review.review`` — ``POST /codette/analyze`` (bodies without audio)
- ``quantum_state.quantum_state`` — the ``quantum_state`` of ``GET /codette/status``

Helpers: ``reference`` (strict table reading), ``instrument_table`` (track roles and
frequency facts), ``kb_picks`` (quoting knowledge entries), ``parameters`` (starting
values in a guidance line), ``faders``, ``chains``, ``routing`` and ``review_notes``
(the parts of a session review), ``pitch`` and ``text``.

Errors: bad input raises ``ProtocolError("invalid_field", field=...)`` naming the field
and the valid values; a malformed reference table raises ``ConfigError``.
"""
