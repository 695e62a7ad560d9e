"""All persistent tables of the points economy, one module per concept."""

from rewards.models.access import ApiKey, AuditLog, IdempotencyRecord
from rewards.models.customer import Card, Customer
from rewards.models.event import Event
from rewards.models.ledger import Account, LedgerEntry
from rewards.models.partner import Partner, PartnerMerchant
from rewards.models.program import Program
from rewards.models.transaction import Batch, BatchRejection, Transaction

__all__ = [
    "Account",
    "ApiKey",
    "AuditLog",
    "Batch",
    "BatchRejection",
    "Card",
    "Customer",
    "Event",
    "IdempotencyRecord",
    "LedgerEntry",
    "Partner",
    "PartnerMerchant",
    "Program",
    "Transaction",
]
