"""Offline checks of ``deploy/`` (no cluster, no Helm, no Docker engine here): fast, in CI.

What they check:
- the instance configuration the chart renders from ``deploy/values.yaml`` (run launcher,
  run coordinator, PostgreSQL storage, pools) is accepted by Dagster 1.13.27 with
  dagster-k8s: the instance schema, ``K8sRunLauncher``'s and ``QueuedRunCoordinator``'s
  config schemas, and ``runK8sConfig`` parsed into the Kubernetes models the launcher builds
  (the chart → dagster.yaml mapping is re-stated from the chart's ``_run-launcher.tpl``);
- every manifest in ``deploy/k8s/`` is valid Kubernetes (``kubernetes-validate``, strict);
- the Celery app the worker command runs has the settings of
  ``snu_assets.defs.automation.distributed``; the worker Deployment runs that command under
  the image's init with a grace period covering the longest step; the compute logs' folder is
  the same shared claim in the webserver, the run pods and the workers;
- the Dockerfile, the values, the manifests and the package agree (module, port, extras,
  ConfigMap/Secret names, variables);
- optionally (``SNU_DAGSTER_CHART_DIR`` = a checkout of the chart's ``helm/dagster``), the
  values merged over the chart's defaults against the chart's ``values.schema.json``.

Not checked here: ``helm template``/``helm lint`` (no helm binary), ``docker build`` (no
engine), anything needing a cluster (admission, RBAC, image pulls, the pods running).
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROJECT = DEPLOY.parent
K8S_VERSION = "1.30"
RELEASE = "dagster"

pytest.importorskip("dagster_k8s", reason="pip install -e '.[distributed]'")


def values() -> dict:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def manifests() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def rendered_instance(v: dict) -> dict:
    """The dagster.yaml of the chart's instance ConfigMap for these values (the parts the
    values set), following the chart's templates."""
    k8s = v["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or "default",
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": v["global"]["postgresqlSecretName"],
    }
    if k8s.get("envConfigMaps"):
        launcher["env_config_maps"] = [c["name"] for c in k8s["envConfigMaps"] if "name" in c]
    if k8s.get("envSecrets"):
        launcher["env_secrets"] = [s["name"] for s in k8s["envSecrets"] if "name" in s]
    for key, name in (
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("securityContext", "security_context"),
    ):
        if k8s.get(key):
            launcher[name] = k8s[key]
    if k8s.get("failPodOnRunFailure"):
        launcher["fail_pod_on_run_failure"] = True
    if k8s.get("runK8sConfig"):
        launcher["run_k8s_config"] = {
            snake: k8s["runK8sConfig"][camel]
            for camel, snake in (
                ("containerConfig", "container_config"),
                ("podSpecConfig", "pod_spec_config"),
                ("podTemplateSpecMetadata", "pod_template_spec_metadata"),
                ("jobSpecConfig", "job_spec_config"),
                ("jobMetadata", "job_metadata"),
            )
            if k8s["runK8sConfig"].get(camel)
        }

    queued = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] or {}
    coordinator = {
        snake: queued[camel]
        for camel, snake in (
            ("maxConcurrentRuns", "max_concurrent_runs"),
            ("tagConcurrencyLimits", "tag_concurrency_limits"),
            ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
        )
        if queued.get(camel) is not None
    }
    block = queued.get("blockOpConcurrencyLimitedRuns")
    if block:
        coordinator["block_op_concurrency_limited_runs"] = {
            "enabled": block["enabled"],
            "op_concurrency_slot_buffer": block["opConcurrencySlotBuffer"],
        }

    pg = v["postgresql"]
    logs = v["computeLogManager"]
    assert logs["type"] == "CustomComputeLogManager"
    custom = logs["config"]["customComputeLogManager"]
    monitoring = v["dagsterDaemon"]["runMonitoring"]
    retries = v["dagsterDaemon"]["runRetries"]
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": pg["postgresqlUsername"],
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "hostname": pg["postgresqlHost"],
                    "db_name": pg["postgresqlDatabase"],
                    "port": pg["service"]["port"],
                    "params": pg.get("postgresqlParams", {}),
                }
            }
        },
        "compute_logs": {
            "module": custom["module"],
            "class": custom["class"],
            "config": custom["config"],
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": coordinator,
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
        },
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"]},
        "telemetry": {"enabled": v["telemetry"]["enabled"]},
        **v.get("additionalInstanceConfig", {}),
    }


