-- abwb schema 1 (PostgreSQL). Objects are created in the first schema of search_path,
-- so a deployment (or a test) can keep abwb in its own schema.
-- Config objects of every kind share one table: each row is the object's JSON document
-- plus the columns queries filter on (kind, key, status, version, updated_at).

CREATE TABLE IF NOT EXISTS config_meta (
    id             integer PRIMARY KEY CHECK (id = 1),
    config_version bigint  NOT NULL
);
INSERT INTO config_meta (id, config_version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS config_objects (
    kind       text        NOT NULL,
    key        text        NOT NULL,
    status     text,
    phase      integer,
    version    bigint      NOT NULL,
    has_run    boolean     NOT NULL DEFAULT false,
    doc        jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS config_objects_status ON config_objects (kind, status);

CREATE TABLE IF NOT EXISTS audit_log (
    id             bigserial   PRIMARY KEY,
    actor          text        NOT NULL,
    action         text        NOT NULL,
    kind           text        NOT NULL,
    key            text        NOT NULL,
    reason         text        NOT NULL DEFAULT '',
    before         jsonb,
    after          jsonb,
    config_version bigint      NOT NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log (kind, key, id);

CREATE TABLE IF NOT EXISTS exposures (
    exposure_id    text        PRIMARY KEY,
    experiment     text        NOT NULL,
    variant        text        NOT NULL,
    phase          integer     NOT NULL,
    unit_type      text        NOT NULL,
    unit_id        text        NOT NULL,
    config_version bigint      NOT NULL,
    exposed_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS exposures_experiment_time ON exposures (experiment, exposed_at);
CREATE INDEX IF NOT EXISTS exposures_time ON exposures (exposed_at);

CREATE TABLE IF NOT EXISTS events (
    event_id    text             PRIMARY KEY,
    unit_type   text             NOT NULL,
    unit_id     text             NOT NULL,
    name        text             NOT NULL,
    value       double precision,
    occurred_at timestamptz      NOT NULL,
    properties  text
);
CREATE INDEX IF NOT EXISTS events_name_time ON events (name, occurred_at);
CREATE INDEX IF NOT EXISTS events_time ON events (occurred_at);

CREATE TABLE IF NOT EXISTS alerts (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    severity    text        NOT NULL,
    experiment  text,
    rollout     text,
    dedup_key   text        NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    message     text        NOT NULL DEFAULT '',
    evidence    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    opened_at   timestamptz NOT NULL,
    resolved_at timestamptz
);
-- At most one open alert per dedup key; resolved ones are history.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_dedup ON alerts (dedup_key) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS api_keys (
    key_hash   text        PRIMARY KEY,
    name       text        NOT NULL,
    scopes     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- The assignment hash (hash version 1), so analysts can recompute variants in SQL.
-- {ABWB_BUCKET_FUNCTION}
