import httpx

SLACK_WEBHOOK = "https://hooks.slack.com/services/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"
DOCS_WEBHOOK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def notify(text: str) -> None:
    httpx.post(SLACK_WEBHOOK, json={"text": text})


def alert(text: str) -> None:
    httpx.post("https://hooks.slack.com/services/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", json={"text": text})
