//! The accept loop: connections under the cap, each served by hyper's
//! HTTP/1 server with the head limits and timeout, drained at shutdown
//! within the grace period.

use super::admit::Ingress;
use super::HttpOptions;
use crate::serve::ServeError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Accepts connections until `shutdown`, then drains them within the
/// grace period.
pub(super) async fn serve(
    ingress: Arc<Ingress>,
    options: &HttpOptions,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let bind = |source: std::io::Error| ServeError::Bind {
        endpoint: format!("http://{}", options.address),
        source: Box::new(source),
    };
    let listener = tokio::net::TcpListener::bind(options.address)
        .await
        .map_err(bind)?;
    on_ready(listener.local_addr().map_err(bind)?);
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&connections).acquire_owned() => p,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        // A response is written in pieces (head, body chunks, the last
        // chunk): with Nagle's algorithm each piece after the first waits
        // for the client's delayed ACK, ~40 ms here.
        let _ = stream.set_nodelay(true);
        let ingress = Arc::clone(&ingress);
        let mut stopping = stopping.clone();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .max_headers(options.max_headers)
            .max_buf_size(options.max_header_bytes.max(8192));
        tasks.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let ingress = Arc::clone(&ingress);
                async move { Ok::<_, std::convert::Infallible>(ingress.handle(request).await) }
            });
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}
