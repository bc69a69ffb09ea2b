"""LocalCluster's refusals need no JVM: no cluster to ask about, or one already running."""

from __future__ import annotations

import json

import pytest

from healthmon.lakehouse.spark_cluster import ClusterError, LocalCluster, main


def test_status_of_a_directory_without_a_cluster_is_a_clear_error(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "No cluster is running from" in err and str(tmp_path) in err and "Traceback" not in err


def test_a_second_start_from_the_same_directory_is_refused(tmp_path):
    (tmp_path / "cluster.json").write_text(json.dumps({"master_url": "spark://127.0.0.1:1", "webui": 1, "workers": 2}))
    with pytest.raises(ClusterError, match="already running"):
        LocalCluster(tmp_path).start()
    assert not (tmp_path / "pids").exists()  # nothing was started