def _validate(config_type, value, what: str) -> dict:
    from dagster._config import process_config

    result = process_config(config_type, value)
    assert result.success, f"{what}: " + "; ".join(e.message for e in result.errors)
    return result.value


def test_the_rendered_instance_loads_in_dagster(tmp_path):
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    instance = rendered_instance(values())
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    os.environ.setdefault("DAGSTER_PG_PASSWORD", "offline-check")
    config, _ = dagster_instance_config(str(tmp_path))
    queued = config["run_coordinator"]["config"]
    assert {"key": "dagster/backfill", "limit": 4} in queued["tag_concurrency_limits"]
    assert queued["max_concurrent_runs"] > 4
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    assert config["compute_logs"]["class"] == "LocalComputeLogManager"
    _validate(
        LocalComputeLogManager.config_type(),
        instance["compute_logs"]["config"],
        "LocalComputeLogManager config",
    )

    launcher = _validate(
        K8sRunLauncher.config_type(), instance["run_launcher"]["config"], "K8sRunLauncher config"
    )
    assert launcher["env_secrets"] == ["snu-assets-secrets"]
    assert launcher["env_config_maps"] == ["snu-assets-config"]
    _validate(
        QueuedRunCoordinator.config_type(),
        instance["run_coordinator"]["config"],
        "QueuedRunCoordinator config",
    )


def test_run_k8s_config_builds_kubernetes_objects():
    import kubernetes.client as k8s
    from dagster_k8s.job import UserDefinedDagsterK8sConfig
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    run_k8s = rendered_instance(values())["run_launcher"]["config"]["run_k8s_config"]
    user = UserDefinedDagsterK8sConfig.from_dict(run_k8s)
    container = k8s_model_from_dict(
        k8s.V1Container,
        k8s_snake_case_dict(k8s.V1Container, {"name": "run", **user.container_config}),
    )
    assert container.resources.limits["memory"] == "2Gi"
    spec = k8s_model_from_dict(
        k8s.V1JobSpec, k8s_snake_case_dict(k8s.V1JobSpec, {"template": {}, **user.job_spec_config})
    )
    assert spec.backoff_limit == 0


