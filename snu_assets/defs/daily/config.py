"""Run config of the daily load (``extract_and_reconstruct``): the thresholds that change
its checks and how it reads MongoDB. Defaults come from the ``SNU_*`` settings; the UI's
launchpad shows them, and a run (or a backfill) can set others."""

from datetime import datetime, timedelta

from dagster import Config
from pydantic import Field

from snu_assets.settings import current

_DEFAULTS = current()


class DailyLoadConfig(Config):
    """Configuration d'exécution du chargement quotidien : seuils de ses contrôles et lecture
    de MongoDB (valeurs par défaut : les variables SNU_* du déploiement)."""

    max_rejection_rate: float = Field(
        default=_DEFAULTS.max_rejection_rate,
        description="Part des patchs d'une fenêtre mis en quarantaine dans rejected_patches "
        "au-delà de laquelle le contrôle rejection_rate échoue (SNU_MAX_REJECTION_RATE).",
    )
    max_disagreement_rate: float = Field(
        default=_DEFAULTS.max_disagreement_rate,
        description="Part des opérations ancrées contredites par un état ultérieur (trous "
        "dans l'historique) au-delà de laquelle consistent_with_documents avertit "
        "(SNU_MAX_DISAGREEMENT_RATE).",
    )
    log_read: str = Field(
        default=_DEFAULTS.log_read,
        description="Lecture des historiques des enregistrements : records (parcours de la "
        "fenêtre, puis l'historique de chaque enregistrement par l'index ref), walk (tout "
        "l'historique, une fois, dans l'ordre de ref) ou auto : walk à partir de "
        "walk_min_days jours (SNU_LOG_READ).",
    )
    walk_min_days: float = Field(
        default=_DEFAULTS.walk_min_days,
        description="Longueur de fenêtre (en jours) à partir de laquelle log_read=auto "
        "parcourt tout l'historique (SNU_WALK_MIN_DAYS).",
    )
    records_per_batch: int = Field(
        default=_DEFAULTS.records_per_batch,
        description="Nombre d'enregistrements dont l'historique entier est tenu en mémoire à "
        "la fois (SNU_RECORDS_PER_BATCH).",
    )

    max_shrink_rate: float = Field(
        default=_DEFAULTS.max_shrink_rate,
        description="Une partition qui perdrait plus que cette part de ses lignes (et plus "
        "que shrink_tolerance_rows), ou toutes, n'est pas remplacée : l'exécution échoue en "
        "nommant le jour et les deux effectifs, sans rien écrire (SNU_MAX_SHRINK_RATE).",
    )
    shrink_tolerance_rows: int = Field(
        default=_DEFAULTS.shrink_tolerance_rows,
        description="Lignes qu'une partition peut perdre quelle que soit sa taille (une "
        "suppression RGPD retire les patchs vidés d'un jeune) avant que max_shrink_rate "
        "s'applique (SNU_SHRINK_TOLERANCE_ROWS).",
    )
    confirm_shrink: bool = Field(
        default=False,
        description="Confirme une vraie purge : cette exécution peut remplacer des partitions "
        "par bien moins de lignes, ou aucune (quand la source les a vraiment perdues). Sinon, "
        "laisser à false.",
    )
    confirm_source_change: bool = Field(
        default=False,
        description="Confirme que la source a changé volontairement (une restauration, un "
        "nouveau cluster) : cette exécution peut remplacer des lignes écrites par une autre "
        "source MongoDB (base, identité des collections). Sinon, laisser à false.",
    )

    def read_mode(self, start: datetime, end: datetime) -> str:
        """``records`` or ``walk`` for the window ``[start, end)``."""
        if self.log_read in ("records", "walk"):
            return self.log_read
        if self.log_read != "auto":
            raise ValueError(f"log_read={self.log_read!r}: expected auto, records or walk")
        return "walk" if end - start >= timedelta(days=self.walk_min_days) else "records"
