"""Fixtures of the load tests."""
import pytest

from tests.load.server import PulseProcess


@pytest.fixture
def pulse_process(tmp_path):
    server = PulseProcess(tmp_path)
    yield server
    server.stop()
