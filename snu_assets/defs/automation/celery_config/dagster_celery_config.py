"""Celery settings of a snu-assets worker, read by ``dagster_celery.app`` (it imports a
top-level ``dagster_celery_config`` module when one is on the path). The ``worker`` command of
``snu_assets.defs.automation.distributed`` puts this folder on ``PYTHONPATH``: the worker takes
its broker from ``SNU_CELERY_BROKER_URL`` and the same settings as the code location's
executor, with no file to write or ship."""

from snu_assets.defs.automation.distributed import executor_config

_config = executor_config()
broker_url = _config["broker"]
result_backend = _config["backend"]
globals().update(_config["config_source"])
