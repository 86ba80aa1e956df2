"""Missing ../shared data: a clear skip locally, a failure under CI=true (the hook in tests/conftest.py, run for
real in a pytester sandbox)."""
from pathlib import Path

CONFTEST = (Path(__file__).resolve().parent / "conftest.py").read_text()
PROBE = '''
import pytest

def test_reads_conformance():
    pytest.skip("conformance data not found at /nowhere/../shared/conformance/kube-proxy")

@pytest.mark.skipif(True, reason="kube-proxy conformance data not found at /x/shared/conformance/a.json")
def test_marked():
    pass

def test_other_skip():
    pytest.skip("no notebooks yet")
'''


def test_skips_locally_with_the_path(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(PROBE)
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*conformance data not found at /nowhere/../shared/conformance/kube-proxy*"])


def test_fails_under_ci(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(PROBE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1, skipped=1)  # a skipif mark fails at setup: an error
    result.stdout.fnmatch_lines(["*CI=true, and the shared test data is missing*"])
