//! The early refusal: a small SQL lexer that finds the statement's first keyword.
//!
//! This layer is for the model's sake (a clear "not allowed, here is what is"
//! before any round trip); the database is the real guard. The lexer skips
//! comments (`--`, nested `/* */`), strings (`'…'`, `E'…'`, `U&'…'`, `B'…'`,
//! `X'…'`), quoted identifiers and dollar quotes, so keywords hidden in them
//! neither refuse nor pass a statement.

use super::functions;

/// What the lexer keeps of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word (keyword or unquoted identifier), upper-cased.
    Word(String),
    /// `;`
    Semicolon,
    /// `(`
    Open,
    /// `)`
    Close,
    /// A double-quoted identifier, unquoted (`"a""b"` → `a"b`).
    Quoted(String),
    /// A `U&"…"` identifier whose escapes could not be decoded.
    UnicodeQuoted,
    /// Anything else: literals, quoted identifiers, operators, parameters.
    Other,
}

/// What the tool accepts, said to the model in every refusal.
const ALLOWED: &str = "send one read-only statement: SELECT, WITH … SELECT, VALUES, TABLE, EXPLAIN (without ANALYZE) or SHOW";

/// Checks that `sql` is one read-only query the tool is willing to send.
///
/// Returns the refusal reason, written for the model.
pub(crate) fn check(sql: &str) -> Result<(), String> {
    let tokens = lex(sql);
    let Some(end) = tokens.iter().rposition(|t| *t != Token::Semicolon) else {
        return Err(format!("the query is empty; {ALLOWED}"));
    };
    let body = tokens.get(..=end).unwrap_or_default();
    if body.contains(&Token::Semicolon) {
        return Err(format!(
            "only one statement per call is allowed (found `;` between statements); {ALLOWED}"
        ));
    }
    let first = body.iter().find(|t| **t != Token::Open);
    let Some(Token::Word(first)) = first else {
        return Err(format!(
            "the query does not start with a keyword; {ALLOWED}"
        ));
    };
    check_functions(body)?;
    match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" => check_body(body),
        "EXPLAIN" => {
            if explain_analyzes(body) {
                return Err(format!(
                    "EXPLAIN ANALYZE runs the statement and is not allowed; use plain EXPLAIN, or {ALLOWED}"
                ));
            }
            check_body(body)
        }
        "SHOW" => Ok(()),
        other => Err(refusal_for(other)),
    }
}

/// Checks a query for `explain_postgres_query`: everything [`check`] checks,
/// and it must be a query (`SELECT`, `WITH`, `VALUES`, `TABLE`), since the
/// tool puts `EXPLAIN` in front of it.
pub(crate) fn check_explainable(sql: &str) -> Result<(), String> {
    check(sql)?;
    match lex(sql).iter().find(|t| **t != Token::Open) {
        Some(Token::Word(w)) if matches!(w.as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE") => {
            Ok(())
        }
        _ => Err(
            "give the query itself (SELECT, WITH … SELECT, VALUES or TABLE), without EXPLAIN or its options"
                .into(),
        ),
    }
}

/// The refusal for a statement whose first keyword is not allowed.
fn refusal_for(keyword: &str) -> String {
    let why = match keyword {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            "transaction control is not allowed: the tool runs every query in its own read-only transaction"
        }
        "SET" | "RESET" | "DISCARD" => "changing session settings is not allowed",
        "PREPARE" | "EXECUTE" | "DEALLOCATE" | "DECLARE" | "FETCH" | "MOVE" | "CLOSE" => {
            "prepared statements and cursors are not allowed"
        }
        "LISTEN" | "NOTIFY" | "UNLISTEN" => "LISTEN/NOTIFY is not allowed",
        "COPY" => "COPY is not allowed",
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" => {
            "the database is read-only for this tool: data-modifying statements are not allowed"
        }
        "CREATE" | "ALTER" | "DROP" | "GRANT" | "REVOKE" | "COMMENT" | "SECURITY" | "REINDEX"
        | "CLUSTER" | "VACUUM" | "ANALYZE" | "ANALYSE" | "REFRESH" | "IMPORT" | "LOAD"
        | "CHECKPOINT" | "LOCK" | "REASSIGN" => {
            "the database is read-only for this tool: DDL and maintenance statements are not allowed"
        }
        "CALL" | "DO" => "procedures and DO blocks are not allowed",
        _ => "this statement is not a query",
    };
    format!("{why} (statement starts with `{keyword}`); {ALLOWED}")
}

