"""Keras on torch in this pytest process (`pytest tests/python/with_torch`, a line of
the Makefile's test-python): tests/python/backend_process.py says why the process is
claimed here. The modules of EVERY_BACKEND_TESTS named on that line run on torch too.
"""

from __future__ import annotations

from backend_process import claim_backend

claim_backend("torch", "tests/python/with_torch")
