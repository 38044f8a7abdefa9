//! The web page: static files from the built `web/dist`, `index.html` for any other path (so a
//! link like `/s#<id>` loads the page), with headers that keep secrets out of caches, referrers
//! and frames.

use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; script-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// The fallback service: the page from `web_dir`, except that gRPC requests to unknown methods
/// get UNIMPLEMENTED instead of a page.
pub fn page_service(
    web_dir: &Path,
) -> impl tower::Service<
    Request<Body>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let files = ServeDir::new(web_dir)
        .append_index_html_on_directories(true)
        .fallback(ServeFile::new(web_dir.join("index.html")));

    let headers = ServiceBuilder::new()
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::CACHE_CONTROL, "no-store"));

    headers
        .service(GrpcAware { files })
        .map_response(IntoResponse::into_response)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// Static files, except that a gRPC request (to a method nobody serves) gets a gRPC answer.
#[derive(Clone, Debug)]
struct GrpcAware {
    files: ServeDir<ServeFile>,
}

impl tower::Service<Request<Body>> for GrpcAware {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let is_grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        if is_grpc {
            let status = tonic::Status::unimplemented("no such method");
            return Box::pin(async move { Ok(status.into_http::<Body>().into_response()) });
        }

        let mut files = self.files.clone();
        Box::pin(async move {
            match tower::Service::call(&mut files, request).await {
                Ok(response) => Ok(response.map(Body::new)),
                Err(error) => {
                    tracing::warn!(%error, "serving a static file failed");
                    Ok(axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response())
                }
            }
        })
    }
}
