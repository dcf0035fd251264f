"""docker-compose.yml and the Dockerfile, checked without Docker: every service is there and wired by conditions that
can be met, every setting handed to the app is one core/settings.py reads and loads in production, secrets are
required references, and the image's commands point at code that exists."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from core.settings import DEV_JWT_SECRET, Environment, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "api", "worker")
SERVICES = {"postgres", "temporal", "temporal-ui", *APP_SERVICES}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SECRETS = {"POSTGRES_PASSWORD": "s3cretPassw0rd", "ASSETFLOW_JWT_SECRET": "k" * 48}
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - inside a container a server must listen beyond loopback

# ---- compose: loading and ${VAR} interpolation as `docker compose` does it -----------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)",
)


class MissingVariable(Exception):
    """A `${VAR:?message}` whose variable is unset or empty: compose refuses to start."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg, val = m.group("op"), m.group("arg") or "", env.get(name)
        if op == ":-" and not val:
            return arg
        if op == "-" and val is None:
            return arg
        if (op == ":?" and not val) or (op == "?" and val is None):
            raise MissingVariable(f"{name}: {arg}")
        return val or ""

    return _VARIABLE.sub(one, value)


def render(node: Any, env: Mapping[str, str]) -> Any:
    """The loaded compose file with every string value interpolated."""
    if isinstance(node, dict):
        return {k: render(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [render(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """docker-compose.yml as written (anchors and `<<` merges resolved by the YAML loader)."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services with the secrets filled in, as compose would run them."""
    rendered = render(raw, SECRETS)
    return dict(rendered["services"])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a mapping or a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, Any]:
    """depends_on in its long form; the short list form has no condition and is reported as such."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {} for name in deps}
    return dict(deps)


# ---- settings: which environment variable names core/settings.py reads --------------------------------------------


def setting_for(key: str) -> str | None:
    """The dotted Settings field an environment variable sets, or None when the app never reads it."""
    cfg = Settings.model_config
    prefix = cfg.get("env_prefix") or ""
    delimiter = cfg.get("env_nested_delimiter") or ""
    sensitive = bool(cfg.get("case_sensitive"))
    name = key if sensitive else key.lower()
    want = prefix if sensitive else prefix.lower()
    if not name.startswith(want):
        return None
    parts = name[len(want) :].split(delimiter) if delimiter else [name[len(want) :]]
    model: type[BaseModel] | None = Settings
    path = []
    for part in parts:
        if model is None:
            return None
        fields = {(n if sensitive else n.lower()): (n, f) for n, f in model.model_fields.items()}
        for n, f in model.model_fields.items():
            if isinstance(f.validation_alias, str):
                fields[f.validation_alias if sensitive else f.validation_alias.lower()] = (n, f)
        if part not in fields:
            return None
        field_name, field = fields[part]
        path.append(field_name)
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return ".".join(path)


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the test runner's environment or a `.env` file."""
    for key in list(os.environ):
        if setting_for(key) is not None:
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT / "tests")  # no .env here
    return monkeypatch


# ---- compose tests -----------------------------------------------------------------------------------------------


def test_every_service_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


@pytest.mark.parametrize(
    ("service", "repository"),
    [("postgres", "postgres"), ("temporal", "temporalio/auto-setup"), ("temporal-ui", "temporalio/ui")],
)
def test_infrastructure_runs_official_images_pinned(
    services: dict[str, dict[str, Any]], service: str, repository: str
) -> None:
    image = services[service]["image"]
    name, _, tag = image.removeprefix("docker.io/").removeprefix("library/").partition(":")
    assert name == repository, f"{service}: {image} is not the official {repository} image"
    assert tag, f"{service}: pin a version, not {image!r}"
    assert tag != "latest", f"{service}: pin a version, not {image!r}"
    assert "build" not in services[service]
    if service == "postgres":
        assert tag.split(".")[0] == "16"


def test_app_services_share_one_image_built_from_this_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    images = {services[s]["image"] for s in APP_SERVICES}
    assert len(images) == 1, f"api, worker and migrate must run one image, not {images}"
    for s in APP_SERVICES:
        build = services[s]["build"]
        context = build if isinstance(build, str) else build["context"]
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert services["migrate"]["command"] == ["assetflow", "db", "upgrade"]
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert "command" not in services["api"], "the api runs the image's CMD"


def test_migrate_is_one_shot_and_gates_api_and_worker(services: dict[str, dict[str, Any]]) -> None:
    # YAML reads a bare `no` as False; compose wants the string "no".
    assert services["migrate"]["restart"] == "no"
    assert depends_on(services["migrate"]) == {"postgres": {"condition": "service_healthy"}}
    for s in ("api", "worker"):
        deps = depends_on(services[s])
        assert deps.get("migrate", {}).get("condition") == "service_completed_successfully", s
        assert deps.get("temporal", {}).get("condition") == "service_healthy", s
        assert deps.get("postgres", {}).get("condition") == "service_healthy", s
    assert depends_on(services["temporal"])["postgres"]["condition"] == "service_healthy"
    assert depends_on(services["temporal-ui"])["temporal"]["condition"] == "service_healthy"


def test_every_dependency_has_a_condition_that_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            condition = spec.get("condition")
            if target not in services:
                problems.append(f"{name} depends on a missing service {target}")
            elif condition not in CONDITIONS:
                problems.append(f"{name} → {target}: condition {condition!r}")
            elif condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                if not check.get("test") or check.get("disable") or check["test"] in (["NONE"], "NONE"):
                    problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == "service_completed_successfully" and services[target].get("restart", "no") != "no":
                problems.append(f"{name} waits for {target} to complete, but {target} restarts")
    assert not problems


def test_app_environment_names_only_real_settings(raw: dict[str, Any]) -> None:
    for s in APP_SERVICES:
        unknown = [k for k in env_of(raw["services"][s]) if setting_for(k) is None]
        assert not unknown, f"{s}: core/settings.py reads no {unknown}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_settings_load_in_production(
    services: dict[str, dict[str, Any]], service: str, clean_environ: pytest.MonkeyPatch
) -> None:
    for key, value in env_of(services[service]).items():
        clean_environ.setenv(key, value)
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.log_format == "json"
    assert make_url(settings.database_url).drivername == "postgresql+psycopg"
    assert settings.jwt_secret == SECRETS["ASSETFLOW_JWT_SECRET"]


def test_production_refuses_the_dev_secret_through_this_wiring(
    raw: dict[str, Any], clean_environ: pytest.MonkeyPatch
) -> None:
    api = render(raw, {**SECRETS, "ASSETFLOW_JWT_SECRET": DEV_JWT_SECRET})["services"]["api"]
    for key, value in env_of(api).items():
        clean_environ.setenv(key, value)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()


def test_secrets_are_required_references_never_literals(raw: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = re.compile(r"^\$\{(?P<var>[A-Za-z_]\w*):\?[^}]+\}$")
    secret_vars = set()
    for s in APP_SERVICES:
        m = required.match(env_of(raw["services"][s])["JWT_SECRET"])
        assert m, f"{s}: JWT_SECRET must be a ${{VAR:?message}} reference"
        secret_vars.add(m["var"])
    m = required.match(env_of(raw["services"]["postgres"])["POSTGRES_PASSWORD"])
    assert m, "postgres: POSTGRES_PASSWORD must be a ${VAR:?message} reference"
    secret_vars.add(m["var"])
    for var in secret_vars:
        uses = re.findall(r"\$\{" + var + r"(\W{0,2})", text)
        assert uses, var
        assert set(uses) == {":?"}, f"{var} must be required everywhere, never given a default: {uses}"
        with pytest.raises(MissingVariable, match=var):
            render(raw, {k: v for k, v in SECRETS.items() if k != var})


def test_database_url_reaches_our_database_on_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    pg = env_of(services["postgres"])
    temporal = env_of(services["temporal"])
    for s in APP_SERVICES:
        url = make_url(env_of(services[s])["DATABASE_URL"])
        assert url.drivername == "postgresql+psycopg", s
        assert (url.host, url.port or 5432) == ("postgres", 5432), s
        assert (url.username, url.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]), s
        assert url.database == pg["POSTGRES_DB"], s
        assert url.database not in (temporal["DBNAME"], temporal["VISIBILITY_DBNAME"]), "share the server, not the db"
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgres"
    assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])


