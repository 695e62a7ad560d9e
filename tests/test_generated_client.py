"""A Python client generated from `/v1/openapi.json` builds without warnings and works for
every audience, with typed models, against the app (httpx's WSGI transport: real HTTP
requests and responses, no server thread)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

# The generator reads text/csv and JSON Lines bodies as raw bytes this way (see README).
GENERATOR_CONFIG = """\
content_type_overrides:
  text/csv: application/octet-stream
  application/x-ndjson: application/octet-stream
"""
PACKAGE = "rewards_client"


@pytest.fixture
def generated(client, tmp_path: Path):
    """The client package generated from the live spec, imported."""
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(client.get("/v1/openapi.json").json))
    config = tmp_path / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda module: importlib.import_module(f"{PACKAGE}.{module}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _client(generated: Any, app: Any, headers: dict[str, str]) -> Any:
    token = headers["Authorization"].removeprefix("Bearer ")
    return generated("client").AuthenticatedClient(
        base_url="http://localhost",
        token=token,
        raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.WSGITransport(app=app)},
    )


def test_one_call_per_audience_through_the_generated_client(
    app,
    client,
    db,
    generated,
    program,
    launch,
    processor_headers,
    marketer_headers,
    admin_headers,
    cardholder_headers,
    partner_headers,
):
    models = generated("models")
    processor = _client(generated, app, processor_headers)
    enrolled = generated("api.customers.enrol_customer").sync(
        client=processor,
        body=models.CustomerCreate(external_ref="cust-1", birth_date=date(2006, 5, 1)),
    )
    assert isinstance(enrolled, models.Customer), enrolled
    generated("api.customers.enrol_customer_card").sync(
        client=processor,
        external_ref="cust-1",
        body=models.CardCreate(token="card_tok_000001"),
    )

    # Processor: a batch of one good and one bad row.
    row = {
        "external_id": "tx-1",
        "card_token": "card_tok_000001",
        "kind": "purchase",
        "amount_minor": 1500,
        "currency": program.currency,
        "mcc": "5812",
        "merchant_id": "m-1",
        "occurred_at": "2026-05-01T12:00:00+09:00",
    }
    batch = generated("api.transactions.submit_transaction_batch").sync(
        client=processor,
        body=models.TransactionBatchCreate.from_dict(
            {"transactions": [row, {**row, "external_id": "tx-2", "amount_minor": -1}]}
        ),
    )
    assert isinstance(batch, models.TransactionBatch), batch
    assert (batch.accepted, batch.duplicates, len(batch.rejected)) == (1, 0, 1)
    status = generated("api.batches.get_batch").sync(client=processor, batch_id=batch.batch_id)
    assert isinstance(status, models.Batch)
    assert status.id == batch.batch_id

    # Marketer: the campaign just launched, listed as a typed model.
    campaign_id = launch(name="Dining 3x")
    page = generated("api.campaigns.list_campaigns").sync(
        client=_client(generated, app, marketer_headers)
    )
    assert isinstance(page, models.CampaignPage)
    assert [(c.id, c.name) for c in page.data] == [(campaign_id, "Dining 3x")]

    # Cardholder: the balance, with `next_release` as a typed optional model.
    balance = generated("api.me.get_my_balance").sync(
        client=_client(generated, app, cardholder_headers)
    )
    assert isinstance(balance, models.Balance), balance
    assert balance.available == 0 and balance.pending == 0  # the batch is not processed yet
    assert balance.next_release is None

    # Admin: the processor and partner keys the fixtures minted, never their secrets.
    keys = generated("api.api_keys.list_api_keys").sync(
        client=_client(generated, app, admin_headers), program=program.slug
    )
    assert isinstance(keys, models.ApiKeyPage), keys
    assert sorted(key.role for key in keys.data) == ["partner", "processor"]
    assert "secret" not in json.dumps(keys.to_dict())

    # Partner: no partner endpoint exists yet; the refusal comes back as a typed Problem.
    refused = generated("api.partners.list_partners").sync(
        client=_client(generated, app, partner_headers)
    )
    assert isinstance(refused, models.Problem)
    assert refused.status == 403
