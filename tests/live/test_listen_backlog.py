"""Both servers listen with a backlog that holds a load test's burst of connections."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlparse

import pytest


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the listen backlog")
def test_the_listening_socket_has_a_backlog_of_4096(llmsim_server):
    port = urlparse(llmsim_server.base_url).port
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    # For a listening socket, ss reports the backlog in the Send-Q column.
    send_q = {int(line.split()[2]) for line in out.splitlines() if line.strip()}
    assert send_q == {4096}, out
