"""Bulk enrolment of customers and their cards from CSV or JSON Lines files (`POST
/v1/customer-files`, `rewards import-customers`)."""

from rewards.enrolment.files import FORMATS, read_customers
from rewards.enrolment.service import EnrolmentSummary, enrol_customers

__all__ = ["FORMATS", "EnrolmentSummary", "enrol_customers", "read_customers"]
