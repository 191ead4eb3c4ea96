//! The actix-web floor: the same server settings as ferrid (workers,
//! keep-alive) and one handler that returns a fixed JSON body of a given
//! size, pre-built as `Bytes`. ferrid's discovery and JWKS are measured as a
//! ratio to this.
//!
//! cargo run --release --example floor -- PORT BODY_BYTES WORKERS

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || std::io::Error::other("usage: floor PORT BODY_BYTES WORKERS");
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let workers: usize = args.get(3).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    // {"x":"aaaa…"} padded to exactly `size` bytes.
    let body = Bytes::from(format!("{{\"x\":\"{}\"}}", "a".repeat(size.saturating_sub(8))));
    let body = web::Data::new(body);
    HttpServer::new(move || {
        App::new().app_data(body.clone()).route(
            "/floor",
            web::get().to(|body: web::Data<Bytes>| async move {
                HttpResponse::Ok().content_type("application/json").body(body.get_ref().clone())
            }),
        )
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