def test_app_and_ui_reach_temporal_and_its_namespace(services: dict[str, dict[str, Any]]) -> None:
    temporal = env_of(services["temporal"])
    for s in (*APP_SERVICES, "temporal-ui"):
        assert env_of(services[s]).get("TEMPORAL_ADDRESS") == "temporal:7233", s
    for s in ("api", "worker"):
        env = env_of(services[s])
        assert env.get("TEMPORAL_NAMESPACE", "default") == temporal["DEFAULT_NAMESPACE"], s
    check = " ".join(services["temporal"]["healthcheck"]["test"])
    assert "cluster health" in check
    assert "namespace describe" in check, "healthy only once the app's namespace exists"


def test_temporal_dynamic_config_enables_updates(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    target = PurePosixPath("/etc/temporal") / env_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {PurePosixPath(v.split(":")[1]): v.split(":")[0] for v in temporal["volumes"]}
    assert target in mounts, f"{target} is not mounted"
    config = yaml.safe_load((ROOT / mounts[target]).read_text(encoding="utf-8"))
    assert config["frontend.enableUpdateWorkflowExecution"][0]["value"] is True


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert not [p for p in worker.get("ports", []) if ":" in str(p)], "a fixed host port allows one replica"
    assert worker.get("deploy", {}).get("replicas", 1) >= 2
    bind = env_of(worker)["WORKER_METRICS_BIND"]
    host, _, port = bind.rpartition(":")
    assert host == ALL_INTERFACES, "metrics must be reachable from the compose network"
    assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])


