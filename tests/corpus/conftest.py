"""The corpus apps carry their own tests (pytest, node --test, go test): they run inside each
app's copy by tests/corpus/test_corpus.py, never collected as part of cockpit's suite."""

collect_ignore_glob = ["apps/*"]
