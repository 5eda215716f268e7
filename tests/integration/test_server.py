"""The registry server as clients meet it: uvicorn on a free port, real tokens, real HTTP."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import SUPPORT_BOT_PINS, raw_rows
from support.server import Estate, served_estate

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration
API = "/api/v1"


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with served_estate(tmp_path_factory.mktemp("server")) as running:
        yield running


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= set(body)
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no bearer token"),
        ("Bearer", "no bearer token"),
        ("Basic YWxpY2U6c2VjcmV0", "no bearer token"),
        ("Bearer not-a-token", "malformed token"),
        ("Bearer rgp_" + "A" * 43, "unknown token"),
        ("revoked", "was revoked"),
        ("expired", "expired"),
    ],
)
def test_a_request_without_a_valid_token_is_401(
    estate: Estate, header: str | None, why: str
) -> None:
    if header in ("revoked", "expired"):
        header = f"Bearer {estate.tokens[header]}"
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{estate.url}{API}/whoami", headers=headers, timeout=30)
    body = _problem(response, 401)
    assert why in str(body["detail"])
    assert response.headers["www-authenticate"] == "Bearer"


def test_whoami_is_the_tokens_principal(estate: Estate) -> None:
    with estate.client("carol") as carol:
        body = carol.get(f"{API}/whoami", headers={"X-Actor": "alice@example.com"}).json()
    assert body["principal"] == "carol@example.com"
    assert body["auth"] == {
        "method": "token",
        "principal": "carol@example.com",
        "token_id": estate.token_ids["carol"],
    }
    assert "admin" in body["roles"]


def test_every_response_has_a_request_id(estate: Estate) -> None:
    seen = set()
    for path in ("/healthz", f"{API}/whoami", f"{API}/versions/nope@1"):
        response = httpx.get(f"{estate.url}{path}", timeout=30)
        seen.add(response.headers["x-request-id"])
    assert len(seen) == 3


def test_the_promotion_story_over_http_records_who_proved_it(estate: Estate) -> None:
    before = raw_rows(estate.database, "SELECT max(seq) FROM ledger")[0][0]
    spoof = {"X-Actor": "carol@example.com", "X-Forwarded-User": "carol@example.com"}
    with estate.client("alice") as alice, estate.client("bob") as bob:
        opened = alice.post(
            f"{API}/requests",
            json={"ref": "support-bot@2", "to": "staging", "reason": "new adapter"},
            headers=spoof,
        )
        assert opened.status_code == 201, opened.text
        request = opened.json()["request"]
        own = alice.post(f"{API}/requests/{request}/approve", json={"reason": "mine"})
        assert "cannot approve it" in str(_problem(own, 403)["detail"])
        approved = bob.post(
            f"{API}/requests/{request}/approve", json={"reason": "reviewed"}, headers=spoof
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["approver"] == "bob@example.com"
        gates = alice.get(f"{API}/requests/{request}/gates").json()
        assert gates["passed"], gates
        applied = alice.post(f"{API}/requests/{request}/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["stage"] == "staging"
        again = alice.post(f"{API}/requests/{request}/apply")
        assert "request 3 is applied" in str(_problem(again, 403)["detail"])
    events = raw_rows(
        estate.database, f"SELECT actor, action, auth FROM ledger WHERE seq > {before} ORDER BY seq"
    )
    assert [(a, action) for a, action, _ in events] == [
        ("alice@example.com", "promotion.request"),
        ("bob@example.com", "promotion.approve"),
        ("alice@example.com", "promotion.apply"),
    ]
    for actor, _, auth in events:
        record = json.loads(auth)
        assert record["method"] == "token"
        assert record["principal"] == actor
        assert record["token_id"] == estate.token_ids[actor.split("@")[0]]
    assert Registry.open(estate.database).verify().ok


def test_a_non_admin_mints_only_for_themselves(estate: Estate) -> None:
    with estate.client("dave") as dave:
        refused = dave.post(f"{API}/tokens", json={"principal": "carol@example.com"})
        assert "only policy.admins" in str(_problem(refused, 403)["detail"])
        own = dave.post(f"{API}/tokens", json={"name": "laptop", "expires_in": "1d"})
        assert own.status_code == 201, own.text
        secret = own.json()["token"]
        listed = dave.get(f"{API}/tokens").json()["tokens"]
        assert {t["principal"] for t in listed} == {"dave@example.com"}
        assert secret not in json.dumps(listed)
    stored = raw_rows(estate.database, "SELECT * FROM tokens")
    assert secret not in json.dumps(stored, default=str)
    with httpx.Client(base_url=estate.url, headers={"Authorization": f"Bearer {secret}"}) as new:
        assert new.get(f"{API}/whoami").json()["principal"] == "dave@example.com"
        token_id = own.json()["id"]
        assert new.delete(f"{API}/tokens/{token_id}").status_code == 200
        _problem(new.get(f"{API}/whoami"), 401)


def test_a_non_admin_cannot_revoke_someone_elses_token(estate: Estate) -> None:
    with estate.client("dave") as dave:
        refused = dave.delete(f"{API}/tokens/{estate.token_ids['alice']}")
        _problem(refused, 403)
    with estate.client("alice") as alice:
        assert alice.get(f"{API}/whoami").status_code == 200


def test_bad_input_is_a_problem_and_writes_nothing(estate: Estate) -> None:
    before = raw_rows(estate.database, "SELECT max(seq) FROM ledger")[0][0]
    with estate.client("alice") as alice:
        for body in (
            {"ref": "support-bot@1"},
            {"ref": "support-bot@1", "to": "staging", "reason": "x" * 5000},
            {"ref": "support-bot@1", "to": "staging", "reason": "ok", "actor": "carol"},
            {"ref": "support-bot@999", "to": "staging", "reason": "ok"},
            {"ref": "support-bot@1", "to": "moon", "reason": "ok"},
        ):
            response = alice.post(f"{API}/requests", json=body)
            assert response.status_code in (400, 404, 422), response.text
            _problem(response, response.status_code)
        _problem(alice.post(f"{API}/requests", content=b"{not json"), 422)
        _problem(alice.get(f"{API}/requests/0/gates"), 422)
        _problem(alice.get(f"{API}/requests/99999999999999999999/gates"), 422)
    assert raw_rows(estate.database, "SELECT max(seq) FROM ledger")[0][0] == before


def test_a_10_mib_body_is_413_and_the_server_keeps_serving(estate: Estate) -> None:
    with estate.client("alice") as alice:
        big = alice.post(
            f"{API}/requests",
            content=b"{" + b" " * (10 << 20) + b"}",
            headers={"content-type": "application/json"},
        )
        _problem(big, 413)
        assert alice.get(f"{API}/whoami").status_code == 200


def test_200_concurrent_resolves_agree_and_etag_answers_304(estate: Estate) -> None:
    def one(_: int) -> tuple[int, str, str]:
        with estate.client("bob") as client:
            response = client.get(f"{API}/workloads/customer-support/resolve")
            return response.status_code, response.text, response.headers.get("etag", "")

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, range(200)))
    assert {status for status, _, _ in answers} == {200}
    bodies = [json.loads(text) for _, text, _ in answers]
    for answer in bodies:
        answer["as_of"].pop("time")  # the instant asked about: now, for each call
    assert all(answer == bodies[0] for answer in bodies)
    assert len({etag for _, _, etag in answers}) == 1
    body = json.loads(answers[0][1])
    assert body["stack"]["entry"] == "support-bot"
    assert body["stack"]["version"] == 1
    etag = answers[0][2]
    assert etag == f'W/"{body["as_of"]["ledger_head"]}"'
    with estate.client("bob") as bob:
        unchanged = bob.get(
            f"{API}/workloads/customer-support/resolve", headers={"If-None-Match": etag}
        )
        assert unchanged.status_code == 304
        assert unchanged.content == b""


def test_openapi_is_served_and_committed(estate: Estate) -> None:
    served = httpx.get(f"{estate.url}{API}/openapi.json", timeout=30).json()
    committed = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text()
    )
    assert served == committed, "run `python -m registry_pipeline.server.openapi` to refresh"


def _cli(
    estate: Estate, *args: str, who: str | None = None, remote: bool = True, stdin: str = ""
) -> tuple[int, str, str]:
    """The real CLI: through the server with ``who``'s token, or on the database itself."""
    if remote:
        return estate.cli(*args, token=estate.tokens[who] if who else "", stdin=stdin)
    return estate.cli(*args, actor=f"{who}@example.com" if who else None, stdin=stdin)


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("--json", "list", "--kind", "lora_adapter"),
        ("show", "support-bot@production"),
        ("--json", "show", "support-lora@1"),
        ("lineage", "support-bot@1"),
        ("--json", "history", "support-bot"),
        ("history", "support-bot", "--stage", "production"),
        ("gates", "1"),
        ("--json", "gates", "2"),
        ("show", "nope@1"),
        ("--json", "show", "support-bot@99"),
        ("show", "support-bot@@"),
        ("gates", "99999"),
        ("history", "support-bot", "--stage", "moon"),
        ("audit", "verify", "--anchor", "zz"),
        ("review", "due"),
        ("--json", "review", "due"),
        ("card", "support-bot@1"),
        ("--json", "card", "support-lora@1"),
        ("card", "nope@1"),
        ("eval", "ab", "no-such-result.json"),
    ],
)
def test_the_cli_answers_the_same_through_the_server(estate: Estate, args: tuple[str, ...]) -> None:
    local = _cli(estate, *args, who="bob", remote=False)
    remote = _cli(estate, *args, who="bob")
    assert remote == local


