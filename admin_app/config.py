"""Configuration: defaults here, secrets and URLs from the environment."""

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from models.operations import UNDO_HOURS

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def development_secret_key(instance: Path = INSTANCE) -> str:
    """Return the development key kept in instance/, creating it once (never committed)."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def trusted_proxies() -> int:
    """TRUSTED_PROXIES: how many reverse proxies stand in front of the app (0 when it faces the clients)."""
    value = os.environ.get("TRUSTED_PROXIES", "0").strip() or "0"
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"TRUSTED_PROXIES must be a number of proxies (0, 1, 2...), not {value!r}")
    return int(value)


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'app.db'}")
    # Heroku-style URLs name the old driver; this project uses psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _limit_storage_options(prefix: str) -> dict[str, object]:
    # Keys stored under our own prefix: clearing the limits (`limiter.reset()`) must not clear other
    # apps' keys on a shared Redis. A Redis that does not answer costs at most a second before the
    # limits fall back to each worker's memory (see extensions.limiter), not a hung login.
    return {"key_prefix": prefix, "socket_connect_timeout": 1, "socket_timeout": 1}


class Config:
    """Settings for `make run` and production; every secret comes from the environment."""

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or development_secret_key()
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        # Links in emails point here; without BASE_URL, at the address `make run` serves (its PORT).
        self.BASE_URL = os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '5000')}").rstrip("/")
        self.MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "console")
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
        # Implicit TLS (SMTPS, usually port 465); either way the certificate and name are verified.
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        # A CA bundle trusted instead of the system's, for a relay with a private certificate.
        self.MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE") or None
        # Seconds a worker holds its claimed emails without renewing: a killed worker's emails go out
        # this long after it died; each send must fit well inside it.
        self.MAIL_CLAIM_LEASE = float(os.environ.get("MAIL_CLAIM_LEASE", "30"))
        # Right-hand side of the Message-ID, stable per email; defaults to BASE_URL's host.
        self.MAIL_MESSAGE_ID_DOMAIN = os.environ.get("MAIL_MESSAGE_ID_DOMAIN") or None
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Mon compte DEFI <no-reply@example.org>")
        redis_url = os.environ.get("REDIS_URL")
        self.RATELIMIT_STORAGE_URI = redis_url or "memory://"
        self.RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "mes-utilisateurs")
        self.RATELIMIT_STORAGE_OPTIONS = _limit_storage_options(self.RATELIMIT_KEY_PREFIX)
        # Background jobs (docs/jobs.md): RQ workers on REDIS_URL in production; without Redis (`make run`),
        # or with JOBS_INLINE=1, a thread of the web process runs the very same jobs.
        inline = _env_bool("JOBS_INLINE", False) or not redis_url
        self.JOBS_BACKEND = os.environ.get("JOBS_BACKEND") or ("thread" if inline else "rq")
        self.JOBS_REDIS_URL = os.environ.get("JOBS_REDIS_URL") or redis_url
        self.JOBS_QUEUE = os.environ.get("JOBS_QUEUE", "mes-utilisateurs-jobs")
        self.JOB_CHUNK_SIZE = int(os.environ.get("JOB_CHUNK_SIZE", "5000"))
        # A worker silent for this long is taken for dead: another one resumes its job after the last chunk.
        self.JOB_LEASE_SECONDS = float(os.environ.get("JOB_LEASE_SECONDS", "30"))
        self.EXPORT_DIR = os.environ.get("EXPORT_DIR") or str(INSTANCE / "exports")
        # "Exporter (CSV)" of every matching user: streamed below this many users, a background job above.
        self.EXPORT_JOB_THRESHOLD = int(os.environ.get("EXPORT_JOB_THRESHOLD", "10000"))
        # "Activer", "Désactiver", "Activer et envoyer un lien…" on every matching user: at once below this many
        # users, a background job above (one operation all the same).
        self.BULK_JOB_THRESHOLD = int(os.environ.get("BULK_JOB_THRESHOLD", "20000"))
        self.EXPORT_RETENTION = timedelta(hours=float(os.environ.get("EXPORT_RETENTION_HOURS", "24")))
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", self.BASE_URL.startswith("https://"))
        # Behind N reverse proxies, the client's address and scheme are read from the last N entries of
        # X-Forwarded-For / X-Forwarded-Proto (what those proxies wrote): the per-IP limits and the audit
        # then see the client. Left at 0 without a proxy: the headers come from the client and would be forged.
        self.TRUSTED_PROXIES = trusted_proxies()
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=float(os.environ.get("SESSION_LIFETIME_HOURS", "12")))
        self.SESSION_IDLE_TIMEOUT = timedelta(minutes=float(os.environ.get("SESSION_IDLE_MINUTES", "60")))
        # How long « Annuler cette opération » stays possible after a bulk action (hours).
        self.OPERATION_UNDO_HOURS = float(os.environ.get("OPERATION_UNDO_HOURS", UNDO_HOURS))
        # Emails a third party can cause (services.email_limits): request acknowledgements, notifications,
        # claims to confirm, forgotten-password links. Per recipient address, and per establishment (SIRET),
        # at most this many an hour and a day; past that they are not sent, silently.
        self.EMAIL_LIMIT_RECIPIENT_HOUR = int(os.environ.get("EMAIL_LIMIT_RECIPIENT_HOUR", "3"))
        self.EMAIL_LIMIT_RECIPIENT_DAY = int(os.environ.get("EMAIL_LIMIT_RECIPIENT_DAY", "10"))
        self.EMAIL_LIMIT_SIRET_HOUR = int(os.environ.get("EMAIL_LIMIT_SIRET_HOUR", "20"))
        self.EMAIL_LIMIT_SIRET_DAY = int(os.environ.get("EMAIL_LIMIT_SIRET_DAY", "50"))
        # A new request joins the notification still waiting in the outbox for the same person if it was
        # written less than this long ago (minutes): one email lists them all.
        self.NOTIFICATION_GROUP_MINUTES = float(os.environ.get("NOTIFICATION_GROUP_MINUTES", "10"))

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = "Europe/Paris"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    EMAIL_LINK_MAX_AGE = timedelta(hours=48)
    MAIL_MAX_ATTEMPTS = 5
    RATELIMIT_HEADERS_ENABLED = True
    # Failed logins: counted per account (known or not) and per IP; a refusal lasts the window.
    LOGIN_LIMIT_PER_ACCOUNT = "5 per 15 minutes"
    LOGIN_LIMIT_PER_IP = "30 per 15 minutes"
    LOGIN_FAILURE_DELAY = 0.5  # seconds added to each failed attempt
    # Not a secret (B105): a rate limit, not a password.
    FORGOT_PASSWORD_LIMIT = "5 per 15 minutes"  # nosec B105
    ACCOUNT_REQUEST_LIMIT = "5 per hour"
    # « Demande de rattachement », logged in: per IP (a shared office) and per account.
    ATTACHMENT_REQUEST_LIMIT_PER_IP = "20 per hour"
    ATTACHMENT_REQUEST_LIMIT_PER_ACCOUNT = "5 per hour"
    # argon2id cost: time (passes), memory (KiB), parallelism; argon2-cffi's recommended defaults.
    ARGON2_COST = (3, 65536, 4)


class TestingConfig(Config):
    """Settings for the test suite: a throw-away database, no real mail."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        # Not a secret (B105): the test suite's own throw-away key.
        self.SECRET_KEY = "test-secret-key"  # nosec B105
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.BASE_URL = "http://localhost"
        self.MAIL_BACKEND = "outbox-only"
        self.RATELIMIT_STORAGE_URI = "memory://"
        # One prefix per test run: runs sharing this machine's Redis never count (nor clear) each other's keys.
        self.RATELIMIT_KEY_PREFIX = self.RUN_PREFIX
        self.RATELIMIT_STORAGE_OPTIONS = _limit_storage_options(self.RUN_PREFIX)
        self.SESSION_COOKIE_SECURE = False
        # Jobs are recorded but run only when a test runs them (or switches on the thread or RQ backend).
        self.JOBS_BACKEND = "off"
        self.EXPORT_DIR = tempfile.mkdtemp(prefix="exports-")

    TESTING = True
    RUN_PREFIX = f"test-{secrets.token_hex(6)}"
    ARGON2_COST = (1, 64, 1)  # hashing is not what the tests measure
    LOGIN_FAILURE_DELAY = 0.0
    __test__ = False  # not a pytest test class, despite its name
