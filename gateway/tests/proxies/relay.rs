//! A recording TCP relay between the proxy and the gateway: every byte the proxy sends the
//! gateway passes through it and is kept, so a test can say what the gateway was sent (no
//! request body) without any hook in the gateway. Cut, it closes every connection and
//! accepts none: a gateway that does not answer, as the proxy sees it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The most bytes kept.
const MAX_KEPT: usize = 16 * 1024 * 1024;

type Kept = Arc<Mutex<Vec<u8>>>;

pub struct Relay {
    addr: SocketAddr,
    sent: Kept,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on a loopback port and relays each connection to `target`.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent: Kept = Arc::default();
        let kept = Arc::clone(&sent);
        let (cut, is_cut) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *is_cut.borrow() {
                    continue;
                }
                let kept = Arc::clone(&kept);
                let mut is_cut = is_cut.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        tokio::select! {
                            () = relay(client, server, kept) => {}
                            _ = is_cut.wait_for(|cut| *cut) => {}
                        }
                    }
                });
            }
        });
        Relay {
            addr,
            sent,
            cut,
            task,
        }
    }

    /// Closes every connection to the gateway and refuses the next ones.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the proxy has sent the gateway so far, as text (lossy).
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, kept: Kept) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                let mut kept = kept.lock().unwrap();
                let room = MAX_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
