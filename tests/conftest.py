"""Fixtures shared by the tests; the helpers they use live in helpers.py."""

import pytest

from helpers import BACKENDS


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each hook backend this interpreter has."""
    return request.param