def test_manifests_are_valid_kubernetes():
    import kubernetes_validate

    docs = manifests()
    assert {d["kind"] for d in docs} == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "PersistentVolumeClaim",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_worker_app_takes_the_project_celery_settings(tmp_path):
    """The worker command puts ``celery_config/`` on the path: ``dagster_celery.app`` (the
    app the worker runs) then has the broker of SNU_CELERY_BROKER_URL and the settings of the
    code location's executor."""
    import subprocess
    import sys

    from snu_assets.defs.automation import distributed

    keys = sorted(distributed.CELERY_SETTINGS)
    probe = (
        "import json; from dagster_celery.app import app; c = app.conf; "
        "print(json.dumps({'broker': c.broker_url, 'backend': c.result_backend, "
        f"**{{k: c[k] for k in {keys!r}}}}}))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(distributed.CONFIG_DIR), str(PROJECT)]),
        "SNU_CELERY_BROKER_URL": "pyamqp://snu:pw@rabbitmq.internal:5672/snu",
        "SNU_EXECUTOR": "celery",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    conf = json.loads(out.stdout.strip().splitlines()[-1])
    assert conf["broker"] == "pyamqp://snu:pw@rabbitmq.internal:5672/snu"
    assert conf["backend"] == "rpc://"
    assert {k: conf[k] for k in distributed.CELERY_SETTINGS} == distributed.CELERY_SETTINGS
    argv = distributed.celery_argv("w1", 1)
    assert argv[1:6] == ["-m", "celery", "-A", "dagster_celery.app", "worker"]
    assert "--pool=threads" in argv and argv[argv.index("-Q") + 1] == "dagster"


def test_worker_deployment_stops_gracefully_and_shares_its_logs():
    from snu_assets.defs.automation import distributed

    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # the image's ENTRYPOINT (tini) stays PID 1: no `command`, the worker command as args
    assert "command" not in container
    assert container["args"] == distributed.worker_command(concurrency=1)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in (DEPLOY / "Dockerfile").read_text()
    # the grace period covers the longest step a worker can hold
    assert pod["terminationGracePeriodSeconds"] == distributed.GRACE_PERIOD_S
    assert distributed.GRACE_PERIOD_S > distributed.LONGEST_STEP_S
    # one compute-log folder for every pod that writes or reads step logs, on one claim
    v = values()
    base_dir = v["computeLogManager"]["config"]["customComputeLogManager"]["config"]["base_dir"]
    claim = next(d for d in manifests() if d["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    k8s = v["runLauncher"]["config"]["k8sRunLauncher"]
    for where, volumes, mounts in (
        ("webserver", v["dagsterWebserver"]["volumes"], v["dagsterWebserver"]["volumeMounts"]),
        ("run pods", k8s["volumes"], k8s["volumeMounts"]),
        ("celery workers", pod["volumes"], container["volumeMounts"]),
    ):
        mount = next(m for m in mounts if m["mountPath"] == base_dir)
        volume = next(x for x in volumes if x["name"] == mount["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"], where
    # schema migrations on upgrade
    assert v["migrate"]["enabled"] is True


def test_dockerfile_values_and_manifests_agree():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    v = values()
    deployment = v["dagster-user-deployments"]["deployments"][0]
    # the image serves the module the chart asks for, on the port the chart expects
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "snu_assets.definitions"]
    assert f"EXPOSE {deployment['port']}" in dockerfile
    assert '"--module-name", "snu_assets.definitions"' in dockerfile
    # a supported Python, the package with the extra that carries dagster-k8s/dagster-celery
    import tomllib

    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    python = re.search(r"FROM python:(3\.\d+)", dockerfile).group(1)
    assert python in ("3.11", "3.12", "3.13") and ">=3.11" in project["requires-python"]
    assert "'snu-assets[distributed]'" in dockerfile
    dagster_pin = next(d for d in project["dependencies"] if d.startswith("dagster=="))
    extra = project["optional-dependencies"]["distributed"]
    minor = dagster_pin.split("==")[1].split(".")[1]
    for integration in ("dagster-k8s", "dagster-celery"):
        pin = next(d for d in extra if d.startswith(integration + "=="))
        assert pin.split("==")[1].startswith(f"0.{int(minor) + 16}."), (pin, dagster_pin)
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for name in source.split():
            assert (PROJECT / name).exists(), f"the Dockerfile copies a missing {name}"
    # names: the ConfigMap and Secret the values reference are the ones deploy/k8s defines
    docs = manifests()
    defined = {(d["kind"], d["metadata"]["name"]) for d in docs}
    k8s = v["runLauncher"]["config"]["k8sRunLauncher"]
    for ref in deployment["envConfigMaps"] + k8s["envConfigMaps"]:
        assert ("ConfigMap", ref["name"]) in defined
    for ref in deployment["envSecrets"] + k8s["envSecrets"]:
        assert ("Secret", ref["name"]) in defined
    # every variable they set is one the project reads; the secrets hold the secrets
    sources = "".join(p.read_text() for p in (PROJECT / "snu_assets").rglob("*.py"))
    secret = next(d for d in docs if d["kind"] == "Secret")
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "snu-assets-config"
    )
    for name in [*secret["stringData"], *config["data"]]:
        assert f'"{name}"' in sources, f"{name} is read nowhere in snu_assets"
    assert {
        "SNU_PSEUDONYM_KEY",
        "SNU_MONGO_URI",
        "SNU_POSTGRES_URL",
        "SNU_CELERY_BROKER_URL",
    } <= set(secret["stringData"])
    assert not {"SNU_PSEUDONYM_KEY", "SNU_MONGO_URI", "SNU_POSTGRES_URL"} & set(config["data"])


def _strip_remote_refs(node):
    """The chart's schema points at kubernetesjsonschema.dev for Kubernetes objects; offline,
    those parts are accepted as they are (the Kubernetes objects are checked above)."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].startswith("http"):
            node = {k: v for k, v in node.items() if k != "$ref"}
        return {k: _strip_remote_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_remote_refs(v) for v in node]
    return node


def _merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


@pytest.mark.skipif(
    not os.environ.get("SNU_DAGSTER_CHART_DIR"),
    reason="SNU_DAGSTER_CHART_DIR (a checkout of the chart's helm/dagster) unset",
)
def test_values_against_the_chart_schema():
    import jsonschema

    chart = Path(os.environ["SNU_DAGSTER_CHART_DIR"])
    schema = _strip_remote_refs(json.loads((chart / "values.schema.json").read_text()))
    merged = _merge(yaml.safe_load((chart / "values.yaml").read_text()), values())
    jsonschema.validate(merged, schema)
