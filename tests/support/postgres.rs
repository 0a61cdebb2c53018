//! A throwaway PostgreSQL server for tests and benches (never a mock).
//!
//! `initdb` + `pg_ctl` from `/usr/lib/postgresql/*/bin` (or `pg_config --bindir`)
//! in a temporary directory, on a free loopback port. As root the server runs as
//! the `postgres` OS user (initdb refuses root). A watchdog shell process stops
//! the server and removes its directory when the test process exits, so a
//! `static` server is still cleaned up. With `DATABASE_URL` set, that server is
//! used instead (a fresh database per process).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The watchdogs are meant to outlive this process.
    clippy::zombie_processes
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;

/// The password given to the test roles (used only with `DATABASE_URL`).
pub const PASSWORD: &str = "toolcall-test";

/// A running server and the database prepared on it.
#[derive(Debug)]
pub struct Server {
    host: String,
    port: u16,
    /// The superuser name.
    pub superuser: String,
    superuser_password: Option<String>,
    /// The test database.
    pub dbname: String,
    /// Where the binaries are (for `pg_dump`), if found.
    pub bin: Option<PathBuf>,
    /// The data directory of a server we started.
    data: Option<PathBuf>,
    maintenance_db: String,
    as_postgres: bool,
    /// Extra `-c` server options (e.g. TLS).
    options: String,
}

static SHARED: OnceLock<Server> = OnceLock::new();