def test_deploy_through_the_server_rewrites_the_servers_manifests(estate: Estate) -> None:
    root = Path(estate.database.removeprefix("sqlite:///")).parent
    manifest = root / ".registry" / "deployments" / "customer-support" / "prod-eu.json"
    manifest.unlink(missing_ok=True)
    code, out, err = _cli(estate, "--json", "deploy", who="bob")
    assert code == 0, err
    written = json.loads(out)["written"]
    assert manifest in [root / path for path in written]
    assert json.loads(manifest.read_text())["stack"]["entry"] == "support-bot"
    code, out, err = _cli(estate, "deploy", who="bob")
    assert (code, out.splitlines(), err) == (0, written, "")


def test_a_requesters_own_approval_is_exit_5_over_http(estate: Estate) -> None:
    code, out, _ = _cli(
        estate, "promote", "support-lora@2", "--to", "staging", "--reason", "r", who="alice"
    )
    assert code == 0, out
    request = out.strip()
    code, _, err = _cli(estate, "approve", request, "--reason", "mine", who="alice")
    assert code == 5
    assert err.startswith("error: alice@example.com requested support-lora@2 -> staging")
    code, out, err = _cli(estate, "withdraw", request, "--reason", "done", who="alice")
    assert code == 0, err


def test_actor_with_a_server_is_refused_and_no_token_is_refused(estate: Estate) -> None:
    code, _, err = _cli(estate, "--actor", "carol@example.com", "list", who="bob")
    assert code == 2
    assert "cannot be used with a registry server" in err
    code, _, err = _cli(estate, "list")
    assert code == 5
    assert err.startswith("error: no token for ")
    assert "registry login" in err


