"""tap-postgres, closing every full-table read with a second ACTIVATE_VERSION."""

from __future__ import annotations

from tap_postgres.tap import TapPostgres


class AirflowMetadbTap(TapPostgres):
    """TapPostgres whose full-table streams announce when they have been read completely.

    The SDK sends ACTIVATE_VERSION before a full-table stream's records; a loader must not
    delete rows missing from the new version until the read is known to be complete, so the
    same message is sent again after the stream's last record.  A loader that sees the second
    message knows the version is whole (see load/airflow-audit-loader).
    """

    def sync_all(self) -> None:
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()
        if self.state:
            self._state_writer.write_state(self.state)
        for stream in self.streams.values():
            if not stream.selected and not stream.has_selected_descendents:
                continue
            if stream.parent_stream_type:
                continue
            stream.sync()
            stream.finalize_state_progress_markers()
            version = getattr(stream, "_stream_version", None)
            if stream.replication_method == "FULL_TABLE" and version is not None:
                stream._write_activate_version_message(version)
        for stream in self.streams.values():
            stream.log_sync_costs()
