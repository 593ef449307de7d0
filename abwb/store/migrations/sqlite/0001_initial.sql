-- abwb schema 1 (SQLite). Timestamps are integer microseconds since the Unix epoch (UTC).
-- Config objects of every kind share one table: each row is the object's JSON document
-- plus the columns queries filter on (kind, key, status, version, updated_at).

CREATE TABLE IF NOT EXISTS config_meta (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    config_version INTEGER NOT NULL
);
INSERT OR IGNORE INTO config_meta (id, config_version) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS config_objects (
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    status     TEXT,
    phase      INTEGER,
    version    INTEGER NOT NULL,
    has_run    INTEGER NOT NULL DEFAULT 0,
    doc        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS config_objects_status ON config_objects (kind, status);

CREATE TABLE IF NOT EXISTS audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT '',
    before         TEXT,
    after          TEXT,
    config_version INTEGER NOT NULL,
    at             INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log (kind, key, id);

CREATE TABLE IF NOT EXISTS exposures (
    exposure_id    TEXT    PRIMARY KEY,
    experiment     TEXT    NOT NULL,
    variant        TEXT    NOT NULL,
    phase          INTEGER NOT NULL,
    unit_type      TEXT    NOT NULL,
    unit_id        TEXT    NOT NULL,
    config_version INTEGER NOT NULL,
    exposed_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS exposures_experiment_time ON exposures (experiment, exposed_at);
CREATE INDEX IF NOT EXISTS exposures_time ON exposures (exposed_at);

CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT    PRIMARY KEY,
    unit_type   TEXT    NOT NULL,
    unit_id     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       REAL,
    occurred_at INTEGER NOT NULL,
    properties  TEXT
);
CREATE INDEX IF NOT EXISTS events_name_time ON events (name, occurred_at);
CREATE INDEX IF NOT EXISTS events_time ON events (occurred_at);

CREATE TABLE IF NOT EXISTS alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    experiment  TEXT,
    rollout     TEXT,
    dedup_key   TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    message     TEXT    NOT NULL DEFAULT '',
    evidence    TEXT    NOT NULL DEFAULT '{}',
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER
);
-- At most one open alert per dedup key; resolved ones are history.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_dedup ON alerts (dedup_key) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS api_keys (
    key_hash   TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