def test_login_saves_the_token_0600_and_the_cli_uses_it(estate: Estate) -> None:
    code, out, err = _cli(estate, "login", "--url", estate.url, stdin=estate.tokens["dave"] + "\n")
    assert code == 0, err
    assert "as dave@example.com" in out
    saved = Path(estate.database.removeprefix("sqlite:///")).parent / "creds.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    code, out, _ = _cli(estate, "--json", "whoami")
    assert code == 0
    assert json.loads(out)["principal"] == "dave@example.com"
    code, _, err = _cli(estate, "login", "--url", estate.url, stdin="rgp_wrong\n")
    assert code == 5
    assert "malformed token" in err


def test_commands_that_need_the_database_say_so(estate: Estate) -> None:
    code, _, err = _cli(estate, "sql", "SELECT 1", who="bob")
    assert code == 2
    assert err.startswith("error: `registry sql` reads the database itself")


def test_register_eval_and_stack_through_the_server(estate: Estate, tmp_path: Path) -> None:
    source = tmp_path / "lora-3"
    source.mkdir()
    (source / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "base_model_name_or_path": "llama-3.2-1b-instruct",
                "r": 8,
                "lora_alpha": 16,
                "target_modules": ["q_proj"],
            }
        )
    )
    (source / "adapter_model.bin").write_bytes(b"\x01" * 4096)
    pins = ("--upstream", "llama-3.2-1b-instruct@1", "--upstream", "support-tickets-2026q3@1")
    code, out, err = _cli(estate, "register", "support-lora", str(source), *pins, who="support-ml")
    assert code == 0, err
    ref, _ = out.split()
    assert ref == "support-lora@3"
    auth = raw_rows(
        estate.database,
        "SELECT auth FROM ledger WHERE action = 'version.register' ORDER BY seq DESC LIMIT 1",
    )[0][0]
    assert json.loads(auth)["principal"] == "support-ml@example.com"
    assert json.loads(auth)["method"] == "token"
    again_remote = _cli(estate, "register", "support-lora", str(source), *pins, who="support-ml")
    again_local = _cli(
        estate, "register", "support-lora", str(source), *pins, who="support-ml", remote=False
    )
    assert again_remote == again_local
    assert _cli(estate, "show", ref, who="bob") == _cli(
        estate, "show", ref, who="bob", remote=False
    )
    assert _cli(estate, "verify-content", ref, str(source), who="bob", remote=False)[0] == 0
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps({"metrics": {"accuracy": 0.93}, "produced_at": "2026-11-30T00:00:00Z"})
    )
    code, out, err = _cli(
        estate,
        "eval",
        "ingest",
        "support-bot@2",
        str(results),
        "--suite",
        "support-evals@2",
        who="support-ml",
    )
    assert code == 0, err
    assert "accuracy=0.93" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"metrics": {"accuracy": "high"}}')
    args = ("eval", "ingest", "support-bot@2", str(bad), "--suite", "support-evals@2")
    assert _cli(estate, *args, who="support-ml") == _cli(
        estate, *args, who="support-ml", remote=False
    )
    stack_args = ("register", "support-bot", *[a for p in SUPPORT_BOT_PINS for a in ("--pin", p)])
    assert _cli(estate, *stack_args, who="support-ml") == _cli(
        estate, *stack_args, who="support-ml", remote=False
    )


