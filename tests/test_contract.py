"""The OpenAPI document tells the truth: a contract fuzzer (Schemathesis) generates
requests from it, valid and invalid, sends them to the app in-process, and checks each
answer against the document: no 5xx, only documented statuses, bodies and headers as
documented (every 4xx one ``ErrorOut``), and every invalid request refused.

Schemathesis's pytest plugin does not run under this pytest, so each operation gets a
Hypothesis test of its own here.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.python.asgi import shutdown_lifespans

from backend.app import create_app
from backend.settings import Settings

pytestmark = pytest.mark.slow

# Per operation; about 30 s for the whole document on 2 cores.
EXAMPLES = 60
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]
# Not run: positive_data_acceptance (a request valid by the document may still name a
# model that does not exist: 404 is the truth, not a failure), and the checks for
# authentication and stateful links, which this API has none of.


def _strategy(operation):
    """Valid and invalid requests, half of them about the served model: a random model
    id is almost never one, and only the served model's answers reach the endpoints'
    own parameters and bodies."""
    strategies = []
    for mode in GenerationMode:
        strategies.append(operation.as_strategy(mode))
        if "{model_id}" in operation.path:
            strategies.append(operation.as_strategy(mode, path_parameters={"model_id": "digits"}))
    return st.one_of(strategies)


def test_every_answer_keeps_the_openapi_contract(digits_runs, tmp_path):
    app = create_app(
        Settings(
            runs_dir=digits_runs, cache_dir=tmp_path / "cache", warmup=False, max_queued_jobs=1
        )
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, sent = [], {}
    try:
        for result in schema.get_all_operations():
            _fuzz(result.ok(), failures, sent)
    finally:
        shutdown_lifespans()  # the app's jobs stop with the test
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures[:5])
    assert len(sent) >= 13, sorted(sent)
    assert sent["POST /api/models/{model_id}/route"] >= EXAMPLES // 2, sent


def _fuzz(operation, failures: list, sent: dict) -> None:
    """Send one operation's generated requests; what fails goes to ``failures``."""
    sent[operation.label] = 0

    @given(case=_strategy(operation))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        sent[operation.label] += 1
        try:
            case.call_and_validate(checks=CHECKS)
        except Exception as failure:  # every check's failure, collected per operation
            failures.append((operation.label, str(failure)[:1500]))

    fuzz()
