"""Fault injection for maildesk (issue 5, SPEC §8): counts of lost and doubled mail.

Run `python -m faults [all|kill|dovecot|smtp|sqlite-lock|robot]`; see faults/README.md.
"""
