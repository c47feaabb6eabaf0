"""The home folder opened for work: settings, the catalog, the asset store and the paths beside them.

Every tool function takes a Workspace; faces open one at their edge and pass it down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tools.assets import AssetStore
from tools.catalog import Catalog
from tools.errors import BadInput
from tools.settings import Settings


@dataclass
class Workspace:
    settings: Settings
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Workspace:
        settings = settings or Settings.from_env()
        home = settings.home
        if home.exists() and not home.is_dir():
            raise BadInput(f"home {home} is a file, not a folder; pass --home DIR")
        try:
            for sub in ("assets", "exports", "index"):
                (home / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"cannot use home folder {home}: {exc.strerror}") from None
        return cls(settings)

    @property
    def home(self) -> Path:
        return self.settings.home

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.home / "catalog.sqlite")

    @cached_property
    def assets(self) -> AssetStore:
        return AssetStore(self.home / "assets")

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "checkpoints.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    def inside_home(self, path: str | Path) -> Path:
        """Resolve a path that must stay inside the home folder (agent-chosen paths); refuse otherwise."""
        resolved = (self.home / path).resolve()
        if not resolved.is_relative_to(self.home.resolve()):
            raise BadInput(f"path {str(path)!r} leaves the home folder; refused")
        return resolved

    def close(self) -> None:
        if "catalog" in self.__dict__:
            self.catalog.close()
        self._closed = True
