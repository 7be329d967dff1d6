"""The Helm chart: lints, renders with several value sets, and every rendered object is valid
Kubernetes (kubernetes-validate, strict). Rendering uses helm-python-sdk, whose wheel bundles
Helm's Go SDK as a shared library: no helm binary, no cluster, no download."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.helpers import CHART, REPO, by_kind_name, ci_values, objects, render_chart

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

# Custom resources have no schema in kubernetes-validate's bundle; they are checked by the
# assertions below instead of by an OpenAPI schema.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
VALUE_SETS = ("default", "ha", "existing-secret")


@pytest.fixture(scope="module", params=VALUE_SETS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    return request.param, render_chart(ci_values(request.param))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_is_clean(value_set: str) -> None:
    report = helm.lint(str(CHART), ci_values(value_set), strict=True, namespace="schema")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_chart_defaults_alone_fail_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match=r"secrets\.djangoSecretKey is required"):
        render_chart({})


def test_values_schema_rejects_unknown_and_mistyped_values() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({**ci_values("default"), "replicas": 3})
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({**ci_values("default"), "api": {"port": "eight thousand"}})


def test_every_rendered_object_is_valid_kubernetes(rendered: tuple[str, dict]) -> None:
    _, manifests = rendered
    checked = 0
    for obj in objects(manifests):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 10


def test_components_are_all_there_with_probes_and_security(rendered: tuple[str, dict]) -> None:
    _, manifests = rendered
    objs = by_kind_name(manifests)
    deployments = {n: o for (k, n), o in objs.items() if k == "Deployment"}
    assert {"schema-api", "schema-worker", "schema-beat"} <= set(deployments)
    api = deployments["schema-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/health/ready"
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["requests"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    for component in ("api", "worker", "beat"):
        annotations = deployments[f"schema-{component}"]["spec"]["template"]["metadata"]["annotations"]
        assert "checksum/config" in annotations
    beat = deployments["schema-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    worker = deployments["schema-worker"]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] >= 120
    assert ("PodDisruptionBudget", "schema-api") in objs and ("PodDisruptionBudget", "schema-worker") in objs


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered: tuple[str, dict]) -> None:
    value_set, manifests = rendered
    job = by_kind_name(manifests)[("Job", "schema-migrations")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # Whatever the Job reads must exist before the release's own objects: hooks or an existing Secret.
    hooks = {
        (o["kind"], o["metadata"]["name"])
        for o in objects(manifests)
        if "helm.sh/hook" in o["metadata"].get("annotations", {})
    }
    values = ci_values(value_set)
    for source in container["envFrom"]:
        ref = source.get("configMapRef") or source["secretRef"]
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        assert (kind, ref["name"]) in hooks or ref["name"] == values.get("secrets", {}).get("existingSecret")


def test_default_install_renders_secret_hpa_and_no_custom_resources() -> None:
    objs = by_kind_name(render_chart(ci_values("default")))
    assert ("Secret", "schema-env") in objs
    assert ("HorizontalPodAutoscaler", "schema-worker") in objs
    assert not [k for k in objs if k[0] in {"ServiceMonitor", "ScaledObject", "Ingress", "CronJob"}]


def test_ha_values_use_keda_instead_of_the_worker_hpa() -> None:
    objs = by_kind_name(render_chart(ci_values("ha")))
    assert ("HorizontalPodAutoscaler", "schema-worker") not in objs
    scaled = objs[("ScaledObject", "schema-worker")]
    trigger = next(t for t in scaled["spec"]["triggers"] if t["type"] == "rabbitmq")
    assert trigger["metadata"]["queueName"] == "schema_execution_queue"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["vhostName"] == "/"
    assert {t["type"] for t in scaled["spec"]["triggers"]} == {"rabbitmq", "cpu"}
    assert objs[("TriggerAuthentication", "schema-rabbitmq")]["spec"]["secretTargetRef"][0]["name"] == "schema-env"
    monitors = {n for (k, n) in objs if k == "ServiceMonitor"}
    assert monitors == {"schema-api", "schema-worker"}
    ingress = objs[("Ingress", "schema")]["spec"]
    assert ingress["tls"][0]["secretName"] == "schema-tls"
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["rules"][0]["http"]["paths"]}
    assert paths == {"/api": "schema-api", "/admin": "schema-api", "/static": "schema-api", "/": "schema-frontend"}
    cron = objs[("CronJob", "schema-backup")]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "/scripts/backup"]
    assert {"name": "RETENTION_DAYS", "value": "30"} in container["env"]
    # The CronJob runs the very script the backup/restore drill rehearses (tests/system), not a copy.
    scripts = objs[("ConfigMap", "schema-backup-script")]["data"]
    for name in ("backup", "restore"):
        assert scripts[name] == (REPO / "compose" / "production" / "postgres" / name).read_text()
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "script", "configMap": {"name": "schema-backup-script"}} in volumes


def test_existing_secret_renders_no_secret_and_points_everything_at_it() -> None:
    manifests = render_chart(ci_values("existing-secret"))
    objs = by_kind_name(manifests)
    assert not [k for k in objs if k[0] == "Secret"]
    for (kind, _name), obj in objs.items():
        if kind == "Deployment":
            env_from = obj["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
            secrets = [e["secretRef"]["name"] for e in env_from if "secretRef" in e]
            assert secrets in ([], ["schema-env"])
    assert ("Deployment", "schema-frontend") not in objs
    # Without the frontend the editor is served elsewhere (CDN): the Ingress routes only the API.
    paths = objs[("Ingress", "schema")]["spec"]["rules"][0]["http"]["paths"]
    assert {p["path"] for p in paths} == {"/api", "/admin", "/static"}
    assert {p["backend"]["service"]["name"] for p in paths} == {"schema-api"}


def test_secret_or_config_change_rolls_the_pods() -> None:
    base = ci_values("default")
    changed = {**base, "secrets": {**base["secrets"], "databaseUrl": "postgresql://other@db:5432/schema"}}

    def annotations(values: dict) -> dict:
        objs = by_kind_name(render_chart(values))
        return objs[("Deployment", "schema-worker")]["spec"]["template"]["metadata"]["annotations"]

    assert annotations(base)["checksum/secret"] != annotations(changed)["checksum/secret"]
    assert annotations(base)["checksum/config"] == annotations(changed)["checksum/config"]


def test_tracing_is_off_by_default_and_exports_to_the_collector_when_given() -> None:
    config = by_kind_name(render_chart(ci_values("default")))[("ConfigMap", "schema")]["data"]
    assert not [key for key in config if key.startswith("OTEL_")], "no endpoint: tracing stays off"
    config = by_kind_name(render_chart(ci_values("ha")))[("ConfigMap", "schema")]["data"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger-collector.observability:4318"
    assert (config["OTEL_TRACES_SAMPLER"], config["OTEL_TRACES_SAMPLER_ARG"]) == ("parentbased_traceidratio", "0.05")
    helm = pytest.importorskip("helm_python")
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(Exception, match="otlpEndpoint"):
        chart.validate_schema({**ci_values("default"), "tracing": {"otlpEndpoint": "jaeger:4318"}})
