"""Command-line tools. ``codette-ws-test`` (:mod:`.ws_test`) checks a running server."""
