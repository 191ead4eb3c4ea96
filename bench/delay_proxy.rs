//! A TCP proxy that adds a fixed latency each way, for benchmarks against
//! a database "on another machine" (bench/postgres.sh puts it between
//! ferrid and PostgreSQL).
//!
//!   cargo run --release --example delay_proxy -- --to 127.0.0.1:5432 \
//!       [--listen 127.0.0.1:0] [--delay-ms 2]
//!
//! Prints `listening on ADDR` once bound. Every chunk read from one side is
//! stamped with the time it arrived and written to the other side when
//! `--delay-ms` has passed since then, in order. Reading goes on while
//! earlier chunks wait, so the delay is latency, not a throughput limit:
//! a stream of chunks arrives as fast as it left, shifted by the delay. An
//! end of stream (a half-close) travels the same way. tokio's timer counts
//! whole milliseconds, so each chunk waits from `--delay-ms` up to 1 ms
//! more (a round trip gains 2 × delay + up to 2 ms).

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

struct Args {
    listen: SocketAddr,
    to: SocketAddr,
    delay: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut to, mut delay_ms) = ("127.0.0.1:0".to_owned(), None, 2.0_f64);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--to" => to = Some(value),
            "--delay-ms" => delay_ms = value.parse().map_err(|_| format!("--delay-ms {value}: a number"))?,
            other => return Err(format!("unknown flag {other} (--listen, --to, --delay-ms)")),
        }
    }
    if !(0.0..=10_000.0).contains(&delay_ms) {
        return Err("--delay-ms: between 0 and 10000".into());
    }
    Ok(Args {
        listen: listen.parse().map_err(|_| format!("--listen {listen}: an address like 127.0.0.1:0"))?,
        to: to.ok_or("--to ADDR is required")?.parse().map_err(|_| "--to: an address like 127.0.0.1:5432")?,
        delay: Duration::from_secs_f64(delay_ms / 1000.0),
    })
}

/// A chunk and when it may be written on; `None`: the reading side ended.
type Stamped = (Instant, Option<Vec<u8>>);

/// Reads from `from` until it ends, stamping each chunk with its due time.
async fn read_side(mut from: tokio::net::tcp::OwnedReadHalf, delay: Duration, out: mpsc::UnboundedSender<Stamped>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let chunk = match from.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(buf[..n].to_vec()),
        };
        let done = chunk.is_none();
        if out.send((Instant::now() + delay, chunk)).is_err() || done {
            return;
        }
    }
}

/// Writes each chunk to `to` when it is due, in the order read.
async fn write_side(mut to: tokio::net::tcp::OwnedWriteHalf, mut input: mpsc::UnboundedReceiver<Stamped>) {
    while let Some((due, chunk)) = input.recv().await {
        tokio::time::sleep_until(due).await;
        match chunk {
            Some(bytes) => {
                if to.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            None => {
                let _ = to.shutdown().await;
                return;
            }
        }
    }
}

async fn relay(client: TcpStream, to: SocketAddr, delay: Duration) {
    let server = match TcpStream::connect(to).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("delay_proxy: cannot connect to {to}: {e}");
            return;
        }
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Unbounded: a bounded queue would stop reading while chunks wait out
    // their delay, which would turn the latency into a throughput cap.
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    tokio::join!(
        read_side(client_read, delay, up_tx),
        write_side(server_write, up_rx),
        read_side(server_read, delay, down_tx),
        write_side(client_write, down_rx),
    );
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("{}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {bound}");
    loop {
        let (client, _) = listener.accept().await.map_err(|e| e.to_string())?;
        tokio::spawn(relay(client, args.to, args.delay));
    }
}
