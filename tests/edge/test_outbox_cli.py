"""``shanshui edge outbox list|export|resend`` and ``shanshui edge status`` on a real outbox."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edge.cli import app
from edge.config import load_config
from edge.outbox import OutboxStore
from tests.edge.support import write_gateway
from wire import Reading

runner = CliRunner()
T0 = 1_790_000_000_000


def outbox_with_a_refused_batch(folder: Path) -> tuple[Path, int]:
    path = write_gateway(
        folder,
        gateway_id="gw-cli-01",
        mqtt_port=1883,
        topic_root="shanshui/v1",
        modbus_port=5020,
        slaves={"th1": 1},
    )
    store = OutboxStore.open(load_config(path, environ={}).data_dir)
    try:
        store.enqueue([Reading("th1", "air_temperature", T0 + i, 20.5 + i) for i in range(3)])
        refused = store.seal("gw-cli-01", 2)
        assert refused is not None
        store.seal("gw-cli-01", 2)
        store.quarantine(refused.seq, "unknown_quantity")
    finally:
        store.close()
    return path, refused.seq


def test_list_export_and_resend_quarantined_batches(tmp_path: Path) -> None:
    config, seq = outbox_with_a_refused_batch(tmp_path)
    listed = runner.invoke(app, ["outbox", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "unsent batches 1 (1 readings), quarantined batches 1" in listed.output
    assert f"seq {seq}: 2 readings, unknown_quantity, since " in listed.output

    exported = runner.invoke(app, ["outbox", "export", "-c", str(config)])
    assert exported.exit_code == 0, exported.output
    (record,) = [json.loads(line) for line in exported.output.splitlines()]
    assert record["seq"] == seq
    assert record["reason"] == "unknown_quantity"
    assert record["readings"] == [
        ["th1", "air_temperature", T0, 20.5, "N"],
        ["th1", "air_temperature", T0 + 1, 21.5, "N"],
    ]

    refused = runner.invoke(app, ["outbox", "resend", "-c", str(config)])
    assert refused.exit_code == 2
    assert "--all" in refused.output
    unknown = runner.invoke(app, ["outbox", "resend", str(seq), str(seq + 99), "-c", str(config)])
    assert unknown.exit_code == 2
    assert f"not in quarantine: {seq + 99}" in unknown.output
    listed = runner.invoke(app, ["outbox", "list", "-c", str(config)])
    assert "quarantined batches 1" in listed.output  # nothing moved on a refused call
    resent = runner.invoke(app, ["outbox", "resend", str(seq), "-c", str(config)])
    assert resent.exit_code == 0, resent.output
    assert "1 batch(es) back in the outbox" in resent.output
    listed = runner.invoke(app, ["outbox", "list", "-c", str(config)])
    assert "unsent batches 2 (3 readings), quarantined batches 0" in listed.output


def test_status_of_a_stopped_agent_comes_from_the_outbox(tmp_path: Path) -> None:
    config, _ = outbox_with_a_refused_batch(tmp_path)
    result = runner.invoke(app, ["status", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "agent: no status written" in result.output
    assert "outbox: 0 pending readings, 1 unsent batches (1 readings)" in result.output
    assert "1 quarantined" in result.output
    assert "disk free:" in result.output


def test_a_missing_outbox_is_one_clear_line(tmp_path: Path) -> None:
    config = write_gateway(
        tmp_path,
        gateway_id="gw-cli-01",
        mqtt_port=1883,
        topic_root="shanshui/v1",
        modbus_port=5020,
        slaves={"th1": 1},
    )
    result = runner.invoke(app, ["outbox", "list", "-c", str(config)])
    assert result.exit_code == 1
    assert "error: no outbox in" in result.output
    assert "Traceback" not in result.output
