//! API Gateway's side of the search API: a Lambda HTTP event (HTTP API payload 2.0 or REST
//! payload 1.0, as `lambda_http` parses them) becomes the domain's gateway-neutral
//! [`ApiRequest`], with the verified identity taken from the authorizer context; the answer goes
//! back as a text body. The API itself (routes, visibility, problems) is
//! `tributary::discovery::api`.

use std::collections::{BTreeMap, HashMap};

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use tributary::discovery::api::{ApiRequest, ApiResponse};

/// The request as the API sees it.
pub fn api_request(req: Request) -> ApiRequest {
    let claims = claims(&req);
    let path = match req.raw_http_path() {
        "" => req.uri().path().to_string(),
        p => p.to_string(),
    };
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(q) = req.query_string_parameters_ref() {
        for (k, v) in q.iter() {
            query.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    ApiRequest {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
        claims,
    }
}

/// The answer as Lambda returns it.
pub fn lambda_response(resp: ApiResponse) -> Response<Body> {
    resp.map(Body::Text)
}

/// The caller's claims from the request context: HTTP API JWT authorizer
/// (`authorizer.jwt.claims`), or REST API Cognito authorizer (`authorizer.claims`).
pub fn claims(req: &Request) -> Option<HashMap<String, Value>> {
    // A Cognito (REST) or Lambda authorizer's `claims` object.
    let object = |fields: &HashMap<String, Value>| -> Option<HashMap<String, Value>> {
        Some(
            fields
                .get("claims")?
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    let map: HashMap<String, Value> = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => {
            let auth = ctx.authorizer.as_ref()?;
            match &auth.jwt {
                Some(jwt) => jwt
                    .claims
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
                None => object(&auth.fields)?,
            }
        }
        RequestContext::ApiGatewayV1(ctx) => object(&ctx.authorizer.fields)?,
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    (!map.is_empty()).then_some(map)
}
