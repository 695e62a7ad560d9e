"""The same batch submitted concurrently from two OS processes: every external id stored once."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import func, select, text

from rewards.models import LedgerEntry, Transaction
from tests.ledger_helpers import assert_reconciled, balance, enrol
from tests.process_helpers import lock_waiters, poll
from tests.test_ingest_api import tx_row

ROWS = [tx_row(n, card_token=f"card_tok_{n % 40:06d}") for n in range(3000)]


def _submit(config: dict, headers: dict, start, results) -> None:
    """Child process: its own app, engine and connections; posts once both are ready."""
    from api import create_app

    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        client.get("/healthz")  # warm up, so both processes are ready before the race
        start.wait(60)  # a barrier: both post at the same moment
        response = client.post("/v1/transactions", json={"transactions": ROWS}, headers=headers)
        results.put((response.status_code, response.get_json()))


def test_same_batch_from_two_processes_is_stored_once_and_credited_once(
    app, app_config, db, program, processor_headers, run_jobs
):
    cards = [enrol(program.id, token=f"card_tok_{n:06d}") for n in range(40)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=_submit, args=(app_config, processor_headers, start, results))
        for _ in range(2)
    ]
    with db.engine.connect() as gate:
        # Inserts into `transactions` wait behind this lock: once both requests wait on it,
        # both are mid-request at the same moment, and releasing it lets them race.
        gate.execute(text("LOCK TABLE transactions IN SHARE MODE"))
        for worker in workers:
            worker.start()
        poll(lambda: lock_waiters() == 2, 90, "the two requests never stored at the same time")
        gate.commit()
    answers = [results.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(30)

    assert [status for status, _ in answers] == [202, 202]
    assert sum(body["accepted"] for _, body in answers) == len(ROWS)
    assert sum(body["duplicates"] for _, body in answers) == len(ROWS)
    db.session.remove()
    ids = db.session.execute(
        select(Transaction.external_id, func.count()).group_by(Transaction.external_id)
    ).all()
    assert len(ids) == len(ROWS) and {count for _, count in ids} == {1}

    # Both processes enqueued what they stored; workers then credit every external id once.
    run_jobs()
    credited = db.session.execute(
        select(LedgerEntry.transaction_id, func.count()).group_by(LedgerEntry.transaction_id)
    ).all()
    assert len(credited) == len(ROWS) and {count for _, count in credited} == {1}
    for card in cards:
        assert balance(card.customer_id) == (75 * 1200, 0)
    assert_reconciled()
