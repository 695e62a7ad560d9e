"""factory-boy factories for test data, bound to the Flask-SQLAlchemy session at start-up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory

from rewards.models import Account, Card, Customer, Program, Transaction
from rewards.models.program import DEFAULT_EXCLUDED_MCCS


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"


class ProgramFactory(_Base):
    class Meta:
        model = Program

    slug = factory.Sequence(lambda n: f"program-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Card")
    brand_partner = "Noodle Bar Group"
    currency = "JPY"
    points_name = "points"
    earn_rate = Decimal("1")
    timezone = "Asia/Tokyo"
    pending_days = 0
    expiry_months = 12
    excluded_mccs = factory.LazyFunction(lambda: list(DEFAULT_EXCLUDED_MCCS))


class CustomerFactory(_Base):
    class Meta:
        model = Customer
        exclude = ("program",)

    program = factory.SubFactory(ProgramFactory)
    program_id = factory.LazyAttribute(lambda o: o.program.id)
    external_ref = factory.Sequence(lambda n: f"cust-{n}")
    birth_date = date(2005, 4, 1)
    nickname = factory.Sequence(lambda n: f"player{n}")
    tags = factory.LazyFunction(list)

    @factory.post_generation
    def account(obj, create, extracted, **kwargs):
        if create:
            session = CustomerFactory._meta.sqlalchemy_session
            session.add(Account(program_id=obj.program_id, customer_id=obj.id))
            session.flush()


class CardFactory(_Base):
    class Meta:
        model = Card
        exclude = ("customer",)

    customer = factory.SubFactory(CustomerFactory)
    customer_id = factory.SelfAttribute("customer.id")
    program_id = factory.SelfAttribute("customer.program_id")
    token = factory.Sequence(lambda n: f"card_tok_{n:06d}")


class TransactionFactory(_Base):
    class Meta:
        model = Transaction

    program_id = factory.SelfAttribute("card.program_id")
    external_id = factory.Sequence(lambda n: f"tx-{n}")
    card_token = factory.SelfAttribute("card.token")
    kind = "purchase"
    amount_minor = 1000
    currency = "JPY"
    mcc = "5812"
    category = "dining"
    merchant_id = "m-1"
    merchant_name = "Noodle Bar"
    channel = "in_store"
    occurred_at = factory.LazyFunction(lambda: datetime.now(UTC))
    status = "received"

    class Params:
        card = None


def bind_factories(session) -> None:
    """Point every factory at the app's scoped session."""
    for factory_class in (ProgramFactory, CustomerFactory, CardFactory, TransactionFactory):
        factory_class._meta.sqlalchemy_session = session
