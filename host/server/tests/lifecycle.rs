//! Liveness, readiness and the graceful shutdown of a real `pchost serve` (issue #17): on
//! SIGTERM, `/readyz` turns 503 at once while `/livez` stays 200, a request in flight is
//! answered in full, and the process then exits 0 by itself.

mod common;

use std::io::Write;
use std::time::Duration;

#[test]
fn sigterm_turns_readiness_off_drains_the_request_in_flight_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("pchost-lifecycle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let server = common::serve(
        dir.clone(),
        &["--shutdown-delay-secs", "2", "--shutdown-grace-secs", "20"],
    );
    let get = |path: &str| common::request(&server, "GET", path, None, "application/json", b"", "");
    assert_eq!(get("/readyz"), (200, serde_json::json!({ "status": "ready" })));
    assert_eq!(get("/livez").0, 200);

    // A quote whose body is half sent when the signal comes.
    let body = serde_json::json!({ "customer_id": 102, "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 5 }] })
    .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut in_flight = std::net::TcpStream::connect(&server.address).expect("connect");
    in_flight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        in_flight,
        "POST /v1/quotes HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer pch_demo_customer_102\r\nContent-Length: {}\r\n\r\n{head}",
        server.address,
        body.len()
    )
    .expect("the head and half the body");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    let (status, ready) = get("/readyz");
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["problems"][0], "shutting down", "{ready}");
    assert_eq!(get("/livez").0, 200, "alive while it drains");

    in_flight.write_all(tail.as_bytes()).expect("the rest of the body");
    let (status, quote) = common::receive(in_flight).expect("the answer to the request in flight");
    assert_eq!((status, quote["total"].as_str()), (201, Some("442.50")), "{quote}");
    let exit = server.exited(Duration::from_secs(20));
    assert!(exit.success(), "exited {exit:?}");
    let _ = std::fs::remove_dir_all(dir);
}
