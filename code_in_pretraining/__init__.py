"""code_in_pretraining: data-mixture pre-training research in JAX.

Importing the package is cheap: subpackages pull in TensorFlow, SeqIO or grain
only when used, so kernels and the model also run where those are absent.
"""

__version__ = "0.1.0"
