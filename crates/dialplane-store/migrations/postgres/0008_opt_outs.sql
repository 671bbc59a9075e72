-- Each workspace's list of numbers that must not be called.
CREATE TABLE opt_outs (
    workspace   TEXT NOT NULL,
    number      TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    PRIMARY KEY (workspace, number)
);
