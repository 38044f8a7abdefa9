//! End-to-end: the public API through the real gateway, crypto and storage servers on loopback.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Database, System};
use sharer_core::proto::public::{CreateSecretRequest, RevealSecretRequest};
use sharer_gateway::error::SECRET_GONE;
use tonic::Code;

const CONTENT: &str = "pässwörd 🔑\r\n\t end";

fn create_request(content: &[u8], ttl_seconds: i64) -> CreateSecretRequest {
    CreateSecretRequest {
        content: content.to_vec(),
        ttl: Some(prost_types::Duration {
            seconds: ttl_seconds,
            nanos: 0,
        }),
    }
}

fn reveal_request(id: &str) -> RevealSecretRequest {
    RevealSecretRequest { id: id.to_owned() }
}

async fn create_and_reveal_once(database: Database) {
    let system = System::start(database).await;
    let mut client = system.client().await;

    let created = client
        .create_secret(create_request(CONTENT.as_bytes(), 3600))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.id.len(), 22);
    let expires_at = created.expires_at.unwrap().seconds;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (expires_at - now - 3600).abs() <= 5,
        "expires_at {expires_at} now {now}"
    );

    let revealed = client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revealed.content, CONTENT.as_bytes());

    let again = client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(again.message(), SECRET_GONE);

    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_is_revealed_exactly_once_on_sqlite() {
    create_and_reveal_once(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_is_revealed_exactly_once_on_postgres() {
    create_and_reveal_once(Database::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_and_revealed_ids_get_the_same_answer() {
    let system = System::start(Database::Sqlite).await;
    let mut client = system.client().await;
    let created = client
        .create_secret(create_request(b"x", 60))
        .await
        .unwrap()
        .into_inner();
    client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap();

    let revealed = client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap_err();
    let unknown = client
        .reveal_secret(reveal_request("AAAAAAAAAAAAAAAAAAAAAA"))
        .await
        .unwrap_err();

    assert_eq!(
        (revealed.code(), revealed.message()),
        (unknown.code(), unknown.message())
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_reveals_have_exactly_one_winner() {
    let system = System::start(Database::Postgres).await;
    let client = system.client().await;
    let created = client
        .clone()
        .create_secret(create_request(CONTENT.as_bytes(), 3600))
        .await
        .unwrap()
        .into_inner();

    let reveals = (0..32).map(|_| {
        let mut client = client.clone();
        let id = created.id.clone();
        tokio::spawn(async move { client.reveal_secret(reveal_request(&id)).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(reveals)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].get_ref().content, CONTENT.as_bytes());
    let losers = outcomes.iter().filter_map(|o| o.as_ref().err());
    assert!(losers.clone().all(|status| status.code() == Code::NotFound));
    assert_eq!(losers.count(), 31);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_rows_hold_neither_plaintext_nor_the_id() {
    let system = System::start(Database::Postgres).await;
    let mut client = system.client().await;
    let marker = b"plaintext-marker-6f1c2d";
    let created = client
        .create_secret(create_request(marker, 3600))
        .await
        .unwrap()
        .into_inner();

    let schema = system.schema.as_ref().unwrap();
    let rows = schema
        .admin()
        .query(
            &format!(
                "SELECT t::text, id_hash, sealed_secret FROM {}.secrets t",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let whole_row: String = rows[0].get(0);
    let id_hash: Vec<u8> = rows[0].get(1);
    let sealed: Vec<u8> = rows[0].get(2);

    let id = sharer_core::SecretId::parse(&created.id).unwrap();
    assert_eq!(id_hash, sharer_storage::store::row_key(&id));
    assert!(!whole_row.contains(&created.id), "the row holds the id");
    assert!(sealed.len() > marker.len());
    assert!(!sealed.windows(8).any(|window| window == &marker[..8]));
    assert!(!whole_row.contains("plaintext-marker"));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_invalid_argument_with_a_reason() {
    let system = System::start(Database::Sqlite).await;
    let mut client = system.client().await;

    let cases: Vec<(CreateSecretRequest, &str)> = vec![
        (create_request(b"", 3600), "empty"),
        (create_request(&vec![b'a'; 64 * 1024 + 1], 3600), "limit"),
        (create_request(b"x", 59), "ttl"),
        (create_request(b"x", 7 * 24 * 3600 + 1), "ttl"),
        (create_request(b"x", -60), "ttl"),
    ];
    for (request, reason) in cases {
        let status = client.create_secret(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(reason),
            "{:?} lacks {reason}",
            status.message()
        );
    }

    for id in [
        "",
        "short",
        "AAAAAAAAAAAAAAAAAAAA/+",
        "../../etc/passwd.....",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let status = client.reveal_secret(reveal_request(id)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{id:?}: {status:?}");
    }

    let largest = vec![0xFF_u8; 64 * 1024];
    let created = client
        .create_secret(create_request(&largest, 60))
        .await
        .unwrap()
        .into_inner();
    let revealed = client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revealed.content, largest);
    let default_ttl = client
        .create_secret(CreateSecretRequest {
            content: b"x".to_vec(),
            ttl: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(default_ttl.expires_at.is_some());
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reveal_that_fails_midway_consumes_nothing() {
    let mut system = System::start(Database::Sqlite).await;
    let mut client = system.client().await;
    let created = client
        .create_secret(create_request(CONTENT.as_bytes(), 3600))
        .await
        .unwrap()
        .into_inner();

    system.stop_crypto().await;
    let during_outage = client
        .reveal_secret(reveal_request(&created.id))
        .await
        .unwrap_err();
    assert_eq!(during_outage.code(), Code::Unavailable, "{during_outage:?}");
    let create_during_outage = client
        .create_secret(create_request(b"x", 60))
        .await
        .unwrap_err();
    assert_eq!(create_during_outage.code(), Code::Unavailable);

    system.restart_crypto().await;
    let mut revealed = None;
    for _ in 0..50 {
        match client.reveal_secret(reveal_request(&created.id)).await {
            Ok(response) => {
                revealed = Some(response.into_inner().content);
                break;
            }
            Err(status) if status.code() == Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    assert_eq!(revealed.as_deref(), Some(CONTENT.as_bytes()));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_request_body_is_invalid_argument() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let system = System::start(Database::Sqlite).await;
    let bodies: [&[u8]; 3] = [
        b"\x00\x00\x00\x00\x03\xff\xff\xff",     // an invalid varint
        b"\x00\x00\x00\x00\x04\x0a\x02\xc3\x28", // an id that is not UTF-8
        b"",                                     // no message at all
    ];
    for body in bodies {
        let stream = tokio::net::TcpStream::connect(system.gateway)
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::post("/sharer.v1.SecretService/RevealSecret")
            .header("host", system.gateway.to_string())
            .header("content-type", "application/grpc-web+proto")
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let header_status = response.headers().get("grpc-status").cloned();
        let trailer = response.into_body().collect().await.unwrap().to_bytes();
        let status = header_status
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| String::from_utf8_lossy(&trailer).to_string());
        assert!(
            status == "3" || status.contains("grpc-status:3"),
            "{body:?}: {status}"
        );
    }
    system.stop().await;
}