/// The server shared by this test process, started on first use.
pub fn server() -> &'static Server {
    SHARED.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) => Server::external(&url),
        Err(_) => Server::start_private(),
    })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The directory holding `initdb`, `pg_ctl` and `pg_dump`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(best) = found.pop() {
        return Some(best);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Server {
    fn pg_command(&self, program: &str) -> Command {
        let bin = self.bin.as_ref().expect("postgres binaries").join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        }
    }

    /// Starts a new server of its own (for tests that stop and restart it).
    pub fn start_private() -> Server {
        Self::start_private_with(false)
    }

    /// Starts a new server of its own that also accepts TLS (a self-signed
    /// certificate made with `openssl`).
    pub fn start_private_tls() -> Server {
        Self::start_private_with(true)
    }

    /// Starts a new server of its own with extra `-c` options (e.g.
    /// `-c shared_preload_libraries=pg_stat_statements`).
    pub fn start_private_with_options(options: &str) -> Server {
        Self::start_private_inner(false, options)
    }

    fn start_private_with(tls: bool) -> Server {
        Self::start_private_inner(tls, "")
    }

    fn start_private_inner(tls: bool, extra: &str) -> Server {
        let bin = bin_dir().expect(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or pg_config --bindir); \
             run .ci/postgres.sh or set DATABASE_URL",
        );
        let as_postgres = is_root();
        if as_postgres
            && !Command::new("id")
                .arg("postgres")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            run(
                {
                    let mut c = Command::new("useradd");
                    c.args(["--system", "--no-create-home", "postgres"]);
                    c
                },
                "useradd postgres",
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("toolcall-pg-")
            .tempdir()
            .unwrap()
            .keep();
        if as_postgres {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&dir);
                    c
                },
                "chown",
            );
        }
        let data = dir.join("data");
        let port = free_port();
        let mut server = Server {
            host: "127.0.0.1".into(),
            port,
            superuser: "postgres".into(),
            superuser_password: None,
            dbname: "app".into(),
            bin: Some(bin),
            data: Some(data.clone()),
            maintenance_db: "postgres".into(),
            as_postgres,
            options: String::new(),
        };
        let mut initdb = server.pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        run(initdb, "initdb");
        if tls {
            let mut openssl = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "openssl"]);
                c
            } else {
                Command::new("openssl")
            };
            openssl
                .args([
                    "req",
                    "-new",
                    "-x509",
                    "-days",
                    "2",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                ])
                .arg("-keyout")
                .arg(data.join("server.key"))
                .arg("-out")
                .arg(data.join("server.crt"));
            run(openssl, "openssl req");
            server.options =
                " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
        }
        if !extra.is_empty() {
            server.options.push(' ');
            server.options.push_str(extra);
        }
        server.watchdog(&dir);
        server.start();
        server.prepare();
        server
    }

    /// Starts a streaming replica of this server (one we started): a
    /// `pg_basebackup -R` into a new directory, on a port of its own.
    pub fn start_replica(&self) -> Server {
        let bin = self.bin.clone().expect("postgres binaries");
        let dir = tempfile::Builder::new()
            .prefix("toolcall-pg-replica-")
            .tempdir()
            .unwrap()
            .keep();
        if self.as_postgres {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&dir);
                    c
                },
                "chown",
            );
        }
        let data = dir.join("data");
        let replica = Server {
            host: self.host.clone(),
            port: free_port(),
            superuser: self.superuser.clone(),
            superuser_password: None,
            dbname: self.dbname.clone(),
            bin: Some(bin),
            data: Some(data.clone()),
            maintenance_db: self.maintenance_db.clone(),
            as_postgres: self.as_postgres,
            options: String::new(),
        };
        let mut backup = replica.pg_command("pg_basebackup");
        backup
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-U",
                &self.superuser,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-D",
            ])
            .arg(&data);
        run(backup, "pg_basebackup");
        replica.watchdog(&dir);
        replica.start();
        replica
    }

    fn external(url: &str) -> Server {
        let config = tokio_postgres::Config::from_str(url).expect("DATABASE_URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let server = Server {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            superuser: config.get_user().unwrap_or("postgres").to_owned(),
            superuser_password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            dbname: format!("toolcall_test_{}", std::process::id()),
            bin: bin_dir(),
            data: None,
            maintenance_db: config.get_dbname().unwrap_or("postgres").to_owned(),
            as_postgres: false,
            options: String::new(),
        };
        server.prepare();
        server.drop_database_at_exit(url);
        server
    }

    /// Stops the server and removes `dir` once this process has exited.
    fn watchdog(&self, dir: &Path) {
        let pg_ctl = self.bin.as_ref().unwrap().join("pg_ctl");
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {} -D {}/data -m immediate stop",
                pg_ctl.display(),
                dir.display()
            )
        } else {
            format!(
                "{} -D {}/data -m immediate stop",
                pg_ctl.display(),
                dir.display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = dir.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watchdog");
    }

    /// Drops the per-process database of an external server once this process exits.
    fn drop_database_at_exit(&self, url: &str) {
        let psql = self
            .bin
            .as_ref()
            .map(|b| b.join("psql"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("psql"));
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; {psql} \"$0\" -c 'DROP DATABASE IF EXISTS {db} WITH (FORCE)'",
            pid = std::process::id(),
            psql = psql.display(),
            db = self.dbname,
        );
        let _ = Command::new("sh")
            .args(["-c", &script, url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The server log, for a server we started.
    pub fn log(&self) -> Option<String> {
        let data = self.data.as_ref()?;
        std::fs::read_to_string(data.parent()?.join("log")).ok()
    }

    /// Starts the server (again).
    pub fn start(&self) {
        let data = self.data.as_ref().expect("a server we started");
        let socket_dir = data.parent().unwrap();
        let mut pg_ctl = self.pg_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(socket_dir.join("log"))
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=60 -c shared_buffers=64MB \
                 -c log_statement=all{}",
                self.port,
                socket_dir.display(),
                self.options
            ))
            .arg("start")
            .stdout(Stdio::null());
        run(pg_ctl, "pg_ctl start");
    }

    /// Stops the server (fast shutdown: sessions are terminated).
    pub fn stop(&self) {
        let data = self.data.as_ref().expect("a server we started");
        let mut pg_ctl = self.pg_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null());
        run(pg_ctl, "pg_ctl stop");
    }

    /// The host the server listens on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq URL for `role` on the test database, with another `sslmode`.
    pub fn url_sslmode(&self, role: &str, sslmode: &str) -> String {
        self.url(role)
            .replace("sslmode=disable", &format!("sslmode={sslmode}"))
    }

    /// A libpq URL for `role` on the test database.
    pub fn url(&self, role: &str) -> String {
        self.url_db(role, &self.dbname)
    }

    fn url_db(&self, role: &str, db: &str) -> String {
        let password = if role == self.superuser {
            self.superuser_password.clone()
        } else if self.data.is_none() {
            Some(PASSWORD.to_owned())
        } else {
            None
        };
        match password {
            Some(p) => format!(
                "postgres://{role}:{p}@{}:{}/{db}?sslmode=disable",
                self.host, self.port
            ),
            None => format!(
                "postgres://{role}@{}:{}/{db}?sslmode=disable",
                self.host, self.port
            ),
        }
    }

    /// A superuser client on the test database.
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.client_db(&self.superuser, &self.dbname).await
    }

    /// A client for `role` on the test database.
    pub async fn client(&self, role: &str) -> tokio_postgres::Client {
        self.client_db(role, &self.dbname).await
    }

    async fn client_db(&self, role: &str, db: &str) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url_db(role, db), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect as {role}: {e}"));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Creates the roles, the database and its tables (on a thread of its own,
    /// so it may be called from inside a test's runtime).
    fn prepare(&self) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.prepare_blocking())
                .join()
                .expect("database setup");
        });
    }

    fn prepare_blocking(&self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let admin = self.client_db(&self.superuser, &self.maintenance_db).await;
            let password = if self.data.is_none() {
                format!(" PASSWORD '{PASSWORD}'")
            } else {
                String::new()
            };
            for (role, extra) in [
                ("app_owner", ""),
                ("app_reader", ""),
                ("app_signal", " IN ROLE pg_signal_backend"),
                ("app_files", " IN ROLE pg_read_server_files"),
                ("app_writer", ""),
                ("app_monitor", " IN ROLE pg_monitor"),
            ] {
                admin
                    .batch_execute(&format!(
                        "DO $$ BEGIN CREATE ROLE {role} LOGIN{password}{extra}; \
                         EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                    ))
                    .await
                    .unwrap();
            }
            admin
                .batch_execute(&format!("CREATE DATABASE {} OWNER app_owner", self.dbname))
                .await
                .unwrap();
            let su = self.client_db(&self.superuser, &self.dbname).await;
            su.batch_execute(SUPERUSER_SETUP).await.unwrap();
            let owner = self.client_db("app_owner", &self.dbname).await;
            owner.batch_execute(OWNER_SETUP).await.unwrap();
        });
    }

    /// What must not change: a `pg_dump` of the test database (schema, data,
    /// sequence values, large objects), the roles, advisory locks and files.
    pub async fn snapshot(&self) -> String {
        let admin = self.admin().await;
        let mut out = String::new();
        if let Some(bin) = &self.bin {
            let dump = Command::new(bin.join("pg_dump"))
                .arg("--no-comments")
                .arg("-d")
                .arg(self.url(&self.superuser))
                .output()
                .expect("pg_dump");
            assert!(
                dump.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&dump.stderr)
            );
            // pg_dump 15.14+ writes a random `\restrict` key on every run.
            for line in String::from_utf8_lossy(&dump.stdout).lines() {
                if !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict") {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let rows = admin
            .query(
                "SELECT format('%s super=%s login=%s', rolname, rolsuper, rolcanlogin) FROM pg_roles \
                 WHERE rolname !~ '^pg_' ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        for row in rows {
            out.push_str(row.get::<_, &str>(0));
            out.push('\n');
        }
        let extra = admin
            .query_one(
                "SELECT format('sequence=%s lo=%s advisory=%s databases=%s', \
                   (SELECT last_value FROM shop.orders_id_seq), \
                   (SELECT count(*) FROM pg_largeobject_metadata), \
                   (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), \
                   (SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database))",
                &[],
            )
            .await
            .unwrap();
        out.push_str(extra.get::<_, &str>(0));
        out
    }
}

