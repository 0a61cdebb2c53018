//! The privilege check at start: some attacks are stopped only by privileges.
//!
//! A read-only transaction does not stop `COPY … TO PROGRAM`, `lo_export`,
//! `pg_read_file`, `dblink_exec` or `pg_terminate_backend`; only the role's
//! privileges do. So the tool refuses to start as a role that has them, unless
//! the user allows it explicitly. The guard refuses the side-effect functions
//! by name anyway; a role that may still execute the `dblink` functions or the
//! large-object writers is reported (not refused), since a function of the
//! database could call them where no name check can see.

use super::functions::REVOKED_IN_RECIPE;

/// The roles whose membership makes the tool refuse to start.
const DANGEROUS_ROLES: [&str; 4] = [
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_signal_backend",
];

const CHECK: &str = "\
SELECT r.rolname::text, r.rolsuper,
       ARRAY(SELECT g FROM unnest($1::text[]) AS g
             WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g)
               AND pg_has_role(current_user, g, 'MEMBER')),
       ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%'
               AND n.nspname NOT LIKE 'pg_temp%'
               AND (has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
                    OR has_any_column_privilege(c.oid, 'INSERT, UPDATE'))
             ORDER BY 1 LIMIT 6)
FROM pg_roles r WHERE r.rolname = current_user";

const EXECUTABLE: &str = "\
SELECT DISTINCT p.proname::text, p.proname LIKE 'dblink%'
FROM pg_proc p
WHERE (p.proname = ANY ($1::text[]) OR p.proname LIKE 'dblink%')
  AND has_function_privilege(p.oid, 'EXECUTE')
ORDER BY 2, 1";

/// What the start-up check found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// The role's name.
    pub(crate) role: String,
    /// Why the role is too powerful for a read-only tool (refused unless allowed).
    pub(crate) problems: Vec<String>,
    /// Side-effect functions the role may execute (reported only).
    pub(crate) warnings: Vec<String>,
}

/// Checks the connected role.
pub(crate) async fn check(
    client: &tokio_postgres::Client,
) -> Result<Findings, tokio_postgres::Error> {
    let roles: Vec<String> = DANGEROUS_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let row = client.query_one(CHECK, &[&roles]).await?;
    let name: String = row.try_get(0)?;
    let superuser: bool = row.try_get(1)?;
    let memberships: Vec<String> = row.try_get(2)?;
    let writable: Vec<String> = row.try_get(3)?;
    let mut problems = Vec::new();
    if superuser {
        problems.push(format!("role `{name}` is a superuser"));
    } else {
        if !memberships.is_empty() {
            problems.push(format!(
                "role `{name}` is a member of {}",
                memberships.join(", ")
            ));
        }
        if !writable.is_empty() {
            let mut list = writable
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if writable.len() > 5 {
                list.push_str(", …");
            }
            problems.push(format!("role `{name}` may write to tables ({list})"));
        }
    }
    let mut warnings = Vec::new();
    if !superuser {
        let writers: Vec<String> = REVOKED_IN_RECIPE.iter().map(|f| (*f).to_owned()).collect();
        let rows = client.query(EXECUTABLE, &[&writers]).await?;
        let (dblink, large_objects): (Vec<_>, Vec<_>) = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.try_get::<_, String>(0).ok()?,
                    r.try_get::<_, bool>(1).ok()?,
                ))
            })
            .partition(|(_, dblink)| *dblink);
        for (family, found) in [("dblink", dblink), ("large-object writer", large_objects)] {
            if found.is_empty() {
                continue;
            }
            let names: Vec<String> = found.into_iter().map(|(n, _)| n).collect();
            warnings.push(format!(
                "role `{name}` may execute the {family} functions {}; the tools refuse these calls, \
                 but a function of the database could still make them: revoke EXECUTE on them \
                 from PUBLIC (see the read-only role recipe)",
                names.join(", ")
            ));
        }
    }
    Ok(Findings {
        role: name,
        problems,
        warnings,
    })
}
