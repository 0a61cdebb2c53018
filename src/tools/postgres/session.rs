//! [`Lease`]: one pooled connection for one call, left clean or thrown away.
//!
//! Advisory locks, prepared statements, cursors `WITH HOLD`, `LISTEN` and
//! session settings survive `ROLLBACK`. After every call the crate runs
//! `DISCARD ALL` (which also releases advisory locks) on the connection; if that
//! fails, or the call was cut short, the connection is closed instead of going
//! back to the pool. A call dropped mid-query (say, by an agent's own timeout)
//! sends a cancel request, since dropping a future does not stop the server.

use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object, Pool, PoolError};
use tokio_postgres::CancelToken;

use super::error::{QueryError, short_cause};
use super::tls::Connector;

/// How long the reset after a call may take before the connection is dropped.
const RESET_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection taken from the pool for one call.
pub(crate) struct Lease {
    object: Option<Object>,
    token: CancelToken,
    connector: Connector,
}

impl Lease {
    /// Takes a connection from the pool (connecting if needed).
    pub(crate) async fn acquire(pool: &Pool, connector: &Connector) -> Result<Self, QueryError> {
        let object = pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => {
                QueryError::Unavailable("no free connection in time (pool exhausted)".into())
            }
            PoolError::Backend(e) => QueryError::Unavailable(short_cause(&e)),
            other => QueryError::Unavailable(short_cause(&other)),
        })?;
        let token = object.cancel_token();
        Ok(Self {
            object: Some(object),
            token,
            connector: connector.clone(),
        })
    }

    /// The connection.
    pub(crate) fn client(&mut self) -> Option<&mut ClientWrapper> {
        self.object.as_deref_mut()
    }

    /// Asks the server to cancel what runs on this connection, then closes it.
    pub(crate) async fn cancel_and_discard(mut self) {
        if let Some(object) = self.object.take() {
            if let Err(e) = self.connector.cancel(&self.token).await {
                tracing::warn!(error = %e, "postgres: cancel request failed");
            }
            drop(Object::take(object));
        }
    }

    /// Closes the connection instead of returning it to the pool.
    pub(crate) fn discard(mut self) {
        if let Some(object) = self.object.take() {
            drop(Object::take(object));
        }
    }

    /// Resets the session and returns the connection to the pool, or closes it
    /// when the reset fails.
    pub(crate) async fn release(mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        let reset = tokio::time::timeout(RESET_TIMEOUT, object.batch_execute("DISCARD ALL")).await;
        match reset {
            Ok(Ok(())) => {
                // DISCARD ALL deallocated the statements tokio-postgres cached.
                object.clear_type_cache();
                object.statement_cache.clear();
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "postgres: session reset failed, closing the connection");
                drop(Object::take(object));
            }
            Err(_) => {
                tracing::debug!("postgres: session reset timed out, closing the connection");
                drop(Object::take(object));
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Still holding the connection: the call was dropped mid-flight.
        let Some(object) = self.object.take() else {
            return;
        };
        drop(Object::take(object));
        let token = self.token.clone();
        let connector = self.connector.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = connector.cancel(&token).await {
                    tracing::warn!(error = %e, "postgres: cancel request failed");
                }
            });
        }
    }
}
