//! Requests whose body is not a valid message are the caller's fault: tonic answers them with
//! INTERNAL, and this layer turns that answer into INVALID_ARGUMENT before it leaves.

use axum::body::Body;
use axum::http::{HeaderValue, Response};

/// What tonic says, at the start of `grpc-message`, when it cannot read a request.
const DECODING_FAILURES: [&str; 4] = [
    "failed to decode",
    "Unexpected EOF",
    "Missing request message",
    "protocol error",
];
const INTERNAL: &str = "13";
const INVALID_ARGUMENT: &str = "3";

/// Rewrites a trailers-only INTERNAL answer about an unreadable request to INVALID_ARGUMENT.
pub fn reclassify(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers();
    let is_internal = headers
        .get("grpc-status")
        .is_some_and(|status| status == INTERNAL);
    let message = headers
        .get("grpc-message")
        .and_then(|message| message.to_str().ok())
        .map(|message| message.replace("%20", " "))
        .unwrap_or_default();
    if !is_internal
        || !DECODING_FAILURES
            .iter()
            .any(|prefix| message.starts_with(prefix))
    {
        return response;
    }

    let headers = response.headers_mut();
    headers.insert("grpc-status", HeaderValue::from_static(INVALID_ARGUMENT));
    headers.insert(
        "grpc-message",
        HeaderValue::from_static(
            "malformed%20request:%20the%20body%20is%20not%20a%20valid%20message",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str, message: &str) -> Response<Body> {
        Response::builder()
            .header("grpc-status", status)
            .header("grpc-message", message)
            .body(Body::empty())
            .expect("response")
    }

    #[test]
    fn decoding_failures_become_invalid_argument() {
        for message in [
            "failed%20to%20decode%20Protobuf%20message",
            "Missing%20request%20message.",
        ] {
            let response = reclassify(answer(INTERNAL, message));
            assert_eq!(response.headers()["grpc-status"], INVALID_ARGUMENT);
        }
    }

    #[test]
    fn other_answers_pass_untouched() {
        let internal = reclassify(answer(INTERNAL, "the%20service%20failed"));
        assert_eq!(internal.headers()["grpc-status"], INTERNAL);
        let not_found = reclassify(answer("5", "failed%20to%20decode"));
        assert_eq!(not_found.headers()["grpc-status"], "5");
    }
}
