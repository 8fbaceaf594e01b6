"""Keras on torch in this pytest process (`KERAS_BACKEND=torch pytest tests/python`, or
`pytest tests/python/with_torch` alone): tests/python/backend_process.py says why the
process is claimed here, and tests/python/process_plan.py which other modules run on
torch too.
"""

from __future__ import annotations

from backend_process import claim_backend

claim_backend("torch", "tests/python/with_torch")
