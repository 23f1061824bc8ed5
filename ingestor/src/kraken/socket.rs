//! One Kraken WebSocket v2 connection at the wire level: opening it within a time budget and
//! with bounded frame sizes, sending a text frame within a time budget, closing it cleanly.
//! What the frames say is [`super::frame`]; what the ingestor does with them is the socket
//! source (`sources::socket`).

use std::fmt;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// The writing half of a [`Socket`].
pub type Sink = SplitSink<Socket, Message>;
/// The reading half of a [`Socket`].
pub type Stream = SplitStream<Socket>;

/// Largest frame accepted; Kraken's ticker frames are well under 1 KiB.
const MAX_MESSAGE: usize = 1 << 20;
/// Bound on the close handshake at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The handshake failed (DNS, TCP, TLS, or an HTTP answer instead of the upgrade).
    Failed(tungstenite::Error),
    /// No answer within the budget.
    TimedOut,
}

impl ConnectError {
    /// Cloudflare answered the upgrade with 429 or 503: retry, but slowly.
    pub fn refused(&self) -> bool {
        matches!(self, ConnectError::Failed(tungstenite::Error::Http(r))
            if matches!(r.status().as_u16(), 429 | 503))
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Failed(e) => write!(f, "connect failed: {e}"),
            ConnectError::TimedOut => f.write_str("connect timed out"),
        }
    }
}

/// Opens a connection to `url` (`ws://` or `wss://`) within `timeout`.
pub async fn connect(url: &str, timeout: Duration) -> Result<Socket, ConnectError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(ConnectError::Failed(e)),
        Err(_) => Err(ConnectError::TimedOut),
    }
}

/// Sends one text frame within `timeout`; the error says what went wrong, for a log line.
pub async fn send(sink: &mut Sink, text: String, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sink.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("write timed out".into()),
    }
}

/// Closes cleanly: a close frame (1000), then a short wait for Kraken's reply.
pub async fn close(sink: &mut Sink, stream: &mut Stream) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "shutting down".into(),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(msg)) = stream.next().await {
                if msg.is_close() {
                    break;
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tls_url_fails_cleanly_instead_of_panicking() {
        common::tls::install_default_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            // Accept and hang up in the middle of the TLS handshake.
            if let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let result = connect(
            &format!("wss://localhost:{port}/v2"),
            Duration::from_secs(5),
        )
        .await;
        assert!(result.is_err());
    }
}