/// Whether an `EXPLAIN` asks for `ANALYZE`, bare or in its option list.
fn explain_analyzes(body: &[Token]) -> bool {
    let mut words = body.iter().skip_while(|t| **t == Token::Open).skip(1);
    match words.next() {
        Some(Token::Word(w)) => w == "ANALYZE" || w == "ANALYSE",
        Some(Token::Open) => words
            .take_while(|t| **t != Token::Close)
            .any(|t| matches!(t, Token::Word(w) if w == "ANALYZE" || w == "ANALYSE")),
        _ => false,
    }
}

/// Refuses calls of the functions [`functions::refused`] names, however
/// they are spelled: any case, schema-qualified, double-quoted, `U&"…"` with
/// or without `UESCAPE`, in the select list, `FROM`, `LATERAL` or nested.
/// A `U&"…"` name whose escapes cannot be read is refused too.
fn check_functions(body: &[Token]) -> Result<(), String> {
    for pair in body.windows(2) {
        let [name, Token::Open] = pair else { continue };
        let called = match name {
            Token::Word(w) => w.to_ascii_lowercase(),
            Token::Quoted(q) => q.clone(),
            Token::UnicodeQuoted => {
                return Err(format!(
                    "a function named with unreadable U&\"…\" escapes is not allowed; write the name plainly; {ALLOWED}"
                ));
            }
            _ => continue,
        };
        if let Some(class) = functions::refused(&called) {
            return Err(format!(
                "`{called}` {} and is not allowed, whatever the role; {ALLOWED}",
                class.reason()
            ));
        }
    }
    Ok(())
}

/// Refuses data-modifying parts inside an allowed statement: DML in a CTE,
/// `SELECT … INTO`, and row locks (`FOR UPDATE` / `FOR SHARE`).
fn check_body(body: &[Token]) -> Result<(), String> {
    let mut previous: Option<&str> = None;
    for token in body {
        let Token::Word(word) = token else {
            previous = None;
            continue;
        };
        let after_for = matches!(previous, Some("FOR" | "KEY"));
        match word.as_str() {
            "UPDATE" | "SHARE" if after_for => {
                return Err(format!(
                    "row locks (FOR UPDATE / FOR SHARE) are not allowed in a read-only query; {ALLOWED}"
                ));
            }
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" => {
                return Err(format!(
                    "data-modifying statements are not allowed, also not inside WITH (found `{word}`; \
                     if it is a column name, write it in double quotes); {ALLOWED}"
                ));
            }
            "INTO" => {
                return Err(format!(
                    "SELECT … INTO creates a table and is not allowed (if `into` is a column name, write it \
                     in double quotes); {ALLOWED}"
                ));
            }
            _ => {}
        }
        previous = Some(word.as_str());
    }
    Ok(())
}

