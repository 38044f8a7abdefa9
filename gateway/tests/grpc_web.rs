//! The browser's path: grpc-web over HTTP/1.1 to the same port, plus the page, health and
//! reflection.

#![allow(clippy::unwrap_used)]

mod common;

use bytes_frame::{frame, unframe};
use common::{Database, System};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message;
use sharer_core::proto::public::{
    CreateSecretRequest, CreateSecretResponse, RevealSecretRequest, RevealSecretResponse,
};
use tokio::net::TcpStream;

/// A grpc-web answer: HTTP status, content type, message frames and the status lines.
struct GrpcWebReply {
    http_status: u16,
    content_type: String,
    messages: Vec<Vec<u8>>,
    trailers: String,
}

async fn grpc_web_call(system: &System, path: &str, message: Vec<u8>) -> GrpcWebReply {
    let stream = TcpStream::connect(system.gateway).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);

    let request = hyper::Request::post(path)
        .header("host", system.gateway.to_string())
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(Bytes::from(frame(0, &message))))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();

    let http_status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    // A reply with no message may carry its status in the headers ("trailers-only").
    let header_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let (messages, mut trailers) = unframe(&body);
    if let Some(status) = header_status {
        trailers.push_str(&format!("grpc-status:{status}\r\n"));
    }
    GrpcWebReply {
        http_status,
        content_type,
        messages,
        trailers,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_web_over_http1_creates_and_reveals_once() {
    let system = System::start(Database::Sqlite).await;
    let content = "pässwörd 🔑\r\n\t end".as_bytes().to_vec();
    let create = CreateSecretRequest {
        content: content.clone(),
        ttl: Some(prost_types::Duration {
            seconds: 3600,
            nanos: 0,
        }),
    };

    let reply = grpc_web_call(
        &system,
        "/sharer.v1.SecretService/CreateSecret",
        create.encode_to_vec(),
    )
    .await;
    assert_eq!(reply.http_status, 200);
    assert!(reply.content_type.starts_with("application/grpc-web"));
    assert!(
        reply.trailers.contains("grpc-status:0"),
        "{}",
        reply.trailers
    );
    let created = CreateSecretResponse::decode(reply.messages[0].as_slice()).unwrap();

    let reveal = RevealSecretRequest {
        id: created.id.clone(),
    }
    .encode_to_vec();
    let reply = grpc_web_call(
        &system,
        "/sharer.v1.SecretService/RevealSecret",
        reveal.clone(),
    )
    .await;
    assert!(
        reply.trailers.contains("grpc-status:0"),
        "{}",
        reply.trailers
    );
    let revealed = RevealSecretResponse::decode(reply.messages[0].as_slice()).unwrap();
    assert_eq!(revealed.content, content);

    let reply = grpc_web_call(&system, "/sharer.v1.SecretService/RevealSecret", reveal).await;
    assert!(reply.messages.is_empty());
    assert!(
        reply.trailers.contains("grpc-status:5"),
        "{}",
        reply.trailers
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_is_served_for_any_path_with_protective_headers() {
    let system = System::start(Database::Sqlite).await;

    for path in ["/", "/s", "/index.html"] {
        let stream = TcpStream::connect(system.gateway).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", system.gateway.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();

        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains("Secret Sharer"),
            "{path}"
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_reflection_answer_on_the_public_port() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let system = System::start(Database::Sqlite).await;
    let channel = tonic::transport::Channel::from_shared(system.gateway_url())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "sharer.v1.SecretService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply");
    };
    let names: Vec<&str> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert!(names.contains(&"sharer.v1.SecretService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let internal = |name: &&str| name.contains("crypto") || name.contains("storage");
    assert!(!names.iter().any(internal), "{names:?}");
    system.stop().await;
}

/// grpc-web framing: a flag byte, a big-endian length, then the bytes.
mod bytes_frame {
    pub fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut framed = vec![flag];
        framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(message);
        framed
    }

    /// Splits a body into message frames and the text of the trailer frame.
    pub fn unframe(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
        let (mut messages, mut trailers) = (Vec::new(), String::new());
        while body.len() >= 5 {
            let flag = body[0];
            let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
            let payload = &body[5..5 + len];
            if flag & 0x80 == 0 {
                messages.push(payload.to_vec());
            } else {
                trailers.push_str(&String::from_utf8_lossy(payload).replace(' ', ""));
            }
            body = &body[5 + len..];
        }
        (messages, trailers)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_client_cannot_hold_the_shutdown() {
    use tokio::io::AsyncWriteExt;

    let system = System::start(Database::Sqlite).await;
    let mut stalled = TcpStream::connect(system.gateway).await.unwrap();
    stalled
        .write_all(b"POST /sharer.v1.SecretService/CreateSecret HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(15), system.stop())
        .await
        .expect("the gateway stopped despite a client that never finishes its request");
    assert!(
        started.elapsed()
            <= sharer_gateway::server::DRAIN_TIMEOUT + std::time::Duration::from_secs(1)
    );
    drop(stalled);
}
