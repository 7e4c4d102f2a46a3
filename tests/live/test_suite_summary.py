"""What a test run (scripts/test, .ci/run) says about the tests it did not run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_run_says_why_tests_were_deselected_or_skipped():
    # As .ci/run runs it (-q; pytest.ini adds -ra), on a selection where every test is left
    # out one way or another: the other servers' copies of a serve-only module, the rest by
    # -k, and the one test -k keeps skips (no tmux on the PATH). No server starts.
    modules = ["tests/providers/openai/test_chat_validation.py", "tests/stats/test_llmsim_top.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "80_columns", *modules],
        cwd=ROOT,
        env={**os.environ, "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    ours = re.search(r"^deselected (\d+) tests, the copies for servers their module \(LIVE_SERVERS\)", output, re.M)
    assert ours, output
    assert re.search(rf"^  serve only: {ours[1]} \(test_chat_validation.py\)$", output, re.M), output
    assert re.search(r"^deselected \d+ tests by -k, -m or --deselect$", output, re.M), output
    assert re.search(r"^SKIPPED \[1\] tests/stats/test_llmsim_top.py:\d+: tmux is not installed$", output, re.M), output