/// Splits SQL into the tokens [`check`] needs, skipping comments and quoted text.
fn lex(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '-' if at(i + 1) == Some('-') => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0usize;
                while let Some(c) = at(i) {
                    if c == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if c == '*' && at(i + 1) == Some('/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            '\'' => {
                i = skip_quoted(&chars, i, '\'', false);
                tokens.push(Token::Other);
            }
            '"' => {
                let end = skip_quoted(&chars, i, '"', false);
                let inner: String = chars
                    .get(i + 1..end.saturating_sub(1).max(i + 1))
                    .unwrap_or_default()
                    .iter()
                    .collect();
                tokens.push(Token::Quoted(inner.replace("\"\"", "\"")));
                i = end;
            }
            '$' => {
                i = skip_dollar(&chars, i);
                tokens.push(Token::Other);
            }
            ';' => {
                tokens.push(Token::Semicolon);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            c if is_ident_start(c) => {
                let start = i;
                while at(i).is_some_and(is_ident_char) {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                // PostgreSQL folds only ASCII letters of unquoted names.
                let upper = word.to_ascii_uppercase();
                match (upper.as_str(), at(i)) {
                    // E'…' escapes backslashes; B'…', X'…', N'…' are plain.
                    ("E", Some('\'')) => {
                        i = skip_quoted(&chars, i, '\'', true);
                        tokens.push(Token::Other);
                    }
                    ("B" | "X" | "N", Some('\'')) => {
                        i = skip_quoted(&chars, i, '\'', false);
                        tokens.push(Token::Other);
                    }
                    // U&'…' and U&"…", with an optional UESCAPE clause.
                    ("U", Some('&')) if matches!(at(i + 1), Some('\'' | '"')) => {
                        let quote = at(i + 1).unwrap_or('\'');
                        let open = i + 1;
                        i = skip_quoted(&chars, open, quote, false);
                        let (escape, after) = uescape(&chars, i);
                        if quote == '"' {
                            let raw = chars.get(open + 1..i.saturating_sub(1).max(open + 1));
                            let raw: String = raw.unwrap_or_default().iter().collect();
                            tokens.push(
                                decode_unicode(&raw.replace("\"\"", "\""), escape)
                                    .map_or(Token::UnicodeQuoted, Token::Quoted),
                            );
                        } else {
                            tokens.push(Token::Other);
                        }
                        if let Some(after) = after {
                            i = after;
                        }
                    }
                    _ => tokens.push(Token::Word(upper)),
                }
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    tokens
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Skips whitespace and comments from `i`; returns the next index.
fn skip_blank(chars: &[char], mut i: usize) -> usize {
    loop {
        match (chars.get(i), chars.get(i + 1)) {
            (Some(c), _) if c.is_whitespace() => i += 1,
            (Some('-'), Some('-')) => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            (Some('/'), Some('*')) => {
                let mut depth = 0usize;
                while let Some(&c) = chars.get(i) {
                    if c == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c == '*' && chars.get(i + 1) == Some(&'/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            _ => return i,
        }
    }
}

/// Reads a `UESCAPE 'c'` clause after a `U&` literal ending before `i`:
/// the escape character (default `\\`) and the index after the clause.
fn uescape(chars: &[char], i: usize) -> (Option<char>, Option<usize>) {
    let word_at = skip_blank(chars, i);
    let word: String = chars
        .get(word_at..word_at + 7)
        .unwrap_or_default()
        .iter()
        .collect();
    let word_ends = !chars.get(word_at + 7).copied().is_some_and(is_ident_char);
    if !word.eq_ignore_ascii_case("UESCAPE") || !word_ends {
        return (Some('\\'), None);
    }
    let quote_at = skip_blank(chars, word_at + 7);
    match (
        chars.get(quote_at),
        chars.get(quote_at + 1),
        chars.get(quote_at + 2),
    ) {
        (Some('\''), Some(&c), Some('\'')) if c != '\'' => (Some(c), Some(quote_at + 3)),
        // Not a readable one-character escape: the name cannot be decoded.
        _ => (
            None,
            Some(skip_quoted(chars, quote_at, '\'', false).max(quote_at + 1)),
        ),
    }
}

/// Decodes the escapes of a `U&"…"` identifier (`\\XXXX`, `\\+XXXXXX`, a
/// doubled escape, surrogate pairs), as PostgreSQL does; `None` when they
/// are not valid.
fn decode_unicode(raw: &str, escape: Option<char>) -> Option<String> {
    let escape = escape?;
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut high: Option<u32> = None;
    while let Some(&c) = chars.get(i) {
        if c != escape {
            if high.is_some() {
                return None;
            }
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&escape) {
            if high.is_some() {
                return None;
            }
            out.push(escape);
            i += 2;
            continue;
        }
        let (start, len) = if chars.get(i + 1) == Some(&'+') {
            (i + 2, 6)
        } else {
            (i + 1, 4)
        };
        let hex: String = chars.get(start..start + len)?.iter().collect();
        let code = u32::from_str_radix(&hex, 16).ok()?;
        i = start + len;
        match (high.take(), code) {
            (None, 0xD800..=0xDBFF) => high = Some(code),
            (Some(h), 0xDC00..=0xDFFF) => {
                out.push(char::from_u32(
                    0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00),
                )?);
            }
            (Some(_), _) => return None,
            (None, code) => out.push(char::from_u32(code).filter(|&c| c != '\0')?),
        }
    }
    high.is_none().then_some(out)
}

/// Skips a quoted run starting at `start` (the opening quote); a doubled quote
/// stays inside; with `backslash`, `\x` escapes too. Returns the index after it.
fn skip_quoted(chars: &[char], start: usize, quote: char, backslash: bool) -> usize {
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        if backslash && c == '\\' {
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// Skips `$tag$ … $tag$` starting at `start`, or a `$1` parameter / lone `$`.
fn skip_dollar(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    // `$1`: a positional parameter.
    if chars.get(i).is_some_and(char::is_ascii_digit) {
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        return i;
    }
    while chars
        .get(i)
        .is_some_and(|&c| c != '$' && (c.is_alphanumeric() || c == '_' || !c.is_ascii()))
    {
        i += 1;
    }
    if chars.get(i) != Some(&'$') {
        return start + 1;
    }
    let tag = chars.get(start..=i).unwrap_or_default();
    let mut j = i + 1;
    while j < chars.len() {
        if chars.get(j..j + tag.len()) == Some(tag) {
            return j + tag.len();
        }
        j += 1;
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) {
        assert_eq!(check(sql), Ok(()), "{sql}");
    }

    fn refused(sql: &str, needle: &str) {
        let err = check(sql).expect_err(sql);
        assert!(err.contains(needle), "{sql}: {err}");
        assert!(err.contains("SELECT, WITH"), "{sql}: {err}");
    }

    #[test]
    fn signalling_functions_are_refused_however_spelled() {
        for sql in [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user",
            "select PG_CANCEL_BACKEND(1)",
            "SELECT pg_catalog.pg_terminate_backend (42)",
            "SELECT \"pg_terminate_backend\"(42)",
            "SELECT * FROM pg_stat_activity, LATERAL pg_cancel_backend(pid) AS x",
        ] {
            refused(sql, "signals other database sessions");
        }
        refused(
            "SELECT U&\"\\0070g_cancel_backend\"(1)",
            "signals other database sessions",
        );
        ok("SELECT 'pg_terminate_backend(1)'");
        ok("SELECT \"pg_terminate_backend\" FROM t");
        ok("SELECT a.\"we\"\"ird\"(1) FROM t a");
    }

    #[test]
    fn side_effect_functions_are_refused_wherever_they_appear() {
        for (sql, needle) in [
            (
                "SELECT dblink_exec('dbname=app', 'DROP TABLE t')",
                "dblink_exec",
            ),
            (
                "SELECT * FROM dblink('dbname=app', 'SELECT 1') AS t(a int)",
                "dblink",
            ),
            ("SELECT public.DBLINK_EXEC('x', 'y')", "dblink_exec"),
            ("SELECT \"public\".\"dblink_exec\"('x', 'y')", "dblink_exec"),
            (
                "SELECT lo_export(oid, '/tmp/x') FROM pg_largeobject_metadata",
                "lo_export",
            ),
            ("SELECT pg_catalog . lo_import ('/etc/passwd')", "lo_import"),
            ("SELECT lo_export/**/(1, '/tmp/x')", "lo_export"),
            ("SELECT lo_export -- c\n (1, '/tmp/x')", "lo_export"),
            (
                "SELECT x FROM t WHERE EXISTS (SELECT lowrite(0, 'x'))",
                "lowrite",
            ),
            ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
            (
                "SELECT * FROM t, LATERAL pg_read_file('/etc/passwd') f",
                "pg_read_file",
            ),
            ("SELECT set_config('role', 'x', false)", "set_config"),
            ("SELECT pg_notify('c', 'm')", "pg_notify"),
            (
                "SELECT pg_try_advisory_xact_lock(1)",
                "pg_try_advisory_xact_lock",
            ),
            ("SELECT pg_advisory_unlock_all()", "pg_advisory_unlock_all"),
            (
                "SELECT pg_import_system_collations('pg_catalog')",
                "pg_import_system_collations",
            ),
            ("SELECT nextval('s')", "nextval"),
            (
                "SELECT query_to_xml('DELETE FROM t', true, true, '')",
                "query_to_xml",
            ),
            (
                "WITH x AS (SELECT pg_reload_conf()) SELECT * FROM x",
                "pg_reload_conf",
            ),
            ("VALUES (pg_switch_wal())", "pg_switch_wal"),
            ("EXPLAIN SELECT lo_unlink(1)", "lo_unlink"),
            (
                "SELECT * FROM ROWS FROM (pg_logical_slot_get_changes('s', NULL, NULL))",
                "pg_logical",
            ),
            // U&"…" names, decoded as the server decodes them.
            ("SELECT U&\"lo\\005fexport\"(1, '/tmp/x')", "lo_export"),
            ("SELECT U&\"\\+00006co_export\"(1, '/tmp/x')", "lo_export"),
            (
                "SELECT U&\"lo!005fexport\" UESCAPE '!' (1, '/tmp/x')",
                "lo_export",
            ),
            (
                "SELECT U&\"dblink!005fexec\" /* c */ uescape\n'!'('a', 'b')",
                "dblink_exec",
            ),
            (
                "SELECT U&\"\\D83D\\DE00x\"(1), U&\"set\\005Fconfig\"('a', 'b', true)",
                "set_config",
            ),
        ] {
            let err = check(sql).expect_err(sql);
            assert!(
                err.contains(needle) && err.contains("whatever the role"),
                "{sql}: {err}"
            );
        }
        refused("SELECT U&\"lo\\zzzzexport\"(1)", "unreadable");
        refused("SELECT U&\"lo!005fexport\" UESCAPE '!!' (1)", "unreadable");
        // Names in strings, column names and look-alikes pass.
        ok("SELECT 'lo_export(1)', \"dblink\" FROM t");
        ok("SELECT U&\"lo\\005fexport\" FROM t");
        ok("SELECT currval('s'), lastval(), pg_sleep(0.1), table_to_xml('t', true, true, '')");
        ok("SELECT pg_blocking_pids(pid), txid_current_if_assigned() FROM pg_stat_activity");
        ok("SELECT locale(1), lower(x), U&\"d\\0061t\\+000061\"(2)");
        ok("SELECT U&'lo\\005fexport(1)' UESCAPE '\\'");
    }

    #[test]
    fn queries_pass() {
        ok("SELECT 1");
        ok("  select 1;  ");
        ok("select 1;;");
        ok("(SELECT 1) UNION (SELECT 2)");
        ok("WITH x AS (SELECT 1) SELECT * FROM x");
        ok("VALUES (1), (2)");
        ok("TABLE app.orders");
        ok("EXPLAIN SELECT 1");
        ok("EXPLAIN (FORMAT JSON) SELECT 1");
        ok("SHOW search_path");
        ok("-- a comment; DROP TABLE x\nSELECT 1");
        ok("/* nested /* ; */ DROP */ SELECT 1");
        ok("SELECT 'a;b', \"x;y\", $$;DROP$$, $t$ ; $x$ ; $t$, E'\\';', U&'d\\0061t;a'");
        ok("SELECT updated_at, inserted FROM t");
        ok("SELECT \"update\" FROM t");
        ok("SELECT 1 AS \"INTO\"");
    }

    #[test]
    fn stacked_statements_are_refused() {
        refused("SELECT 1; DROP TABLE t", "one statement");
        refused("SELECT 1;COMMIT;DROP TABLE t", "one statement");
        refused("SELECT 1 -- x\n; DELETE FROM t", "one statement");
        refused("SELECT 'a'';'; SELECT 2", "one statement");
        refused("SELECT E'\\'';' ; SELECT 2", "one statement");
        refused("SELECT $a$ $b$ $a$; SELECT 2", "one statement");
    }

    #[test]
    fn non_queries_are_refused() {
        refused("COMMIT", "transaction control");
        refused("begin; select 1", "one statement");
        refused("SET ROLE postgres", "session settings");
        refused("RESET ALL", "session settings");
        refused("PREPARE p AS SELECT 1", "prepared statements");
        refused("COPY t TO PROGRAM 'id'", "COPY");
        refused("DROP TABLE t", "DDL");
        refused("/* SELECT */ DELETE FROM t", "data-modifying");
        refused("", "empty");
        refused(" ; ", "empty");
        refused("42", "keyword");
    }

    #[test]
    fn writes_inside_queries_are_refused() {
        refused(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "data-modifying",
        );
        refused("SELECT * INTO new_t FROM t", "INTO");
        refused("SELECT * FROM t FOR UPDATE", "row locks");
        refused("SELECT * FROM t FOR NO KEY UPDATE", "row locks");
        refused("SELECT * FROM t FOR KEY SHARE", "row locks");
        refused("EXPLAIN ANALYZE SELECT 1", "ANALYZE");
        refused("EXPLAIN (COSTS OFF, ANALYZE) SELECT 1", "ANALYZE");
        refused("EXPLAIN INSERT INTO t VALUES (1)", "data-modifying");
    }

    #[test]
    fn unterminated_text_does_not_panic() {
        let _ = check("SELECT 'abc");
        let _ = check("SELECT $a$ abc");
        let _ = check("SELECT /* abc");
        let _ = check("SELECT E'\\");
        let _ = check("SELECT $");
    }
}
