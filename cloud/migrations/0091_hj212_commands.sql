-- 0091_hj212_commands: platform commands to HJ 212 data loggers, queued by the operator
-- (`shanshui cloud hj212 command`), carried out by whichever HJ 212 listener holds the
-- logger's connection, and their answers (QnRtn of the 9011, ExeRtn of the 9012, the
-- values the logger reported).
CREATE TABLE hj212_commands (
    id            bigserial PRIMARY KEY,
    mn            text NOT NULL,
    cn            text NOT NULL CHECK (cn IN ('1011', '1012', '1061', '1062')),
    value         text,
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sent', 'done', 'failed')),
    qn_rtn        integer,
    exe_rtn       integer,
    result        jsonb NOT NULL DEFAULT '{}'::jsonb,
    requested_by  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX hj212_commands_queued ON hj212_commands (mn) WHERE state = 'queued';
