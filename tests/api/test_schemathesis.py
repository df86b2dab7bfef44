"""Property-based run of schemathesis over the whole OpenAPI schema, in process (ASGI): no
response is a 5xx, every response matches its documented status, media type and schema.

Bounded: a few examples per operation, deadline off (the 2-core CI machine is shared).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

from engine.sites.registry import register_site
from tests.api.conftest import SITE_TOML, Desk, make_app, prepare_home

MAX_EXAMPLES = 10
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    d = prepare_home(Path(tmp_path_factory.mktemp("schemathesis")) / "home")
    register_site(d.engine, SITE_TOML, "toml")
    return d


def _no_server_error(response: Any, case: Any) -> None:
    assert response.status_code < 500, (
        f"{case.method} {case.path} {case.query} {case.body!r}: {response.status_code} "
        f"{response.text[:300]}"
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(desk: Desk, mode: GenerationMode) -> None:
    _run(desk, mode)


@pytest.mark.postgres
def test_api_conforms_to_its_schema_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    d = prepare_home(tmp_path / "home", database_url=postgres_url)
    try:
        register_site(d.engine, SITE_TOML, "toml")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(d, mode)
    finally:
        d.engine.dispose()


def _run(desk: Desk, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(desk))
    headers = desk.auth("admin")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself is valid
        operations.append(result.ok())
    calls: list[int] = []
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            calls.append(response.status_code)
            _no_server_error(response, case)
            if mode is GenerationMode.POSITIVE:
                case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # An operation without inputs has nothing to break (e.g. GET /health).
            assert mode is GenerationMode.NEGATIVE
    assert len(calls) >= 3 * len(operations)
    assert any(400 <= c < 500 for c in calls)
