"""SeqIO registrations: import this package to register every task and mixture."""

from tasks import sources  # noqa: F401
from tasks import pretraining  # noqa: F401
from tasks import synthetic  # noqa: F401
from tasks import evaluation  # noqa: F401
from tasks import mixtures  # noqa: F401  (last: mixtures name the tasks above)
