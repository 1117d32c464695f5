"""Dagster resources: the source MongoDB, the analytics PostgreSQL and the pseudonym key.

Each resource reads its settings from the contract's environment variables (see
:func:`build_resources`); when ``SNU_MONGO_URI`` / ``SNU_POSTGRES_URL`` are unset it starts
(or reuses) the embedded servers of :mod:`snu_assets.io.embedded`. The loading itself is
:mod:`snu_assets.io.postgres`.

A resource's docstring and its fields' descriptions are what the UI's Resources page shows:
they are written in French, like everything the ministry reads there.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict

import orjson
import psycopg
import pymongo
import sqlalchemy as sa
from dagster import ConfigurableResource, EnvVar, Failure, InitResourceContext
from psycopg.types.json import set_json_loads
from pydantic import Field, PrivateAttr
from pymongo.errors import OperationFailure, PyMongoError

from snu_assets import settings
from snu_assets.core.privacy.pseudonym import MissingPseudonymKey, Pseudonymizer, demo_key
from snu_assets.core.publication.grain import LEVELS
from snu_assets.core.publication.series import Rules
from snu_assets.io import embedded
from snu_assets.io.postgres import (
    SQL_DIR,
    BeforeSwap,
    ServerUnavailable,
    Slice,
    ddl_version,
    ensure_schema,
    qualified,
    redact_url,
    replace_slices,
    replace_with_sql,
    scalar,
    sql_text,
    stop_backend,
)


class MongoResource(ConfigurableResource):
    """Le serveur MongoDB source (SNU_MONGO_URI, base SNU_MONGO_DB) ; le serveur SecantusDB
    embarqué quand SNU_MONGO_URI n'est pas défini."""

    uri: str | None = Field(
        default=None,
        description="URI de connexion à MongoDB (SNU_MONGO_URI) ; vide : le serveur "
        "SecantusDB embarqué.",
    )
    database: str = Field(default="snu", description="Nom de la base MongoDB lue (SNU_MONGO_DB).")
    timeout_ms: int = Field(
        default=10_000,
        description="Délai d'attente de la réponse du serveur, en millisecondes.",
    )

    _client: Any = PrivateAttr(default=None)

    @property
    def is_embedded(self) -> bool:
        return not self.uri

    def resolved_uri(self) -> str:
        return self.uri or embedded.ensure_mongo().uri

    def client(self) -> pymongo.MongoClient:
        if self._client is None:
            uri = self.resolved_uri()
            client: pymongo.MongoClient = pymongo.MongoClient(
                uri,
                serverSelectionTimeoutMS=self.timeout_ms,
                tz_aware=False,
                appname="snu-assets",
            )
            try:
                client.admin.command("ping")
            except OperationFailure as exc:
                client.close()
                raise ServerUnavailable(
                    f"MongoDB at {redact_url(uri)} refused the command (code {exc.code}): "
                    "check the credentials and roles in SNU_MONGO_URI."
                ) from None
            except PyMongoError as exc:
                client.close()
                raise ServerUnavailable(
                    f"MongoDB at {redact_url(uri)} did not answer within {self.timeout_ms} ms "
                    f"({type(exc).__name__}). Check that the server runs and that SNU_MONGO_URI "
                    "is right; unset SNU_MONGO_URI to use the embedded SecantusDB server."
                ) from None
            self._client = client
        return self._client

    def db(self) -> pymongo.database.Database:
        return self.client()[self.database]

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class PostgresResource(ConfigurableResource):
    """Le PostgreSQL d'analyse (SNU_POSTGRES_URL, SNU_POSTGRES_SCHEMA) ; le PostgreSQL 18
    embarqué quand SNU_POSTGRES_URL n'est pas défini. Moteur SQLAlchemy sur psycopg 3,
    chargements en masse par COPY."""

    url: str | None = Field(
        default=None,
        description="URL de connexion à PostgreSQL (SNU_POSTGRES_URL) ; vide : le "
        "PostgreSQL 18 embarqué.",
    )
    schema_name: str = Field(
        default="snu", description="Schéma qui contient les tables (SNU_POSTGRES_SCHEMA)."
    )
    connect_timeout_s: int = Field(
        default=10, description="Délai d'attente d'une connexion, en secondes."
    )

    _engine: Any = PrivateAttr(default=None)

    @property
    def is_embedded(self) -> bool:
        return not self.url

    def resolved_url(self) -> str:
        url = self.url or embedded.postgres_uri()
        return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)

    @property
    def schema(self) -> str:  # type: ignore[override]  # shadows pydantic's deprecated schema()
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.schema_name):
            raise ValueError(f"schema {self.schema_name!r} is not a plain lower-case identifier")
        return self.schema_name

    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.resolved_url().replace("postgresql://", "postgresql+psycopg://", 1)
            self._engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                connect_args={
                    "connect_timeout": self.connect_timeout_s,
                    "application_name": "snu-assets",
                },
            )
        return self._engine

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A pooled psycopg connection (not autocommit: wrap work in ``conn.transaction()``)."""
        try:
            raw = self.engine().raw_connection()
        except (sa.exc.OperationalError, psycopg.OperationalError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise ServerUnavailable(
                f"PostgreSQL at {redact_url(self.resolved_url())} refused the connection "
                f"({redact_url(str(cause).splitlines()[0] if str(cause) else type(cause).__name__)})."
                " Check that the "
                "server runs and SNU_POSTGRES_URL is right; unset it to use the embedded "
                "PostgreSQL."
            ) from None
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        try:
            set_json_loads(orjson.loads, conn)  # JSON columns parsed with orjson: much faster
            yield conn
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        except BaseException:
            # interrupted (run terminated or timed out, SIGTERM/SIGINT of the step): the
            # statement may still run, or wait for a lock, in the server
            stop_backend(raw)
            raise
        finally:
            raw.close()

    def sql(self, path: Path | str, **fragments: Path) -> str:
        """The text of an SQL file (a name alone: one of :mod:`snu_assets.io.postgres`'s DDL
        and role files), ``{schema}`` and fragments filled in."""
        return sql_text(
            path if isinstance(path, Path) else SQL_DIR / path, self.schema, **fragments
        )

    def ddl_version(self, language: str | None = None) -> str:
        return ddl_version(language)

    def ensure_schema(self, language: str | None = None) -> None:
        """Create the schema and every table, with their descriptions (PostgreSQL comments)
        in ``language`` (default ``SNU_REPORT_LANGUAGE``), once per version of the DDL files,
        descriptions and language."""
        ensure_schema(self.connect, self.schema, language)

    def replace_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        delete_where: str,
        params: dict,
        upsert_key: str | None = None,
    ) -> int:
        """Atomically replace the rows of ``table`` matching ``delete_where`` by ``rows``."""
        return self.replace_slices([Slice(table, columns, rows, delete_where, params, upsert_key)])[
            0
        ]

    def replace_slices(
        self, slices: Sequence[Slice], before_swap: BeforeSwap | None = None
    ) -> list[int]:
        """Atomically replace a slice of one or more tables (:func:`io.postgres.replace_slices`;
        ``before_swap`` may refuse, nothing written)."""
        with self.connect() as conn:
            return replace_slices(conn, self.schema, slices, before_swap)

    def table(self, name: str) -> str:
        return qualified(self.schema, name)

    def replace_with_sql(self, table: str, sql_text: str, delete_where: str, params: dict) -> int:
        """Atomically replace a slice of ``table`` by what an ``insert ... select`` produces."""
        with self.connect() as conn:
            return replace_with_sql(conn, self.table(table), sql_text, delete_where, params)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class PseudonymResource(ConfigurableResource):
    """La clé secrète du hachage à clé qui remplace les identifiants MongoDB
    (SNU_PSEUDONYM_KEY).

    Hors de la démonstration embarquée, la clé est obligatoire : une exécution sur un vrai
    PostgreSQL sans elle est refusée, car une clé jetable rendrait les pseudonymes
    impossibles à joindre d'une exécution à l'autre.
    """

    key: str | None = Field(
        default=None,
        description="Clé secrète des pseudonymes (SNU_PSEUDONYM_KEY), obligatoire hors de la "
        "démonstration embarquée ; montrée par le nom de sa variable, jamais par sa valeur.",
    )

    def pseudonymizer(self, postgres: PostgresResource, verify: bool = True) -> Pseudonymizer:
        """The pseudonymizer of this key; with ``verify`` (every caller that writes or compares
        pseudonyms), refused unless it is the key that wrote ``postgres``' schema (its
        fingerprint recorded there by the first run: :meth:`verify_key`)."""
        if self.key:
            pseudonymizer = Pseudonymizer(self.key)
        elif not postgres.is_embedded:
            raise MissingPseudonymKey(
                "SNU_PSEUDONYM_KEY is not set: it is required when SNU_POSTGRES_URL points at a "
                "real PostgreSQL. Set it to a long random secret kept outside the database "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        else:
            pseudonymizer = Pseudonymizer(demo_key(settings.state_dir()))
        if verify:
            self.verify_key(pseudonymizer, postgres)
        return pseudonymizer

    @staticmethod
    def verify_key(pseudonymizer: Pseudonymizer, postgres: PostgresResource) -> None:
        """Record the key's fingerprint when the schema is first written; refuse another key
        (pseudonyms that would join with nothing), naming both fingerprints."""
        postgres.ensure_schema()
        with postgres.connect() as conn:
            recorded = scalar(
                conn,
                postgres.sql("pseudonym_key_record.sql"),
                {"fingerprint": pseudonymizer.fingerprint},
            )
        if recorded != pseudonymizer.fingerprint:
            raise Failure(
                description=f"Refused: SNU_PSEUDONYM_KEY is not the key that wrote schema "
                f"'{postgres.schema}'. This run's key has fingerprint {pseudonymizer.fingerprint}; "
                f"the schema's pseudonyms were written with the key of fingerprint {recorded} "
                f"(table {postgres.schema}.pseudonym_key). Nothing was written: its ids would join "
                "with none of the rows in place. Set the key that wrote the schema (check the "
                "secret providing SNU_PSEUDONYM_KEY: a staging key, a re-generated one); to "
                "replace the key, rebuild every table under the new one (docs/operations.md, "
                "'Rotating the pseudonym key').",
                allow_retries=False,
            )


class PublicationRules(ConfigurableResource):
    """Les règles de ce que publient les vues hebdomadaires (secret statistique), lues par
    chaque asset et chaque rapport qui publie. Réglages du déploiement (SNU_SMALL_CELL_K,
    SNU_PUBLICATION_BLOCK_WEEKS, SNU_PUBLICATION_DETAIL), pas d'une exécution : la
    protection d'une semaine s'appuie sur les semaines publiées avant elle avec la même
    règle."""

    small_cell_k: int = Field(
        default=5,
        ge=1,
        description="Les effectifs de 1 à k-1 sont masqués, et assez d'autres pour qu'aucun "
        "effectif masqué ne puisse être resserré à moins de k par un lecteur de tout ce qui "
        "est publié (SNU_SMALL_CELL_K).",
    )
    block_weeks: int = Field(
        default=4,
        ge=1,
        description="Une valeur cumulée masquée peut être publiée de nouveau à l'intérieur "
        "d'un bloc de ce nombre de semaines (comptées depuis la première semaine publiée de "
        "la cohorte), jamais d'un bloc à l'autre : le coût de la protection d'une semaine est "
        "borné par le bloc (SNU_PUBLICATION_BLOCK_WEEKS).",
    )
    detail: str = Field(
        default="cross,margins,total",
        description="Cases publiées pour chaque niveau national,region,department : cross "
        "(genre × tranche d'âge, avec les marges), margins (par genre, par tranche d'âge), "
        "total (SNU_PUBLICATION_DETAIL).",
    )

    @property
    def protection_width(self) -> int:
        """The narrowest feasible interval a hidden count may keep."""
        return self.small_cell_k

    def rules(self) -> Rules:
        """The rule as the pure publication reads it."""
        return Rules(
            k=self.small_cell_k,
            width=self.protection_width,
            block_weeks=self.block_weeks,
            detail=tuple(zip(LEVELS, self.detail.split(","), strict=True)),
        )


def _env_or_none(name: str) -> EnvVar | None:
    """``EnvVar(name)`` when the variable is set (shown by name, not value, in the UI)."""
    return EnvVar(name) if os.environ.get(name) else None


class SnuResources(TypedDict):
    mongo: MongoResource
    postgres: PostgresResource
    pseudonyms: PseudonymResource
    publication: PublicationRules


def build_resources() -> SnuResources:
    """The resources of the code location, from the contract's environment variables."""
    return {
        "mongo": MongoResource(
            uri=_env_or_none("SNU_MONGO_URI"), database=settings.mongo_db_name()
        ),
        "postgres": PostgresResource(
            url=_env_or_none("SNU_POSTGRES_URL"), schema_name=settings.schema()
        ),
        "pseudonyms": PseudonymResource(key=_env_or_none("SNU_PSEUDONYM_KEY")),
        "publication": PublicationRules(
            small_cell_k=settings.current().small_cell_k,
            block_weeks=settings.current().publication_block_weeks,
            detail=settings.current().publication_detail,
        ),
    }
