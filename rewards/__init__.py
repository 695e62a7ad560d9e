"""The points economy: programs, customers, cards, transactions, the ledger and its accounts."""
