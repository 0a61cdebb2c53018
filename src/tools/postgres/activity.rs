//! [`GetActivity`] (`get_postgres_activity`) and [`GetLocks`]
//! (`get_postgres_locks`): who is connected, what they run, who blocks whom.

use std::borrow::Cow;
use std::time::Instant;

use deadpool_postgres::Transaction;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use super::error::QueryError;
use super::{Database, Job, Limits};
use crate::tool::Tool;

/// The most characters of a session's query text shown.
const QUERY_CHARS: usize = 300;

/// Arguments of `get_postgres_activity`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ActivityArgs {
    /// Also list idle sessions (default false: active, waiting and idle-in-transaction sessions only).
    pub include_idle: Option<bool>,
}

/// The `get_postgres_activity` tool: the server's sessions (user, state,
/// what they wait for, query and transaction age, the query) and who blocks
/// whom (`pg_blocking_pids`), with a summary line per blocked session.
///
/// Other roles' sessions show their state and query only when the role has
/// `pg_monitor` (or `pg_read_all_stats`).
#[derive(Debug, Clone)]
pub struct GetActivity {
    db: Database,
}

impl GetActivity {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it looks at.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for GetActivity {
    const NAME: &'static str = "get_postgres_activity";
    type Args = ActivityArgs;
    type Output = ActivityReport;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Database sessions")
    }

    fn description(&self) -> Cow<'static, str> {
        "Lists the PostgreSQL server's sessions: user, state, wait event, query and transaction age, \
         the query, and which sessions block which (read-only)."
            .into()
    }

    async fn call(&self, args: ActivityArgs) -> Result<ActivityReport, QueryError> {
        self.db.activity(&args).await
    }
}

/// What `get_postgres_activity` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ActivityReport {
    /// One line per blocked session, naming its blockers, e.g. "pid 812 (app)
    /// has waited 14.2 s (Lock/relation), blocked by pid 790 (admin, idle in
    /// transaction for 31.0 s): SELECT …".
    pub summary: Vec<String>,
    /// The sessions, oldest transaction first (the tool's own excluded).
    pub sessions: Vec<Session>,
    /// Whether more sessions exist than were listed.
    pub truncated: bool,
}

/// One server session of an [`ActivityReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Session {
    /// The backend's process ID.
    pub pid: i32,
    /// The role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The `application_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// `active`, `idle`, `idle in transaction`, `idle in transaction (aborted)`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// What it waits for, as `type/event` (e.g. `Lock/relation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// Seconds since its transaction started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_age_s: Option<f64>,
    /// Seconds since its current (or last) query started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_age_s: Option<f64>,
    /// Seconds since its state changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_age_s: Option<f64>,
    /// The current (or last) query, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The sessions that block it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<i32>,
}

const ACTIVITY: &str = "\
WITH blockers AS (
    SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid FROM pg_stat_activity
)
SELECT a.pid, a.usename::text, a.datname::text, nullif(a.application_name, ''),
       host(a.client_addr), a.state, a.wait_event_type || '/' || a.wait_event,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8,
       extract(epoch FROM clock_timestamp() - a.query_start)::float8,
       extract(epoch FROM clock_timestamp() - a.state_change)::float8,
       left(a.query, $2::int), pg_blocking_pids(a.pid)
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid()
  -- Other roles' sessions show no backend_type without pg_monitor; background
  -- processes have no database.
  AND (a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datname IS NOT NULL))
  AND ($1::bool OR a.state IS DISTINCT FROM 'idle' OR a.pid IN (SELECT pid FROM blockers))
ORDER BY a.xact_start NULLS LAST, a.query_start NULLS LAST, a.pid
LIMIT $3::int";

/// The `get_postgres_activity` job.
pub(crate) struct ReadActivity<'a>(pub(crate) &'a ActivityArgs);

impl Job for ReadActivity<'_> {
    type Output = ActivityReport;

    async fn run(
        &self,
        tx: &Transaction<'_>,
        limits: &Limits,
        _: Instant,
    ) -> Result<ActivityReport, QueryError> {
        let cap = limits.max_rows.min(1000);
        let limit = i32::try_from(cap + 1).unwrap_or(i32::MAX);
        let chars = i32::try_from(QUERY_CHARS).unwrap_or(300);
        let include_idle = self.0.include_idle.unwrap_or(false);
        let rows = tx
            .query(ACTIVITY, &[&include_idle, &chars, &limit])
            .await
            .map_err(|e| limits.error(&e, ACTIVITY))?;
        let mut sessions: Vec<Session> = rows.iter().map(session).collect();
        let truncated = sessions.len() > cap;
        sessions.truncate(cap);
        let summary = blocking_summary(&sessions);
        Ok(ActivityReport {
            summary,
            sessions,
            truncated,
        })
    }
}

