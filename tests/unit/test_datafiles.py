from pathlib import Path

import pytest

from canary_operator.lab.crds import load_crds
from canary_operator.lab.datafiles import from_data_dir
from canary_operator.lab.errors import DataFilesMissing
from tests.paths import shared_testdata


def test_missing_files_are_listed_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataFilesMissing) as missing:
        from_data_dir(tmp_path)
    message = str(missing.value)
    assert "istio/crds-v1.30.3.yaml" in message
    assert "pod-fast-pod-delete.yaml" in message
    assert "--data-dir" in message


@pytest.mark.skipif(shared_testdata() is None, reason="shared testdata not beside the checkout")
def test_shared_testdata_holds_the_istio_crds_and_kwok_stages() -> None:
    data_dir = shared_testdata()
    assert data_dir is not None
    files = from_data_dir(data_dir)
    names = {crd["metadata"]["name"] for crd in load_crds(files.istio_crds)}
    assert {"virtualservices.networking.istio.io", "destinationrules.networking.istio.io"} <= names
    assert len(files.kwok_stages) == 6
