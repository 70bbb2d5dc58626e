"""Configuration: defaults that need no set-up, a TOML file, and ``MRV_*`` variables.

Precedence (highest first): explicit arguments, ``MRV_*`` environment variables, the
config file (``MRV_CONFIG``, else ``$MRV_HOME/mrv.toml`` if it exists), defaults.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (``"127.0.0.1, 10.0.0.0/8"``); a bare
    address is a network of one. Raises ValueError naming the entry that is neither."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def is_postgres_url(url: str) -> bool:
    """``postgresql://``, ``postgres://`` or ``postgresql+driver://`` (SQLAlchemy's forms)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("jcm-mrv", appauthor=False))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the config file; keys are the setting names without the MRV_ prefix."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        explicit = os.environ.get("MRV_CONFIG")
        home = Path(os.environ.get("MRV_HOME") or default_home())
        path = Path(explicit) if explicit else home / "mrv.toml"
        self._data: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
            # Accept a flat file or one with an [mrv] table.
            self._data = dict(raw.get("mrv", raw))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MRV_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: str | None = None
    database_url: str | None = None  # default: sqlite in MRV_HOME
    ts_backend: Literal["sqlite", "influx", "postgres"] = "sqlite"
    # The postgres backend's database; default: database_url when that is PostgreSQL.
    ts_postgres_url: str | None = None
    ts_sqlite_path: Path | None = None  # default: MRV_HOME/readings.sqlite
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: str = ""
    influx_org: str = "mrv"
    influx_bucket: str = "mrv"

    gateway_client_id: str = "mrv-gateway"
    gateway_batch_size: int = Field(500, ge=1, le=10_000)
    gateway_batch_interval_ms: int = Field(50, ge=1, le=10_000)
    gateway_receive_maximum: int = Field(2000, ge=1, le=65_535)
    gateway_metrics_port: int | None = None
    # The address /metrics listens on; 0.0.0.0 for a Prometheus on another host.
    gateway_metrics_host: str = "127.0.0.1"
    gateway_future_tolerance_s: float = 600.0
    gateway_spool_retry_s: float = 2.0
    gateway_ack_topic: bool = True

    # The proxies whose X-Forwarded-For the API believes (none by default): comma-separated
    # addresses or CIDR networks.
    api_trusted_proxies: str = ""
    # Clients (addresses) the API's failed-login limiter remembers at most.
    api_auth_max_clients: int = Field(10_000, ge=1, le=1_000_000)

    @field_validator("api_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("ts_postgres_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not is_postgres_url(value):
            raise ValueError(f"{value!r} is not a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _ts_backend_has_a_store(self) -> Settings:
        if self.ts_backend == "postgres" and self.effective_ts_postgres_url is None:
            raise ValueError(
                "MRV_TS_BACKEND=postgres needs a PostgreSQL database: set MRV_TS_POSTGRES_URL "
                "(or MRV_DATABASE_URL to a postgresql:// URL, which it then shares)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'mrv.sqlite'}"

    @property
    def effective_ts_path(self) -> Path:
        return self.ts_sqlite_path or self.home / "readings.sqlite"

    @property
    def effective_ts_postgres_url(self) -> str | None:
        """The postgres time-series backend's URL: MRV_TS_POSTGRES_URL, else the
        relational store's when that is PostgreSQL (one database for both), else None."""
        if self.ts_postgres_url:
            return self.ts_postgres_url
        if self.database_url and is_postgres_url(self.database_url):
            return self.database_url
        return None

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.api_trusted_proxies)

    @property
    def spool_path(self) -> Path:
        return self.home / "spool.sqlite"

    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint.parse(
            self.mqtt_url, self.mqtt_username, self.mqtt_password, self.mqtt_ca_file
        )


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    ca_file: str | None = None

    @classmethod
    def parse(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> MqttEndpoint:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"MRV_MQTT_URL: scheme {parsed.scheme!r} must be mqtt or mqtts")
        tls = parsed.scheme in ("mqtts", "ssl")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parsed.username) if parsed.username else username,
            password=unquote(parsed.password) if parsed.password else password,
            ca_file=ca_file,
        )


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
