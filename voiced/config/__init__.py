"""Settings: config.toml read into frozen dataclasses, checked once at start-up.

Every threshold a user may tune lives here, so a daemon that started is a daemon whose
settings were valid: a bad file fails ``voiced check-config`` and ``voiced serve`` with one
line naming the key, never later inside a call. Secrets are never read from the file; a
setting only names the environment variable (or systemd credential) that holds one.

The sections are in :mod:`.line` (the phone line and its calls) and :mod:`.engines`; reading
and showing the file is :mod:`.file`.
"""

from __future__ import annotations

from .book import (
    BookConfig,
    BusinessConfig,
    CaldavConfig,
    HttpToolConfig,
    ServiceConfig,
    ToolsConfig,
)
from .engines import (
    BrainConfig,
    EspeakConfig,
    GoogleConfig,
    GoogleSttConfig,
    GoogleTtsConfig,
    Intent,
    OpenAIConfig,
    ScriptConfig,
    SttConfig,
    TtsConfig,
    WhisperApiConfig,
    WhisperConfig,
)
from .fields import LANGUAGES
from .file import from_dict, load, render, secret
from .line import (
    BargeInConfig,
    CallConfig,
    EchoConfig,
    FillerConfig,
    FloodConfig,
    IdleConfig,
    LogConfig,
    ServerConfig,
    ShutdownConfig,
    TurnConfig,
    TwilioConfig,
    VadConfig,
)
from .schema import Config

__all__ = [
    "LANGUAGES",
    "BargeInConfig",
    "BookConfig",
    "BrainConfig",
    "BusinessConfig",
    "CaldavConfig",
    "CallConfig",
    "Config",
    "EchoConfig",
    "EspeakConfig",
    "FillerConfig",
    "FloodConfig",
    "GoogleConfig",
    "GoogleSttConfig",
    "GoogleTtsConfig",
    "HttpToolConfig",
    "IdleConfig",
    "Intent",
    "LogConfig",
    "OpenAIConfig",
    "ScriptConfig",
    "ServerConfig",
    "ServiceConfig",
    "ShutdownConfig",
    "SttConfig",
    "ToolsConfig",
    "TtsConfig",
    "TurnConfig",
    "TwilioConfig",
    "VadConfig",
    "WhisperApiConfig",
    "WhisperConfig",
    "from_dict",
    "load",
    "render",
    "secret",
]
