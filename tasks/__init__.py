"""SeqIO registrations: import this package to register every task and mixture."""

from tasks import pretraining  # noqa: F401