fn text(row: &Row, i: usize) -> Option<String> {
    row.try_get::<_, Option<String>>(i).ok().flatten()
}

fn seconds(row: &Row, i: usize) -> Option<f64> {
    row.try_get::<_, Option<f64>>(i)
        .ok()
        .flatten()
        .map(|s| (s * 10.0).round() / 10.0)
}

fn session(row: &Row) -> Session {
    Session {
        pid: row.try_get(0).unwrap_or_default(),
        user: text(row, 1),
        database: text(row, 2),
        application: text(row, 3),
        client: text(row, 4),
        state: text(row, 5),
        wait: text(row, 6),
        transaction_age_s: seconds(row, 7),
        query_age_s: seconds(row, 8),
        state_age_s: seconds(row, 9),
        query: text(row, 10).map(|q| one_line(&q)),
        blocked_by: row
            .try_get::<_, Option<Vec<i32>>>(11)
            .ok()
            .flatten()
            .unwrap_or_default(),
    }
}

/// `pid 812 (app)` or `pid 812`, with its state and age when known.
fn describe(pid: i32, sessions: &[Session]) -> String {
    let Some(s) = sessions.iter().find(|s| s.pid == pid) else {
        return format!("pid {pid}");
    };
    let mut out = format!("pid {pid}");
    if let Some(user) = &s.user {
        out.push_str(&format!(" ({user}"));
        if let Some(state) = &s.state {
            out.push_str(&format!(", {state}"));
            if let Some(age) = s.state_age_s {
                out.push_str(&format!(" for {age:.1} s"));
            }
        }
        out.push(')');
    }
    out
}

fn blocking_summary(sessions: &[Session]) -> Vec<String> {
    sessions
        .iter()
        .filter(|s| !s.blocked_by.is_empty())
        .map(|s| {
            let blockers: Vec<String> = s
                .blocked_by
                .iter()
                .map(|&p| describe(p, sessions))
                .collect();
            let mut line = format!("pid {}", s.pid);
            if let Some(user) = &s.user {
                line.push_str(&format!(" ({user})"));
            }
            match s.query_age_s {
                Some(age) => line.push_str(&format!(" has waited {age:.1} s")),
                None => line.push_str(" waits"),
            }
            if let Some(wait) = &s.wait {
                line.push_str(&format!(" ({wait})"));
            }
            line.push_str(&format!(", blocked by {}", blockers.join(" and ")));
            if let Some(query) = &s.query {
                line.push_str(&format!(": {query}"));
            }
            line
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Arguments of `get_postgres_locks`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct LocksArgs {
    /// Only locks on this table or index (e.g. "public.orders").
    pub relation: Option<String>,
    /// Also list granted locks that block nobody (default false: waiting locks and the locks of the sessions that block them).
    pub include_granted: Option<bool>,
}

/// The `get_postgres_locks` tool: the locks sessions wait for, the locks of
/// the sessions that block them, and (on request) every granted lock.
#[derive(Debug, Clone)]
pub struct GetLocks {
    db: Database,
}

impl GetLocks {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it looks at.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for GetLocks {
    const NAME: &'static str = "get_postgres_locks";
    type Args = LocksArgs;
    type Output = LocksReport;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Database locks")
    }

    fn description(&self) -> Cow<'static, str> {
        "Lists PostgreSQL locks: which sessions wait for which lock on which object, for how long, \
         and the locks held by the sessions blocking them (read-only)."
            .into()
    }

    async fn call(&self, args: LocksArgs) -> Result<LocksReport, QueryError> {
        self.db.locks(&args).await
    }
}

/// What `get_postgres_locks` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LocksReport {
    /// One line per waiting lock, naming the blockers.
    pub summary: Vec<String>,
    /// The locks, waiting ones first (the tool's own excluded).
    pub locks: Vec<Lock>,
    /// Whether more locks exist than were listed.
    pub truncated: bool,
}

/// One lock of a [`LocksReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Lock {
    /// The backend holding or waiting for it.
    pub pid: i32,
    /// `relation`, `transactionid`, `tuple`, `advisory`, `object`…
    pub lock_type: String,
    /// `AccessShareLock`, `AccessExclusiveLock`, `ShareLock`…
    pub mode: String,
    /// Whether it is held (`false`: waited for).
    pub granted: bool,
    /// What is locked, e.g. `public.orders`, `transaction 1234`, `advisory 0/42`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Seconds it has been waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_s: Option<f64>,
    /// The session's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The session's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The session's query, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a waiting lock, the sessions that block it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<i32>,
}