async def test_api_listens_where_it_is_published_and_checks_healthz(services: dict[str, dict[str, Any]]) -> None:
    from api.main import create_app

    api = services["api"]
    env = env_of(api)
    assert env["API_HOST"] == ALL_INTERFACES
    published = {str(p).rsplit(":", 1)[-1] for p in api["ports"]}
    assert published == {env["API_PORT"]}
    assert f"127.0.0.1:{env['API_PORT']}/healthz" in " ".join(api["healthcheck"]["test"])
    app = create_app(Settings(environment=Environment.TEST))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        r = await client.get("/healthz")  # liveness needs no database or Temporal, so no lifespan either
    assert r.status_code == 200


# ---- Dockerfile -----------------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    op: str
    args: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions in order."""
    out: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        op, _, args = full.partition(" ")
        out.append(Instruction(op.upper(), args.strip()))
    return out


def final_stage() -> list[Instruction]:
    """The instructions of the last build stage (the image that runs)."""
    ins = instructions()
    start = max(i for i, x in enumerate(ins) if x.op == "FROM")
    return ins[start:]


def test_image_is_python_311_slim_in_every_stage() -> None:
    bases = [x.args.split()[0] for x in instructions() if x.op == "FROM"]
    assert bases
    assert all(b == "python:3.11-slim" for b in bases), bases


def test_image_runs_as_a_non_root_user() -> None:
    users = [x.args for x in final_stage() if x.op == "USER"]
    assert users, "no USER in the final stage: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(x.args for x in final_stage() if x.op == "RUN")
    assert re.search(rf"useradd\b.*(--uid {user}\b|\b{user}$|\b{user}\s)", created), f"user {user} is never created"


def test_image_installs_no_dev_extras() -> None:
    runs = " ".join(x.args for x in instructions() if x.op == "RUN")
    assert "pip install" in runs
    assert "[dev" not in runs
    assert not re.search(r"temporal-test-server|pytest|ruff|mypy", runs)


def test_image_defaults_to_production_settings() -> None:
    env: dict[str, str] = {}
    for x in final_stage():
        if x.op == "ENV":
            for item in shlex.split(x.args):
                key, _, value = item.partition("=")
                env[key] = value
    assert env.get("ENVIRONMENT") == Environment.PRODUCTION.value
    assert env.get("API_HOST") == ALL_INTERFACES
    unknown = [
        k for k in env if setting_for(k) is None and k not in ("PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    ]
    assert not unknown, f"the image sets {unknown}, which core/settings.py does not read"


def test_image_cmd_runs_the_api_from_create_app() -> None:
    cmds = [x.args for x in final_stage() if x.op == "CMD"]
    assert cmds, "no CMD"
    cmd = json.loads(cmds[-1])  # exec form, so the server is PID 1 and gets SIGTERM
    assert isinstance(cmd, list)
    if cmd[:2] == ["python", "-m"]:
        module = importlib.import_module(cmd[2])
        assert callable(getattr(module, "create_app", None)), f"{cmd[2]} has no create_app"
        assert callable(getattr(module, "main", None)), f"{cmd[2]} has no main"
    else:
        assert cmd[0] == "uvicorn"
        target = next(a for a in cmd[1:] if ":" in a and not a.startswith("-"))
        module_name, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module_name), attr))
        assert "--factory" in cmd


def test_worker_and_migrate_commands_exist_in_the_image(services: dict[str, dict[str, Any]]) -> None:
    stage = final_stage()
    workdir = [x.args for x in stage if x.op == "WORKDIR"][-1]
    copied = " ".join(x.args for x in stage if x.op == "COPY" and "--from" not in x.args)
    assert "worker.py" in copied.split(), f"worker.py is not copied into {workdir}"
    assert callable(importlib.import_module("worker").main)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts.get("assetflow") == "cli.main:app"
    from cli.main import app

    result = CliRunner().invoke(app, [*services["migrate"]["command"][1:], "--help"])
    assert result.exit_code == 0, result.output


def test_image_copies_every_installed_package_and_dockerignore_keeps_them() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    modules = [f"{m}.py" for m in project["tool"]["setuptools"].get("py-modules", [])]
    sources: set[str] = set()
    for x in instructions():
        if x.op == "COPY" and "--from" not in x.args:
            sources.update(a.rstrip("/") for a in shlex.split(x.args)[:-1] if not a.startswith("--"))
    missing = [p for p in [*packages, *modules, "pyproject.toml", "README.md"] if p not in sources]
    assert not missing, f"the Dockerfile does not COPY {missing}"
    ignore = ROOT / ".dockerignore"
    patterns = [p.strip() for p in ignore.read_text(encoding="utf-8").splitlines() if p.strip() and p[0] != "#"]
    for src in sources:
        excluded = False
        for pat in patterns:
            if pat.startswith("!"):
                excluded = excluded and not fnmatch(src, pat[1:])
            elif fnmatch(src, pat) or fnmatch(src, pat.removeprefix("**/")):
                excluded = True
        assert not excluded, f".dockerignore leaves {src} out of the build context"


def test_packages_left_out_of_the_image_are_never_imported_in_production() -> None:
    arg = next(x.args for x in instructions() if x.op == "ARG" and x.args.startswith("EMBEDDED_ONLY="))
    left_out = shlex.split(arg.split("=", 1)[1])[0].split()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in deps}
    assert set(left_out) <= names, f"{set(left_out) - names} are not dependencies: the Dockerfile filter is stale"
    top_level: set[str] = set()
    for dist in left_out:
        try:
            files = distribution(dist).files or []
        except PackageNotFoundError:
            continue
        top_level |= {f.parts[0].removesuffix(".py") for f in files if f.suffix == ".py" or len(f.parts) > 1}
    top_level = {t for t in top_level if t.isidentifier()}
    probe = (
        "import json, sys, api.main, worker, cli.main, db.migrate; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"the production entry points do not import:\n{result.stderr[-3000:]}"
    loaded = set(json.loads(result.stdout))
    assert not (loaded & top_level), f"production code imports {loaded & top_level}, which the image leaves out"
