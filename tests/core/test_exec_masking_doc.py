"""What the README says about `cockpit exec`'s masking is what the redactor does: it hides a
secret's exact value, not a value the command derived from it."""

from __future__ import annotations

import base64
from pathlib import Path

from cockpit.redaction import MASK, REDACTOR, redact

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_says_a_transformed_secret_can_still_be_printed():
    text = " ".join(README.read_text().split())
    assert ("Masking hides the exact values of the environment's secrets; a command that "
            "transforms a secret (a slice, a reversal, an encoding) can still print it, since "
            "`exec` runs your code with the secrets.") in text


def test_masking_hides_the_exact_value_only():
    secret = "s3cr3t-exec-value-42"
    REDACTOR.add(secret)
    try:
        assert redact(f"DATABASE_PASSWORD={secret}") == f"DATABASE_PASSWORD={MASK}"
        for derived in (secret[:10], secret[::-1], base64.b64encode(secret.encode()).decode()):
            assert redact(derived) == derived  # what the README warns about
    finally:
        REDACTOR.clear()
