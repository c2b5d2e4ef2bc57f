"""Hardcoded credentials: gitleaks' and detect-secrets' rules, with their false-positive filters.

A `Leak` keeps the value only in a private, unrepresented field so the fixer can move it to an
env var or the keyring; nothing that renders a leak (messages, `to_dict`, repr) shows it.

Each leak also says how exposed it is (`Leak.exposure`): a credential in server code is an
error; a browser-public key (a Firebase web config, a Stripe publishable key, a Google key in
client code, a NEXT_PUBLIC_/VITE_ value) and anything in test code or fixtures (tests/,
__tests__, *.test.*, *_test.go, conftest.py, fixtures/, testdata/) is info at most, and the
fixer never rewrites either.

Why not detect-secrets (PyPI `detect-secrets` 1.5.0, Yelp) as the engine: on the labelled
corpus in tests/scan/leaks_corpus/ its default plugins score precision 0.48 and recall 0.74
(scan --all-files, measured 2026-11-29) against this module's 1.00 / 0.98: it misses literal
JWT signing keys, base64 Kubernetes Secret data, connection-string and Dockerfile ENV
passwords, and flags templated values, docs samples, identifiers and test fixtures. It reports
lines, not the value's offsets the fixer needs to rewrite a literal while keeping the code
parseable, has no notion of browser-public keys or test code, and would be a run-time
dependency of every scan. Its regexes and filters (templated, indirect reference, sequential,
UUID) are adapted here instead (../shared/reference/scan.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# (kind, regex, group holding the value)
_SPECIFIC: list[tuple[str, re.Pattern[str], int]] = [
    ("aws-access-key", re.compile(r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b"), 1),
    ("stripe-secret-key", re.compile(r"\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})\b"), 1),
    # Publishable keys are meant for the browser (Stripe.js); reported as public, never an error.
    ("stripe-publishable-key", re.compile(r"\b(pk_(?:test|live)_[a-zA-Z0-9]{10,99})\b"), 1),
    (
        "openai-api-key",
        re.compile(
            r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{32,}|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})"
        ),
        1,
    ),
    ("anthropic-api-key", re.compile(r"\b(sk-ant-(?:api03|admin01)-[a-zA-Z0-9_-]{80,})"), 1),
    (
        "github-token",
        re.compile(r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_\w{82})\b"),
        1,
    ),
    ("google-api-key", re.compile(r"\b(AIza[\w-]{35})(?![\w-])"), 1),
    ("slack-token", re.compile(r"\b(xox[baprs]-[0-9A-Za-z-]{10,})"), 1),
    # gitleaks `slack-webhook-url`; the whole URL is the credential (anyone can post with it).
    (
        "slack-webhook",
        re.compile(
            r"((?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"[A-Za-z0-9_-]{6,}/[A-Za-z0-9_-]{6,}/[A-Za-z0-9_-]{12,})"
        ),
        1,
    ),
    ("sendgrid-api-key", re.compile(r"\b(SG\.[\w-]{22}\.[\w-]{43})"), 1),
    # gitleaks `npm-access-token`, and any registry token in an .npmrc line.
    ("npm-token", re.compile(r"\b(npm_[A-Za-z0-9]{36})\b"), 1),
    ("npm-token", re.compile(r"(?m):_(?:authToken|auth|password)[ \t]*=[ \t]*([^\s$'\"]{8,})$"), 1),
    # A literal credential in an Authorization header (a dict, a fetch() init, a curl -H).
    (
        "bearer-token",
        re.compile(
            r"(?i)\bauthorization['\"]?[ \t]*[:=,][ \t]*['\"`]?(?:bearer|token|basic)[ \t]+"
            r"([A-Za-z0-9._~+/=-]{16,})['\"`]"
        ),
        1,
    ),
    (
        "private-key",
        re.compile(
            r"(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]{64,}?"
            r"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)"
        ),
        1,
    ),
    (
        "password-in-url",
        re.compile(
            r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?)://[^:@\s/'\"]+:([^@\s/'\"]{3,})@([^/:\s'\"]+)"
        ),
        1,
    ),
    # A literal signing key handed to a JWT library: jwt.sign(payload, "k") (jsonwebtoken),
    # jwt.encode(payload, "k", algorithm=...) / jwt.decode(token, "k", ...) (PyJWT),
    # JWT.encode(payload, 'k', 'HS256') (ruby-jwt), token.SignedString([]byte("k")) (golang-jwt).
    (
        "jwt-signing-key",
        re.compile(
            r"(?i)\bjwt\.(?:sign|verify|encode|decode)\s*\(\s*"
            r"(?:\{[^{}]*\}|\([^()]*\)|\[[^\[\]]*\]|[^,(){}\[\];\n])+?,\s*"
            r"[rbu]?(['\"`])([^'\"`\n\r]{3,200})\1"
        ),
        2,
    ),
    (
        "jwt-signing-key",
        re.compile(r"\.SignedString\(\s*\[\]byte\(\s*(\"|`)([^\"`\n]{3,200})\1\s*\)"),
        2,
    ),
]
# Literal substrings one of which a match of each kind contains: a cheap `in` test before the
# regex runs (Python's re has no literal-prefix scan for patterns that open with \b).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "aws-access-key": ("AKIA", "ASIA", "A3T", "ABIA", "ACCA"),
    "stripe-secret-key": ("sk_", "rk_"),
    "stripe-publishable-key": ("pk_",),
    "openai-api-key": ("sk-",),
    "anthropic-api-key": ("sk-ant-",),
    "github-token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "google-api-key": ("AIza",),
    "slack-token": ("xox",),
    "slack-webhook": ("hooks.slack.com",),
    "sendgrid-api-key": ("SG.",),
    "npm-token": ("npm_", ":_auth", ":_password"),
    "bearer-token": ("uthorization", "UTHORIZATION"),
    "private-key": ("PRIVATE KEY",),
    "password-in-url": ("://",),
    "jwt-signing-key": ("jwt.", "JWT.", "Jwt.", "SignedString"),
}
# Kinds whose literal is a credential by its name in the code, not by its shape: the fixer
# names the env var after the library's convention.
_NAMED_KINDS = {"jwt-signing-key": "JWT_SECRET"}
# Kinds that identify a credential by shape alone (a test fixture holding one is still worth a
# note); the keyword rules (api-key, password, token, secret...) are not among them.
SHAPED_KINDS = frozenset(kind for kind, _, _ in _SPECIFIC) | {"firebase-web-api-key"}

_KEYWORD = re.compile(r"(?i)key|secret|token|passw|pwd|credential")
_NAME = (
    r"(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|credentials?|"
    r"auth[_-]?key|private[_-]?key|access[_-]?key|signing[_-]?key)"
)
# NAME [quote] (= | : | => | :=) quote VALUE quote
_GENERIC = re.compile(
    r"(?i)(?<![\w.-])([\w.-]*"
    + _NAME
    + r"[\w-]*)['\"]?\]?[ \t]*(?::[ \t]*[A-Za-z_][\w.<>|\[\]]*[ \t]*)?(?::=|=>|=|:)[ \t]*"
    r"(?:[rbuf]{0,2})(['\"`])([^'\"`\n\r]{8,200})\2"
)
_DOTENV = re.compile(
    r"(?m)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(['\"]?)([^\s'\"#]{6,})\2"
)
_IDENTIFIER = re.compile(r"^[a-z]+(?:[_.:][a-z]+)+$|^[A-Z]+(?:_[A-Z]+)+$")
_SECRETISH_NAME = re.compile(r"(?i)" + _NAME + r"|_KEY$|^KEY$")

_NAME_EXCLUDE = re.compile(
    r"(?i)(?:_|-|\b)(?:url|uri|path|file|dir|name|env|var|header|field|length|len|type|id|"
    r"endpoint|prefix|suffix|format|pattern|regex|label|placeholder|input|param|hint|size|"
    r"expiry|expires|ttl|count|min|max|scope|digest|version|kind|mode|store|backend|service|"
    r"namespace|annotation|algorithm|alg|method|strategy|provider|source|location)$|"
    r"public|publishable|^csrf|token_?url|"
    r"^(?:password|passwd)_?(?:reset|confirm|change|hash)|_?(?:keys?|tokens?)_?(?:count|list)$"
)
_PLACEHOLDER = re.compile(
    r"(?i)your|xxx|changeme|change[_-]?me|change[_-]?this|example|placeholder|dummy|sample|"
    r"insert|replace|todo|fixme|redacted|fake|mock|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%\(|%s|"
    r"^\$|^[{(\[]|^(?:none|null|nil|true|false|undefined|secret|password|token|test|testing|"
    r"dev|development|local|default|empty|unset|string|value)$|^process\.env|^os\.environ|"
    r"^ENC\[|^\$ANSIBLE_VAULT"  # encrypted in place (sops, ansible-vault): safe to commit
)
# `example_token = "eyJ..."`, `SAMPLE_API_KEY`, `fake_password`: named as not a real one.
_PLACEHOLDER_NAME = re.compile(r"(?i)example|sample|dummy|fake|mock|placeholder")
_URL_LOCAL_HOSTS = re.compile(
    r"(?i)^(?:localhost|127\.0\.0\.1|0\.0\.0\.0|db|database|postgres|"
    r"postgresql|mysql|mariadb|redis|mongo|mongodb|rabbitmq|host|hostname)$"
)
_WEAK_WORDS = frozenset(
    {
        "postgres",
        "password",
        "pass",
        "secret",
        "root",
        "admin",
        "example",
        "changeme",
        "user",
        "mysql",
        "redis",
        "guest",
        "test",
        "pw",
    }
)

PLACEHOLDER_FILES = re.compile(
    r"(?i)(?:^|/)\.env\.(?:example|sample|template|dist|defaults?)$|"
    r"\.(?:example|sample|template|tmpl|tpl)$"
)
DOTENV_FILE = re.compile(r"(?:^|/)\.env(?:\.[\w-]+)?$")
# Files of `NAME = value` / `name: value` lines whose values are not quoted.
_ASSIGN_FILE = re.compile(r"(?i)\.(?:ini|cfg|conf|properties)$")
_YAML_FILE = re.compile(r"(?i)\.ya?ml$")

# Test code and fixtures: a credential there is test data (info at most, never moved by --fix).
TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|__tests__|__mocks__|__fixtures__|spec|specs|e2e|cypress|fixtures?|"
    r"testdata|test_data|testing)/|"
    r"(?:^|/)(?:test_[^/]*\.py|[^/]*_test\.(?:py|go|rb|exs?)|conftest\.py|[^/]*_spec\.rb|"
    r"[^/]*\.(?:test|spec|e2e|stories)\.[cm]?[jt]sx?)$|(?:^|/)\.env\.test(?:\.local)?$"
)
# Settings for local development only, by the frameworks' conventions (Django split settings,
# Rails environments, .env.development, appsettings.Development.json): production loads others.
DEV_PATH = re.compile(
    r"(?i)(?:^|/)settings/(?:dev|development|local)\w*\.py$|"
    r"(?:^|/)settings_(?:dev|development|local)\.py$|"
    r"(?:^|/)config/environments/development\.rb$|(?:^|/)appsettings\.Development\.json$|"
    r"(?:^|/)\.env\.development(?:\.local)?$|"
    r"(?:^|/)config/(?:development|dev|local)\.(?:[cm]?js|json|ya?ml)$"
)
# Variables a bundler inlines into the browser bundle: public by design.
PUBLIC_ENV_NAME = re.compile(
    r"^(?:NEXT_PUBLIC_|VITE_|REACT_APP_|EXPO_PUBLIC_|GATSBY_|NUXT_PUBLIC_|PUBLIC_|VUE_APP_|"
    r"STORYBOOK_)"
)
_CLIENT_EXT = (".jsx", ".tsx", ".vue", ".svelte", ".astro", ".html", ".htm")
_JS_EXT = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")
_CLIENT_DIR = re.compile(
    r"(?:^|/)(?:src|public|static|assets|components|pages|client|frontend|web|www|ui)/"
)
_SERVER_PATH = re.compile(
    r"(?:^|/)(?:server|api|backend|functions|lambda|routes|controllers|middlewares?|cmd|"
    r"internal|workers?|jobs)/|(?:^|/)(?:server|app|index|main|worker)\.[cm]?[jt]s$|"
    r"(?:^|/)(?:src/)?app/(?:.+/)?route\.[jt]sx?$|(?:^|/)middleware\.[jt]s$"
)
_SERVER_SIGNAL = re.compile(
    r"""require\(\s*['"](?:express|fastify|koa|hapi|http|https|fs|child_process|"""
    r"""firebase-admin|pg|mysql2?|mongoose)['"]|"""
    r"""from\s+['"](?:express|fastify|koa|node:[\w/]+|fs|http|https|child_process|"""
    r"""firebase-admin(?:/[\w-]+)?|next/server|server-only|pg|mongoose)['"]|"""
    r"""\bprocess\.env\.(?!NEXT_PUBLIC_|REACT_APP_|VITE_|EXPO_PUBLIC_|GATSBY_|NODE_ENV\b)\w|"""
    r"""\.listen\(|createServer\(|^\s*['"]use server['"]""",
    re.M,
)
_CLIENT_SIGNAL = re.compile(
    r"""^\s*['"]use client['"]|\bimport\.meta\.env\b|"""
    r"""from\s+['"](?:react|react-dom(?:/client)?|vue|svelte|solid-js|preact|@angular/core|"""
    r"""firebase/(?:app|auth|firestore|analytics|storage|database|messaging|functions))['"]|"""
    r"""\b(?:document|window|localStorage|sessionStorage|navigator)\.""",
    re.M,
)
# A Firebase web config object: apiKey next to these keys (the console prints them together).
_FIREBASE_NEIGHBOUR = re.compile(r"\b(?:authDomain|projectId|messagingSenderId|storageBucket)\b")


@dataclass
class Leak:
    kind: str
    path: str
    line: int
    name: str | None  # the variable / key it is assigned to, when there is one
    start: int  # offsets of the value in the file text
    end: int
    quoted: bool  # the value is an entire string literal (the fixer may replace it)
    value: str = field(repr=False, compare=False, default="")
    # "secret": a credential in code that runs on a server (an error);
    # "public": a browser-public key, shipped to every visitor by design (info at most);
    # "test": in test code or a test fixture (info at most, never rewritten by --fix);
    # "dev": a keyword match in development-only settings (info at most, never rewritten).
    exposure: str = "secret"
    why: str = ""  # for public/test: why it is not an error (never holds the value)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def severity(self) -> str:
        """"error" for a secret, "info" for a browser-public key or a test fixture."""
        return "error" if self.exposure == "secret" else "info"

    @property
    def shaped(self) -> bool:
        """Found by the value's shape (a provider's key format), not only by a keyword."""
        return self.kind in SHAPED_KINDS

    def label(self) -> str:
        from cockpit.redaction import MASK

        return f"{self.name} = {MASK}" if self.name else MASK


def entropy(value: str) -> float:
    """Shannon entropy of `value` in bits per character (0.0 for an empty string)."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_placeholder(value: str) -> bool:
    """A value that stands for a secret rather than being one: `<token>`, `${X}`, `changeme`,
    `xxxx`, `abcdef...`, shorter than 6 characters (detect-secrets' templated/sequential filters,
    gitleaks' stopwords)."""
    v = value.strip()
    if len(v) < 6 or _PLACEHOLDER.search(v):
        return True
    if len(set(v)) <= 2:
        return True
    return _sequential(v)


def _sequential(v: str) -> bool:
    low = v.lower()
    return any(
        low in seq
        for seq in (
            "abcdefghijklmnopqrstuvwxyz",
            "0123456789012345678901234",
            "qwertyuiopasdfghjklzxcvbnm",
        )
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _name_excluded(name: str) -> bool:
    """`TOKEN_URL`, `secretName`, `passwordField`, `publicKey`: names that hold no credential."""
    return bool(_NAME_EXCLUDE.search(name) or _NAME_EXCLUDE.search(_snake(name)))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _assigned_name(text: str, start: int) -> str | None:
    """`NAME = "..."`, `name: "..."`, `const name = '...'` on the same line before the value."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    m = re.search(r"([A-Za-z_][\w.-]*)['\"]?\s*(?::=|=>|=|:)\s*[rbuf]{0,2}['\"`]?$", before)
    if m:
        return m.group(1).rsplit(".", 1)[-1]
    m = re.search(
        r"(?:getenv|get|environ\.get|env)\(\s*['\"]([A-Za-z_]\w*)['\"]\s*,\s*['\"]?$", before
    )
    return m.group(1) if m else None


def _is_quoted(text: str, start: int, end: int) -> bool:
    if start == 0 or end >= len(text):
        return False
    q = text[start - 1]
    return q in "'\"`" and text[end] == q


def is_client_code(rel: str, text: str) -> bool:
    """Code that runs in the browser (its literals ship to every visitor).

    True for markup and component files (.html, .jsx/.tsx, .vue, .svelte, .astro) and for
    JavaScript/TypeScript that says so ("use client", `import.meta.env`, imports of react/vue/
    svelte or the Firebase web SDK, `window.`/`document.`) or lives in a front-end folder
    (src/, public/, components/, pages/...) without any server signal (express, node:fs,
    firebase-admin, a non-public `process.env.X`, `.listen(`, "use server"). Next.js server
    files (pages/api/, app/**/route.js, middleware, server components without "use client")
    are server code.
    """
    if not rel.endswith(_CLIENT_EXT + _JS_EXT):
        return False
    if rel.endswith((".html", ".htm")):
        return True
    if _SERVER_SIGNAL.search(text) or re.search(r"(?:^|/)pages/api/", rel):
        return False
    if re.search(r"""^\s*['"]use client['"]""", text, re.M):
        return True
    if re.search(r"(?:^|/)(?:src/)?app/", rel) and re.search(r"['\"]next[/'\"]", text):
        return False  # a Next.js server component
    if _SERVER_PATH.search(rel):
        return bool(_CLIENT_SIGNAL.search(text)) and not rel.endswith(("server.js", "server.ts"))
    return bool(
        rel.endswith(_CLIENT_EXT) or _CLIENT_SIGNAL.search(text) or _CLIENT_DIR.search(rel)
    )


def _firebase_config(text: str, start: int) -> bool:
    """The value at `start` is the apiKey of a Firebase web config (authDomain/projectId... in
    the same object, i.e. within a few lines)."""
    if not re.search(r"apiKey['\"]?\s*[:=]\s*['\"`]?$", text[max(0, start - 40) : start]):
        return False
    lo = text.rfind("{", 0, start)
    hi = text.find("}", start)
    lo = max(lo, start - 400) if lo >= 0 else max(0, start - 400)
    hi = min(hi, start + 600) if hi >= 0 else start + 600
    return bool(_FIREBASE_NEIGHBOUR.search(text[lo:hi]))


def _classify(leak: Leak, text: str) -> Leak:
    """Set `exposure` (and `why`) from where the leak sits: test code, or a browser-public key."""
    if TEST_PATH.search(leak.path):
        leak.exposure, leak.why = "test", "in test code or a test fixture"
        return leak
    if DEV_PATH.search(leak.path) and not leak.shaped:
        # e.g. Django's `django-insecure-...` key in settings/development.py; a provider-shaped
        # key (sk_live_..., AKIA...) there is still a live credential and stays an error.
        leak.exposure = "dev"
        leak.why = "in development-only settings that production does not load"
        return leak
    public_name = bool(leak.name and PUBLIC_ENV_NAME.match(leak.name))
    if leak.kind == "stripe-publishable-key":
        leak.exposure = "public"
        leak.why = "a Stripe publishable key is meant for the browser"
    elif leak.kind == "google-api-key" and _firebase_config(text, leak.start):
        leak.kind, leak.exposure = "firebase-web-api-key", "public"
        leak.why = (
            "a Firebase web config identifies the project and is public by design; "
            "restrict the key (HTTP referrers, APIs) in the Google Cloud console"
        )
    elif leak.kind == "google-api-key" and (
        public_name or is_client_code(leak.path, text)
    ):
        leak.exposure = "public"
        leak.why = (
            "a browser key ships to every visitor; restrict it (HTTP referrers, APIs) in the "
            "Google Cloud console"
        )
    elif public_name and not leak.shaped:
        leak.exposure = "public"
        leak.why = f"{leak.name} is inlined into the browser bundle: it is public by design"
    return leak


def _k8s_secret_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the `data:`/`stringData:` blocks of every `kind: Secret` document."""
    spans = []
    docs = [m.start() for m in re.finditer(r"(?m)^---[^\n]*$", text)]
    bounds = list(zip([0, *docs], [*docs, len(text)], strict=True))
    for lo, hi in bounds:
        doc = text[lo:hi]
        if not re.search(r"(?m)^kind:[ \t]*['\"]?Secret['\"]?[ \t]*(?:#.*)?$", doc):
            continue
        for m in re.finditer(r"(?m)^(?:stringData|data):[ \t]*(?:#.*)?\n", doc):
            end = re.search(r"(?m)^\S", doc[m.end() :])
            spans.append((lo + m.start(), lo + m.end() + (end.start() if end else len(doc))))
    return spans


def _sealed_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the `encryptedData:` blocks (Bitnami SealedSecret): encrypted values."""
    spans = []
    for m in re.finditer(r"(?m)^([ \t]*)encryptedData:[ \t]*\n", text):
        indent = len(m.group(1))
        end = re.search(rf"(?m)^[ \t]{{0,{indent}}}\S", text[m.end() :])
        spans.append((m.start(), m.end() + (end.start() if end else len(text))))
    return spans


_YAML_KV = re.compile(
    r"(?m)^[ \t]*(?:-[ \t]+)?([A-Za-z_][\w.-]*)[ \t]*:[ \t]+"
    r"(?:(['\"])([^'\"\n]*)\2|([^\s'\"#{\[|>&*!][^\s#]*))[ \t]*(?:#.*)?$"
)
_YAML_LIST_ENV = re.compile(r"(?m)^[ \t]*-[ \t]+['\"]?([A-Za-z_]\w*)=([^\s'\"#]+)['\"]?[ \t]*$")
_ASSIGN = re.compile(
    r"(?m)^[ \t]*([A-Za-z_][\w.-]*)[ \t]*[=:][ \t]*(['\"]?)([^\s'\"#;]{6,})\2[ \t]*$"
)


def _looks_random(value: str, floor: float = 3.0) -> bool:
    """Not a word or an identifier (`db-password`, `my_app.key`), and entropy >= floor."""
    if entropy(value) < floor or _IDENTIFIER.match(value):
        return False
    return not re.fullmatch(r"[a-z]+(?:[-_.][a-z]+)*", value)


def _yaml_leaks(rel: str, text: str, taken: dict[int, Leak]) -> None:
    """Unquoted values in YAML: every entry of a Kubernetes Secret's data/stringData (data
    values are base64: judged decoded), and secret-named keys elsewhere (compose environment,
    Helm values, CI files)."""
    spans = _k8s_secret_spans(text)
    sealed = _sealed_spans(text)
    for m in _YAML_KV.finditer(text):
        name = m.group(1)
        grp = 3 if m.group(2) else 4
        raw = m.group(grp)
        start, end = m.span(grp)
        if _overlaps(taken, start, end) or not raw:
            continue
        if any(a <= start < b for a, b in sealed):
            continue  # a SealedSecret's encryptedData: ciphertext, made to be committed
        in_secret = next((s for s in spans if s[0] <= start < s[1]), None)
        if in_secret is not None:
            value = raw
            if text.startswith("data:", in_secret[0]):
                value = _b64(raw)
                if value is None:
                    continue
            if is_placeholder(value) or "{{" in value or _NAME_EXCLUDE.search(_snake(name)):
                continue
            if not (_SECRETISH_NAME.search(name) and len(value) >= 6) and not _looks_random(
                value, 3.5
            ):
                continue  # username, host, database name: configuration, not a credential
            taken[start] = Leak(
                "kubernetes-secret",
                rel,
                _line_of(text, start),
                name,
                start,
                end,
                grp == 3,
                value,
            )
            continue
        if grp == 3:
            continue  # quoted values outside a Secret: the generic rule judges them
        if _secret_named_value(name, raw):
            taken[start] = Leak(
                _generic_kind(name, rel), rel, _line_of(text, start), name, start, end, False, raw
            )
    for m in _YAML_LIST_ENV.finditer(text):
        name, raw = m.group(1), m.group(2)
        start, end = m.span(2)
        if not _overlaps(taken, start, end) and _secret_named_value(name, raw):
            taken[start] = Leak(
                _generic_kind(name, rel), rel, _line_of(text, start), name, start, end, False, raw
            )


_DOCKERFILE = re.compile(r"(?i)(?:^|/)(?:[\w.-]*\.)?(?:dockerfile|containerfile)(?:\.[\w.-]+)?$")
_DOCKER_ENV = re.compile(r"(?im)^[ \t]*(?:ENV|ARG)[ \t]+([^\n]+)$")
_DOCKER_PAIR = re.compile(r"([A-Za-z_]\w*)=(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s\"']*))")


def _dockerfile_leaks(rel: str, text: str, taken: dict[int, Leak]) -> None:
    """`ENV NAME=value` / `ARG NAME=value` / legacy `ENV NAME value` with a secret-named NAME:
    the value is baked into the image's layers and history (BuildKit's SecretsUsedInArgOrEnv)."""
    for m in _DOCKER_ENV.finditer(text):
        body, base = m.group(1), m.start(1)
        pairs = [
            (p.group(1), next(g for g in (2, 3, 4) if p.group(g) is not None), p)
            for p in _DOCKER_PAIR.finditer(body)
        ]
        if not pairs:
            legacy = re.match(r"([A-Za-z_]\w*)[ \t]+(\S+)[ \t]*$", body)
            if legacy:
                pairs = [(legacy.group(1), 2, legacy)]
        for name, grp, pm in pairs:
            value = pm.group(grp)
            start, end = base + pm.start(grp), base + pm.end(grp)
            if value and not _overlaps(taken, start, end) and _secret_named_value(name, value):
                taken[start] = Leak(
                    _generic_kind(name, rel), rel, _line_of(text, start), name, start, end,
                    False, value,
                )


# ADO.NET / JDBC / ODBC connection strings: `Server=...;User Id=...;Password=...;`.
_CONN_PASSWORD = re.compile(r"(?i)(?:^|[;\"'\s])(?:password|pwd)[ \t]*=[ \t]*([^;'\"\s]{4,})")
_CONN_CONTEXT = re.compile(
    r"(?i)\b(?:server|data source|host|user id|uid|database|initial catalog)="
)


def _conn_string_leaks(rel: str, text: str, taken: dict[int, Leak]) -> None:
    for m in _CONN_PASSWORD.finditer(text):
        value = m.group(1)
        start, end = m.span(1)
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        if not _CONN_CONTEXT.search(line) or _overlaps(taken, start, end):
            continue
        if is_placeholder(value) or value.lower() in _WEAK_WORDS or "$" in value:
            continue
        taken[start] = Leak(
            "password-in-connection-string", rel, _line_of(text, start),
            None,
            start, end, False, value,
        )


def _secret_named_value(name: str, value: str) -> bool:
    return bool(
        _SECRETISH_NAME.search(name)
        and not _name_excluded(name)
        and not is_placeholder(value)
        and "$" not in value
        and not value.startswith(("http", "./", "/"))
        and _looks_random(value)
    )


def _b64(raw: str) -> str | None:
    import base64
    import binascii

    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _overlaps(taken: dict[int, Leak], start: int, end: int) -> bool:
    return any(s <= start < leak.end or start <= s < end for s, leak in taken.items())


def find_leaks(rel: str, text: str) -> list[Leak]:
    """Every credential in one file's text, de-duplicated by position, ordered by offset.

    `rel` is the file's path relative to the app root ("/"-separated): it decides test code
    (TEST_PATH), dotenv/YAML/ini handling and placeholder files (.env.example: nothing found).
    Each Leak carries `exposure`: "secret" (an error), "public" (a browser-public key: Firebase
    web config, Stripe publishable key, a Google key in client code, NEXT_PUBLIC_/VITE_...
    values) or "test" (test code and fixtures). The value stays in the unrepresented
    `Leak.value`; nothing else holds it.
    """
    if PLACEHOLDER_FILES.search(rel):
        return []
    found: dict[int, Leak] = {}
    for kind, regex, group in _SPECIFIC:
        if not any(n in text for n in _NEEDLES[kind]):
            continue
        for m in regex.finditer(text):
            value = m.group(group)
            start, end = m.span(group)
            if _overlaps(found, start, end):
                continue
            if kind == "password-in-url":
                host = m.group(2)
                if (
                    _URL_LOCAL_HOSTS.match(host)
                    or value.lower() in _WEAK_WORDS
                    or is_placeholder(value)
                ):
                    continue
            elif kind == "jwt-signing-key":
                # A weak literal ("secret") signs tokens anyone can forge: still reported.
                if re.search(r"\$\{|\{\{|<[^>]*>|%\(|%s|^process\.env", value):
                    continue
            elif kind != "private-key" and is_placeholder(value):
                continue
            elif kind == "bearer-token" and entropy(value) < 3.0:
                continue
            if kind == "aws-access-key" and entropy(value) < 3.0:
                continue
            found[start] = Leak(
                kind,
                rel,
                _line_of(text, start),
                _NAMED_KINDS.get(kind) or _assigned_name(text, start),
                start,
                end,
                _is_quoted(text, start, end),
                value,
            )
    if DOTENV_FILE.search(rel) or _ASSIGN_FILE.search(rel):
        regex = _DOTENV if DOTENV_FILE.search(rel) else _ASSIGN
        for m in regex.finditer(text):
            name, value = m.group(1), m.group(3)
            start, end = m.span(3)
            if _overlaps(found, start, end):
                continue
            if (
                not _SECRETISH_NAME.search(name)
                or _name_excluded(name)
                or is_placeholder(value)
                or entropy(value) < 3.0
            ):
                continue
            found[start] = Leak(
                _generic_kind(name, rel), rel, _line_of(text, start), name, start, end, False, value
            )
    else:
        if _DOCKERFILE.search(rel):
            _dockerfile_leaks(rel, text, found)
        if _YAML_FILE.search(rel):
            _yaml_leaks(rel, text, found)
        if _CONN_CONTEXT.search(text):
            _conn_string_leaks(rel, text, found)
        if _KEYWORD.search(text):
            _generic_leaks(rel, text, found)
    return [_classify(found[k], text) for k in sorted(found)]


def _generic_leaks(rel: str, text: str, found: dict[int, Leak]) -> None:
    for m in _GENERIC.finditer(text):
        name, value = m.group(1), m.group(3)
        start, end = m.span(3)
        if _overlaps(found, start, end):
            continue
        bare = name.strip("'\"").rsplit(".", 1)[-1]
        if _name_excluded(bare) or " " in value.strip() or is_placeholder(value):
            continue
        if _PLACEHOLDER_NAME.search(bare):
            continue
        if entropy(value) < 3.2 or value.count("/") > 2 or value.startswith(("http", "./")):
            continue
        if _IDENTIFIER.match(value):
            continue  # a key name such as "cockpit_secrets_digest", not a credential
        found[start] = Leak(
            _generic_kind(bare, rel), rel, _line_of(text, start), bare, start, end, True, value
        )


def _generic_kind(name: str, rel: str) -> str:
    upper = name.upper()
    if upper == "SECRET_KEY" and (rel.endswith("settings.py") or "/settings/" in rel):
        return "django-secret-key"
    if "PASSW" in upper or "PWD" in upper:
        return "password"
    if "TOKEN" in upper:
        return "token"
    if "SECRET" in upper or "PRIVATE" in upper:
        return "secret"
    if "KEY" in upper:
        return "api-key"
    return "secret"
