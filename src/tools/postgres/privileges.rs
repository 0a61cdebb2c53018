//! The privilege check at start: some attacks are stopped only by privileges.
//!
//! A read-only transaction does not stop `COPY … TO PROGRAM`, `lo_export`,
//! `pg_read_file`, `dblink_exec` or `pg_terminate_backend`; only the role's
//! privileges do. So the tool refuses to start as a role that has them, unless
//! the user allows it explicitly.

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

/// Lists why the connected role is too powerful for a read-only tool (empty
/// when it is fine).
pub(crate) async fn problems(
    client: &tokio_postgres::Client,
) -> Result<Vec<String>, tokio_postgres::Error> {
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
    Ok(problems)
}