def test_a_principal_over_its_rate_is_429_and_the_others_are_not(estate: Estate) -> None:
    from support.server import start_server, stop_server

    process, url = start_server(
        estate.database,
        cwd=Path(estate.database.removeprefix("sqlite:///")).parent,
        args=("--rate-limit", "5"),
    )
    try:
        alice = {"Authorization": f"Bearer {estate.tokens['alice']}"}
        bob = {"Authorization": f"Bearer {estate.tokens['bob']}"}
        answers = [httpx.get(f"{url}{API}/whoami", headers=alice, timeout=30) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        body = _problem(answers[-1], 429)
        assert body["code"] == "TooManyRequests"
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 61
        assert httpx.get(f"{url}{API}/whoami", headers=bob, timeout=30).status_code == 200
        refused = httpx.get(f"{url}{API}/whoami", headers=alice, timeout=30)
        assert refused.status_code == 429  # a refused request does not reset the window
    finally:
        stop_server(process)


def test_versions_are_searched_by_metric_over_http_and_through_the_cli(estate: Estate) -> None:
    with estate.client("bob") as bob:
        found = bob.get(
            f"{API}/versions",
            params={"metric": "accuracy", "min": 0.85, "entry": "support-bot", "page_size": 1},
        )
        assert found.status_code == 200, found.text
        body = found.json()
        assert [(v["entry"], v["version"]) for v in body["versions"]] == [("support-bot", 1)]
        assert body["versions"][0]["metric"] == 0.9
        assert body["next_page_token"] is not None  # support-bot@2 is on the next page
        nxt = bob.get(
            f"{API}/versions",
            params={
                "metric": "accuracy",
                "min": 0.85,
                "entry": "support-bot",
                "page_size": 1,
                "page_token": body["next_page_token"],
            },
        ).json()
        assert [v["version"] for v in nxt["versions"]] == [2]
        _problem(bob.get(f"{API}/versions", params={"param": "no-equals"}), 400)
        _problem(bob.get(f"{API}/versions"), 400)
    code, out, err = estate.cli(
        "--json", "search", "--metric", "accuracy", "--min", "0.85", token=estate.tokens["bob"]
    )
    assert code == 0, err
    assert [(v["entry"], v["version"]) for v in json.loads(out)["versions"]] == [
        ("support-bot", 1),
        ("support-bot", 2),
    ]


def test_no_cross_origin_access_by_default(estate: Estate) -> None:
    """No CORS headers: a page on another origin cannot read the API with a browser's
    credentials, and a preflight is not granted."""
    origin = {"Origin": "https://evil.example.com"}
    with estate.client("bob") as bob:
        read = bob.get(f"{API}/whoami", headers=origin)
        preflight = bob.options(
            f"{API}/promotions",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
    assert read.status_code == 200
    for response in (read, preflight):
        assert not [h for h in response.headers if h.startswith("access-control-")]
