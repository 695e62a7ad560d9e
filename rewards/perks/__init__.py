"""Perks: what cardholders spend points on. The catalog of a program's perks (`models`,
`definition`), redemption (`redemption`: points debited, stock taken, limits kept, in one
transaction) and voucher codes (`codes`)."""