const LOCKS: &str = "\
WITH blockers AS (
    SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid FROM pg_locks WHERE NOT granted
)
SELECT l.pid, l.locktype, l.mode, l.granted,
       CASE l.locktype
         WHEN 'relation' THEN CASE WHEN l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                                   THEN l.relation::regclass::text ELSE 'relation ' || l.relation END
         WHEN 'tuple' THEN format('row (%s,%s) of %s', l.page, l.tuple, l.relation::regclass)
         WHEN 'page' THEN format('page %s of %s', l.page, l.relation::regclass)
         WHEN 'extend' THEN format('extension of %s', l.relation::regclass)
         WHEN 'transactionid' THEN 'transaction ' || l.transactionid
         WHEN 'advisory' THEN format('advisory %s/%s', l.classid, l.objid)
         WHEN 'object' THEN format('%s %s', l.classid::regclass, l.objid)
         ELSE NULL END,
       extract(epoch FROM clock_timestamp() - (to_jsonb(l) ->> 'waitstart')::timestamptz)::float8,
       a.usename::text, a.state, left(a.query, $1::int),
       CASE WHEN NOT l.granted THEN pg_blocking_pids(l.pid) END
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.pid IS DISTINCT FROM pg_backend_pid()
  AND l.locktype <> 'virtualxid'
  AND ($2::bool OR NOT l.granted OR l.pid IN (SELECT pid FROM blockers))
  AND ($3::text IS NULL OR l.relation = to_regclass($3::text))
ORDER BY l.granted, 6 DESC NULLS LAST, l.pid, l.locktype
LIMIT $4::int";

/// The `get_postgres_locks` job.
pub(crate) struct ReadLocks<'a>(pub(crate) &'a LocksArgs);

impl Job for ReadLocks<'_> {
    type Output = LocksReport;

    async fn run(
        &self,
        tx: &Transaction<'_>,
        limits: &Limits,
        _: Instant,
    ) -> Result<LocksReport, QueryError> {
        let cap = limits.max_rows.min(1000);
        let limit = i32::try_from(cap + 1).unwrap_or(i32::MAX);
        let chars = i32::try_from(QUERY_CHARS).unwrap_or(300);
        let include_granted = self.0.include_granted.unwrap_or(false);
        let relation = self.0.relation.clone();
        let rows = tx
            .query(LOCKS, &[&chars, &include_granted, &relation, &limit])
            .await
            .map_err(|e| limits.error(&e, LOCKS))?;
        let mut locks: Vec<Lock> = rows.iter().map(lock).collect();
        let truncated = locks.len() > cap;
        locks.truncate(cap);
        let summary = locks_summary(&locks);
        Ok(LocksReport {
            summary,
            locks,
            truncated,
        })
    }
}

fn lock(row: &Row) -> Lock {
    Lock {
        pid: row
            .try_get::<_, Option<i32>>(0)
            .ok()
            .flatten()
            .unwrap_or_default(),
        lock_type: text(row, 1).unwrap_or_default(),
        mode: text(row, 2).unwrap_or_default(),
        granted: row.try_get(3).unwrap_or(true),
        object: text(row, 4),
        waiting_s: seconds(row, 5),
        user: text(row, 6),
        state: text(row, 7),
        query: text(row, 8).map(|q| one_line(&q)),
        blocked_by: row
            .try_get::<_, Option<Vec<i32>>>(9)
            .ok()
            .flatten()
            .unwrap_or_default(),
    }
}

fn locks_summary(locks: &[Lock]) -> Vec<String> {
    locks
        .iter()
        .filter(|l| !l.granted)
        .map(|l| {
            let object = l.object.as_deref().unwrap_or(&l.lock_type);
            let mut line = format!("pid {}", l.pid);
            if let Some(user) = &l.user {
                line.push_str(&format!(" ({user})"));
            }
            match l.waiting_s {
                Some(s) => line.push_str(&format!(" has waited {s:.1} s")),
                None => line.push_str(" waits"),
            }
            line.push_str(&format!(" for {} on {object}", l.mode));
            let blockers: Vec<String> = l
                .blocked_by
                .iter()
                .map(|&pid| {
                    let held: Vec<&str> = locks
                        .iter()
                        .filter(|h| h.pid == pid && h.granted && h.object == l.object)
                        .map(|h| h.mode.as_str())
                        .collect();
                    let state = locks
                        .iter()
                        .find(|h| h.pid == pid)
                        .and_then(|h| h.state.as_deref());
                    let mut who = format!("pid {pid}");
                    if !held.is_empty() {
                        who.push_str(&format!(" (holds {}", held.join(", ")));
                        if let Some(state) = state {
                            who.push_str(&format!("; {state}"));
                        }
                        who.push(')');
                    } else if let Some(state) = state {
                        who.push_str(&format!(" ({state})"));
                    }
                    who
                })
                .collect();
            if !blockers.is_empty() {
                line.push_str(&format!(", blocked by {}", blockers.join(" and ")));
            }
            line
        })
        .collect()
}
