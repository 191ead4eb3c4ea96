//! CORS for browser-based clients: the token, userinfo and revocation
//! endpoints, and an application's discovery and JWKS, let the origins of
//! registered redirect URIs read their answers (preflight included), and no
//! other origin.

use crate::helpers::*;

const SPA_ORIGIN: &str = "https://spa.example";
const STRANGER: &str = "https://evil.example";

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn shared_endpoints_answer_preflights_for_registered_origins_only() {
    let app = spawn_app().await;
    for path in ["/application/o/token/", "/application/o/userinfo/", "/application/o/revoke/"] {
        let ok = preflight(&app, path, SPA_ORIGIN).await;
        assert_eq!(ok.status(), 204, "{path}");
        assert_eq!(allowed_origin(&ok).as_deref(), Some(SPA_ORIGIN), "{path}");
        let methods = ok.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
        let headers = ok.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        assert!(methods.contains("POST") && headers.contains("authorization"), "{methods} / {headers}");

        let refused = preflight(&app, path, STRANGER).await;
        assert_eq!(allowed_origin(&refused), None, "{path} from a stranger");
        assert!(refused.headers().get("access-control-allow-methods").is_none());
    }
    // Introspection is for confidential servers, never for browsers.
    let introspect = preflight(&app, "/application/o/introspect/", SPA_ORIGIN).await;
    assert_eq!(allowed_origin(&introspect), None);
}

#[tokio::test]
async fn a_registered_origin_reads_token_answers_and_a_stranger_does_not() {
    let app = spawn_app().await;
    let form = [("grant_type", "client_credentials")];
    for (origin, expected) in [(SPA_ORIGIN, Some(SPA_ORIGIN)), ("https://web.example", Some("https://web.example"))] {
        let response = reqwest::Client::new()
            .post(app.url("/application/o/token/"))
            .basic_auth("web", Some(WEB_SECRET))
            .header("origin", origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(allowed_origin(&response).as_deref(), expected);
        assert!(response.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Origin")));
    }
    let response = reqwest::Client::new()
        .post(app.url("/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .header("origin", STRANGER)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "CORS only decides who may read; the request itself is unchanged");
    assert_eq!(allowed_origin(&response), None);
}

#[tokio::test]
async fn an_applications_documents_are_readable_from_its_own_origins_only() {
    let app = spawn_app().await;
    for doc in [".well-known/openid-configuration", "jwks/", "keys.pem"] {
        let get = |slug: &str, origin: &str| {
            app.client.get(app.url(&format!("/application/o/{slug}/{doc}"))).header("origin", origin).send()
        };
        let own = get("spa", SPA_ORIGIN).await.unwrap();
        assert_eq!(own.status(), 200, "{doc}");
        assert_eq!(allowed_origin(&own).as_deref(), Some(SPA_ORIGIN), "{doc}");
        let other_apps = get("web", SPA_ORIGIN).await.unwrap();
        assert_eq!(allowed_origin(&other_apps), None, "{doc} of web, from the spa's origin");
        assert_eq!(allowed_origin(&get("spa", STRANGER).await.unwrap()), None, "{doc} from a stranger");
    }
}