/// Run as superuser in the test database.
const SUPERUSER_SETUP: &str = "
DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS dblink; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'no dblink'; END $$;
";

/// Run as the owner: the tables the tools read.
pub const OWNER_SETUP: &str = "
CREATE SCHEMA shop;
COMMENT ON SCHEMA shop IS 'The shop';
CREATE TABLE shop.customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    email text
);
COMMENT ON TABLE shop.customers IS 'People who buy';
COMMENT ON COLUMN shop.customers.email IS 'Contact address';
CREATE TABLE shop.orders (
    id serial PRIMARY KEY,
    customer_id integer REFERENCES shop.customers (id),
    total numeric(12, 2) NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT '2024-05-01 12:00:00+00'
);
INSERT INTO shop.customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 100) g;
INSERT INTO shop.orders (customer_id, total) SELECT 1 + g % 100, g * 1.25 FROM generate_series(1, 1000) g;
CREATE TABLE shop.big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 20000) g;
CREATE TABLE shop.secrets (id integer, secret text);
INSERT INTO shop.secrets VALUES (1, 'hunter2');
SELECT lo_from_bytea(0, 'a large object');
CREATE FUNCTION shop.reprice() RETURNS integer LANGUAGE sql
    AS 'UPDATE shop.orders SET total = total + 1 RETURNING 1';
GRANT USAGE ON SCHEMA shop TO app_reader, app_writer;
GRANT SELECT ON shop.customers, shop.orders, shop.big TO app_reader;
GRANT USAGE ON SCHEMA shop TO app_monitor;
GRANT SELECT ON shop.customers, shop.orders, shop.big TO app_monitor;
GRANT SELECT, INSERT ON shop.orders TO app_writer;
";
