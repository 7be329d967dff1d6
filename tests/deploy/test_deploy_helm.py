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


def _policies(manifests: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {o["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: o["spec"]
            for o in objects(manifests) if o["kind"] == "NetworkPolicy"}  # fmt: skip


def test_every_pod_of_the_chart_has_a_network_policy_of_both_directions() -> None:
    manifests = render_chart(ci_values("ha"))
    policies = _policies(manifests)
    components = set()
    for obj in objects(manifests):
        spec = obj.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template")
        labels = (template or obj)["metadata"]["labels"] if (template or obj["kind"] == "Pod") else None
        if labels:
            components.add(labels["app.kubernetes.io/component"])
    assert components == {"api", "worker", "beat", "frontend", "migrations", "backup", "test"}
    assert set(policies) == components
    for component, spec in policies.items():
        assert spec["policyTypes"] == ["Ingress", "Egress"], component


def test_the_api_takes_traffic_only_from_the_ingress_controller_the_editor_and_prometheus() -> None:
    values = ci_values("ha")
    api = _policies(render_chart(values))["api"]
    (rule,) = api["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    peers = rule["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in peers
    others = [p for p in peers if "namespaceSelector" not in p]
    assert {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in others} == {"frontend", "test"}
    assert all("ipBlock" not in p for p in peers)
    beat = _policies(render_chart(values))["beat"]
    assert beat["ingress"] == []


def test_worker_egress_is_dns_database_broker_collector_and_the_internet_without_private_ranges() -> None:
    for value_set in ("default", "ha"):
        worker = _policies(render_chart(ci_values(value_set)))["worker"]
        by_port = {r["ports"][0]["port"]: r for r in worker["egress"] if "ports" in r}
        assert {53, 5432, 5672} <= set(by_port)
        (internet,) = [r for r in worker["egress"] if "ports" not in r]
        blocks = {p["ipBlock"]["cidr"]: set(p["ipBlock"]["except"]) for p in internet["to"]}
        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= blocks["0.0.0.0/0"]
        assert {"fc00::/7", "fe80::/10"} <= blocks["::/0"]
        # Nothing else may open the private ranges: every other rule names its port.
        assert all(r.get("ports") for r in worker["egress"] if r is not internet)
    ha = _policies(render_chart(ci_values("ha")))["worker"]
    database = next(r for r in ha["egress"] if r.get("ports", [{}])[0].get("port") == 5432)
    assert database["to"][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "schema-db"}
    assert any(r.get("ports", [{}])[0].get("port") == 4318 for r in ha["egress"]), "the OTLP collector's port"
    beat = _policies(render_chart(ci_values("ha")))["beat"]
    assert all(r.get("ports") for r in beat["egress"]), "beat has no internet egress"


def test_worker_and_beat_probes_read_their_heartbeats() -> None:
    objs = by_kind_name(render_chart(ci_values("default")))
    config = objs[("ConfigMap", "schema")]["data"]
    assert config["SCHEMA_HEARTBEAT_DIR"] == "/tmp"
    for component, ready in (("worker", ["python", "/healthcheck.py", "worker", "--ready"]),
                             ("beat", ["python", "/healthcheck.py", "beat"])):  # fmt: skip
        container = objs[("Deployment", f"schema-{component}")]["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["exec"]["command"] == ready
        assert container["livenessProbe"]["exec"]["command"][:3] == ["python", "/healthcheck.py", component]
        assert container["startupProbe"]["exec"]["command"][:3] == ["python", "/healthcheck.py", component]
    assert "/healthcheck.py" in (REPO / "compose/production/django/Dockerfile").read_text()


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_secrets_reach_the_pods_as_files_by_default(value_set: str) -> None:
    manifests = render_chart(ci_values(value_set))
    objs = by_kind_name(manifests)
    secret = ci_values(value_set).get("secrets", {}).get("existingSecret") or "schema-env"
    config = objs[("ConfigMap", "schema")]["data"]
    for key in ("DJANGO_SECRET_KEY", "DATABASE_URL", "RABBITMQ_URL", "SCHEMA_CREDENTIAL_KEYS"):
        assert config[f"{key}_FILE"] == f"/run/secrets/schema/{key}"
    pods = [o["spec"]["template"]["spec"] for o in objects(manifests) if o["kind"] in {"Deployment", "Job"}]
    pods += [o["spec"]["jobTemplate"]["spec"]["template"]["spec"] for o in objects(manifests) if o["kind"] == "CronJob"]
    for pod in pods:
        for container in pod["containers"]:
            assert not [e for e in container.get("envFrom", []) if "secretRef" in e]
            assert not [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
        volumes = {v["name"]: v for v in pod["volumes"]}
        if "secrets" in volumes:
            name = volumes["secrets"]["secret"]["secretName"]
            assert name in (secret, "schema-hook")
            mounts = [m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] == "secrets"]
            assert mounts and all(m["readOnly"] for m in mounts)
    backend = [p for p in pods if p["containers"][0]["name"] in {"api", "worker", "beat", "migrate"}]
    assert len(backend) == 4 and all("secrets" in {v["name"] for v in p["volumes"]} for p in backend)


def test_secrets_as_environment_variables_stay_possible() -> None:
    values = ci_values("default")
    values["secrets"] = {**values["secrets"], "mountAsFiles": False}
    objs = by_kind_name(render_chart(values))
    assert not [k for k in objs[("ConfigMap", "schema")]["data"] if k.endswith("_FILE")]
    worker = objs[("Deployment", "schema-worker")]["spec"]["template"]["spec"]
    assert {"secretRef": {"name": "schema-env"}} in worker["containers"][0]["envFrom"]
    assert "secrets" not in {v["name"] for v in worker["volumes"]}
